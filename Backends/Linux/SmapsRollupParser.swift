/// The parsed `/proc/<pid>/smaps_rollup` (4.14+): the smaps fields summed over all mappings, in bytes.
public struct SmapsRollup: Sendable, Hashable {
    /// Every `Name: N kB` field in file order, values in bytes.
    public var values: NamedValues
    /// Start of the address range in the `[rollup]` header line, when present.
    public var start: UInt64?
    /// End of the address range in the header line, when present.
    public var end: UInt64?

    /// Creates a value.
    public init(values: NamedValues = NamedValues(), start: UInt64? = nil, end: UInt64? = nil) {
        self.values = values
        self.start = start
        self.end = end
    }

    /// Lines that did not parse (the header is not counted).
    public var skippedLines: Int { values.skippedLines }

    /// `Rss`: resident bytes.
    public var rss: UInt64? { values["Rss"] }
    /// `Pss`: proportional set size (shared pages divided among their users).
    public var pss: UInt64? { values["Pss"] }
    /// `Pss_Anon` (5.8+).
    public var pssAnon: UInt64? { values["Pss_Anon"] }
    /// `Pss_File` (5.8+).
    public var pssFile: UInt64? { values["Pss_File"] }
    /// `Pss_Shmem` (5.8+).
    public var pssShmem: UInt64? { values["Pss_Shmem"] }
    /// `Pss_Dirty` (6.0+).
    public var pssDirty: UInt64? { values["Pss_Dirty"] }
    /// `Shared_Clean`.
    public var sharedClean: UInt64? { values["Shared_Clean"] }
    /// `Shared_Dirty`.
    public var sharedDirty: UInt64? { values["Shared_Dirty"] }
    /// `Private_Clean`.
    public var privateClean: UInt64? { values["Private_Clean"] }
    /// `Private_Dirty`.
    public var privateDirty: UInt64? { values["Private_Dirty"] }
    /// `Referenced`.
    public var referenced: UInt64? { values["Referenced"] }
    /// `Anonymous`: resident anonymous bytes.
    public var anonymous: UInt64? { values["Anonymous"] }
    /// `LazyFree`: `MADV_FREE`d bytes not yet reclaimed.
    public var lazyFree: UInt64? { values["LazyFree"] }
    /// `AnonHugePages`.
    public var anonHugePages: UInt64? { values["AnonHugePages"] }
    /// `Swap`: swapped-out bytes.
    public var swap: UInt64? { values["Swap"] }
    /// `SwapPss`.
    public var swapPss: UInt64? { values["SwapPss"] }
    /// `Locked`.
    public var locked: UInt64? { values["Locked"] }
}

/// Parser for `/proc/<pid>/smaps_rollup` (fs/proc/task_mmu.c `show_smaps_rollup`).
public enum SmapsRollupParser {
    /// Parses a whole smaps_rollup file. The first line is a maps-style header ending in `[rollup]`; the rest are
    /// `Name: N kB` lines read by name.
    public static func parse(_ bytes: [UInt8]) -> SmapsRollup {
        bytes.withUnsafeBufferPointer { buf in
            var cache = MapsParser.NameCache()
            var start: UInt64?
            var end: UInt64?
            let values = NamedValues.parseColonTable(buf) { buf, r in
                // A "Name:" line never parses as a maps line: its first field is not hex.
                guard let header = MapsParser.parseLine(buf, r, &cache) else { return false }
                start = header.start
                end = header.end
                return true
            }
            return SmapsRollup(values: values, start: start, end: end)
        }
    }
}
