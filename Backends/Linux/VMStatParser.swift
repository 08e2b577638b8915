/// The parsed `/proc/vmstat`: event and page counters by name.
public struct VMStat: Sendable, Hashable {
    /// All counters in file order (values are counts: pages or events).
    public var values: NamedValues

    /// Creates a value.
    public init(values: NamedValues = NamedValues()) { self.values = values }

    /// Lines that did not parse.
    public var skippedLines: Int { values.skippedLines }
    /// A counter by name.
    public subscript(name: String) -> UInt64? { values[name] }

    /// `oom_kill` (4.13+): OOM kills since boot.
    public var oomKills: UInt64? { values["oom_kill"] }
    /// `pgmajfault`: major page faults since boot.
    public var majorFaults: UInt64? { values["pgmajfault"] }
    /// `pswpin`: pages swapped in since boot.
    public var pagesSwappedIn: UInt64? { values["pswpin"] }
    /// `pswpout`: pages swapped out since boot.
    public var pagesSwappedOut: UInt64? { values["pswpout"] }
}

/// Parser for `/proc/vmstat` (mm/vmstat.c: `name value` per line).
public enum VMStatParser {
    /// Parses the whole file.
    public static func parse(_ bytes: [UInt8]) -> VMStat {
        bytes.withUnsafeBufferPointer { VMStat(values: NamedValues.parseSpaceTable($0)) }
    }
}
