/// The parsed `/proc/meminfo`: every field by name, in bytes (`HugePages_*` are counts).
public struct MemInfo: Sendable, Hashable {
    /// All fields in file order.
    public var values: NamedValues

    /// Creates a value.
    public init(values: NamedValues = NamedValues()) { self.values = values }

    /// Lines that did not parse.
    public var skippedLines: Int { values.skippedLines }
    /// The value of a field by name (bytes, or a count for unitless fields).
    public subscript(name: String) -> UInt64? { values[name] }

    /// `MemTotal`.
    public var memTotal: UInt64? { values["MemTotal"] }
    /// `MemFree`.
    public var memFree: UInt64? { values["MemFree"] }
    /// `MemAvailable` (3.14+): the kernel's estimate of memory available without swapping.
    public var memAvailable: UInt64? { values["MemAvailable"] }
    /// `Buffers`.
    public var buffers: UInt64? { values["Buffers"] }
    /// `Cached`.
    public var cached: UInt64? { values["Cached"] }
    /// `SwapTotal`.
    public var swapTotal: UInt64? { values["SwapTotal"] }
    /// `SwapFree`.
    public var swapFree: UInt64? { values["SwapFree"] }
    /// `AnonPages`.
    public var anonPages: UInt64? { values["AnonPages"] }
    /// `Shmem`: tmpfs, SysV and POSIX shared memory, shared anonymous memory.
    public var shmem: UInt64? { values["Shmem"] }
    /// `Slab`.
    public var slab: UInt64? { values["Slab"] }
    /// `SReclaimable`.
    public var slabReclaimable: UInt64? { values["SReclaimable"] }
    /// `SUnreclaim`.
    public var slabUnreclaimable: UInt64? { values["SUnreclaim"] }
    /// `KernelStack`: grows only with live tasks, unlike the user stacks of unjoined threads.
    public var kernelStack: UInt64? { values["KernelStack"] }
    /// `PageTables`.
    public var pageTables: UInt64? { values["PageTables"] }
    /// `CommitLimit`.
    public var commitLimit: UInt64? { values["CommitLimit"] }
    /// `Committed_AS`.
    public var committedAS: UInt64? { values["Committed_AS"] }
    /// `VmallocUsed`.
    public var vmallocUsed: UInt64? { values["VmallocUsed"] }

    /// MemAvailable, or on kernels before 3.14 the rough stand-in MemFree + Buffers + Cached (nil when that sum
    /// overflows 64 bits: the numbers are not a kernel's).
    public var availableEstimate: UInt64? {
        if let a = memAvailable { return a }
        guard let f = memFree else { return nil }
        let (a, o1) = f.addingReportingOverflow(buffers ?? 0)
        let (b, o2) = a.addingReportingOverflow(cached ?? 0)
        return o1 || o2 ? nil : b
    }
}

/// Parser for `/proc/meminfo` (fs/proc/meminfo.c: `Name:  %8lu kB`, `HugePages_*` without a unit).
public enum MeminfoParser {
    /// Parses the whole file.
    public static func parse(_ bytes: [UInt8]) -> MemInfo {
        bytes.withUnsafeBufferPointer { MemInfo(values: NamedValues.parseColonTable($0)) }
    }
}
