/// What one sample tells, in words every OS shares: the backend's interpretation of its captures, and the only
/// thing analysis reads. Nothing here names a file, a path or an OS; a backend fills what its OS can show and
/// leaves the rest nil.
public struct SampleObservations: Sendable {
    /// Wall clock of the sample, Unix nanoseconds.
    public var wallNanos: Int64
    /// The device as a whole.
    public var system = SystemObservation()
    /// Every process the sample saw, in the order seen.
    public var processes: [ProcessObservation] = []
    /// Captured values the interpretation could not use (left out of the observations above).
    public var unusable: [UnusableValue] = []

    /// An empty observation at `wallNanos`.
    public init(wallNanos: Int64) { self.wallNanos = wallNanos }
}

/// A captured value that could not be used: not a number where one belongs, out of its type's range (a `kB` value
/// whose bytes overflow 64 bits, a thread count beyond the kernel's `int`), or a sum that overflows. The
/// observation leaves it out, and analysis reports it: one garbage value must cost that value, not the analysis.
public struct UnusableValue: Sendable, Hashable {
    /// The capture it was read from (`/proc/42/status`), or where else it came from.
    public var path: String
    /// Which value: a field's name as the file prints it (`VmRSS`), or `line` for a line that did not parse.
    public var field: String
    /// The text as captured, at most 60 bytes; or what was wrong, for values computed from others.
    public var text: String

    /// The most bytes of captured text kept.
    public static let textLimit = 60

    /// A value read from `path`.
    public init(path: String, field: String, text: String) {
        self.path = path
        self.field = field
        self.text = text
    }

    /// A value whose captured text is `bytes` (cut to `textLimit` bytes, control characters shown as `?`).
    public init<C: Collection>(path: String, field: String, bytes: C) where C.Element == UInt8 {
        var kept: [UInt8] = []
        for b in bytes.prefix(Self.textLimit) { kept.append(b < 0x20 || b == 0x7F ? 0x3F : b) }
        self.init(path: path, field: field, text: String(decoding: kept, as: UTF8.self))
    }

    /// The same value, read from `path`.
    public func at(_ path: String) -> UnusableValue { UnusableValue(path: path, field: field, text: text) }

    /// The lines a parser skipped in `path` (the parsers count them and keep the first), as one value; none when
    /// there were none.
    public static func skippedLines(_ count: Int, first: String?, in path: String) -> [UnusableValue] {
        guard count > 0, let line = first else { return [] }
        return [UnusableValue(path: path, field: "line", text: count > 1 ? line + " (and \(count - 1) more lines)" : line)]
    }
}

/// System-wide values of one sample.
public struct SystemObservation: Sendable {
    /// Memory the system can still give without swapping, bytes.
    public var memoryAvailable: UInt64?
    /// All memory, bytes.
    public var memoryTotal: UInt64?
    /// Kernel object caches (Linux slab caches) and their bytes, when read.
    public var kernelCaches: [KernelCache]?
    /// System-wide limits and their use (all tasks against the task ceiling, SylixOS object pools, ...).
    public var quotas: [QuotaReading] = []

    /// Nothing observed.
    public init() {}
}

/// A kernel object cache and its size.
public struct KernelCache: Sendable, Hashable {
    /// The cache's name.
    public var name: String
    /// Bytes in use.
    public var bytes: UInt64
    /// Whether the kernel gives the memory back under pressure (file system caches: dentries, inodes, buffers):
    /// such a cache grows with any busy file system and is a leak only over a long time.
    public var reclaimable: Bool

    /// Creates a value.
    public init(name: String, bytes: UInt64, reclaimable: Bool) {
        self.name = name
        self.bytes = bytes
        self.reclaimable = reclaimable
    }
}

/// A name and an amount (a cache and its bytes, a thread name and how many threads carry it).
public struct NamedAmount: Sendable, Hashable {
    /// The name.
    public var name: String
    /// The amount.
    public var amount: UInt64

    /// Creates a value.
    public init(_ name: String, _ amount: UInt64) {
        self.name = name
        self.amount = amount
    }
}

/// One process in one sample.
public struct ProcessObservation: Sendable {
    /// Process id.
    public var pid: Int32
    /// What tells a reused pid from the process that had it before (Linux: start time in ticks since boot);
    /// 0 when the OS shows nothing of the kind.
    public var startToken: UInt64 = 0
    /// Seconds since boot when the process started, when known (for its age).
    public var startSeconds: Double?
    /// Its name as a person knows it (the command name, or the program).
    public var name: String
    /// Live threads.
    public var threads: Int?
    /// Thread names and how many live threads carry each, when read.
    public var threadNames: [NamedAmount]?
    /// Virtual size, bytes.
    public var virtualBytes: UInt64?
    /// Resident size, bytes.
    public var residentBytes: UInt64?
    /// Open descriptors.
    public var descriptors: Int?
    /// The address space by class, when the OS showed it in this sample (Linux: when `maps` was read).
    public var addressSpace: AddressSpace?
    /// Heap bytes where the OS reports them without a layout (SylixOS `mem`).
    public var heapBytes: UInt64?
    /// Mapped private bytes where the OS reports them without a layout.
    public var mappedBytes: UInt64?
    /// Per-process limits and their use (descriptors, map count, the thread ceiling with each limit that
    /// bounds it).
    public var quotas: [QuotaReading] = []

    /// A process seen at `pid` named `name`.
    public init(pid: Int32, name: String) {
        self.pid = pid
        self.name = name
    }
}

/// A process's address space by class: how thread stacks, heap, other anonymous memory and shared memory use
/// it.
public struct AddressSpace: Sendable, Hashable {
    /// Regions that look like the stacks of threads other than the main one (live or exited).
    public var stackRegions: Int = 0
    /// Their total size.
    public var stackBytes: UInt64 = 0
    /// The usual size of one such stack, 0 when none.
    public var typicalStackSize: UInt64 = 0
    /// Stacks the C library says it keeps for reuse (not leaks).
    public var cachedStacks: Int = 0
    /// Bytes the C library may keep in stacks of finished threads for reuse, beyond any it labels (glibc: 40 MiB).
    public var stackCacheAllowance: UInt64 = 0
    /// Heap bytes (main heap plus allocator arenas).
    public var heapBytes: UInt64 = 0
    /// Other private anonymous bytes.
    public var anonymousBytes: UInt64 = 0
    /// Shared memory bytes (SysV, memfd, POSIX shm, shared anonymous, device mappings).
    public var sharedBytes: UInt64 = 0
    /// How many shared memory mappings.
    public var sharedMappings: Int = 0
    /// All mappings (what a map-count limit counts).
    public var mappings: Int = 0
    /// Total virtual size.
    public var virtualBytes: UInt64 = 0
    /// Mappings by class, for naming what fills a map-count limit: `thread stacks`, `heap`, `anonymous`,
    /// `shared memory`, `files`, ...
    public var mappingsByClass: [NamedAmount] = []

    /// An empty address space.
    public init() {}
}

/// One limit and its use, as the OS shows it at one instant: `{resource, scope, limit, used, peak, source}`.
///
/// A resource may have several limits (a Linux thread is bounded by `threads-max`, `pid_max`, the cgroup's
/// `pids.max`, `RLIMIT_NPROC`, the map count and the address space): one reading per limit, each with `used`
/// and `limit` in the resource's unit, so that analysis can tell which one runs out first.
public struct QuotaReading: Sendable, Hashable {
    /// What runs out, in analysis vocabulary: `thread`, `fd`, `map_count`, `task`, or an OS's own pool name.
    public var resource: String
    /// The limit, in units of the resource.
    public var limit: Double
    /// In use now.
    public var used: Double
    /// The highest use the OS itself remembers (e.g. SylixOS `max-used`, peak since boot), when it keeps one.
    public var peak: Double?
    /// Which limit this is, for a person: `RLIMIT_NOFILE`, `vm.max_map_count`, `kernel/objects total`, ...
    public var source: String
    /// True when this reading restates, in the resource's unit, a limit another reading of the same sample counts
    /// in its own unit with the same `source` (Linux: the threads the map count leaves room for, beside the map
    /// count itself); analysis then reports the limit once.
    public var derived: Bool

    /// Creates a reading.
    public init(resource: String, limit: Double, used: Double, peak: Double? = nil, source: String, derived: Bool = false) {
        self.resource = resource
        self.limit = limit
        self.used = used
        self.peak = peak
        self.source = source
        self.derived = derived
    }
}

/// A kernel event in analysis vocabulary (from the OS's log).
public struct ObservedEvent: Sendable, Hashable {
    /// What happened.
    public enum Kind: String, Sendable, Hashable {
        /// The kernel killed a process for lack of memory.
        case outOfMemoryKill
        /// The kernel chose a victim for lack of memory (old kernels print this before the kill).
        case outOfMemoryVictim
        /// A process died of a memory access fault.
        case segfault
    }

    /// What happened.
    public var kind: Kind
    /// The process.
    public var pid: Int32
    /// Its name.
    public var name: String
    /// Its anonymous resident bytes at the time, when said.
    public var anonymousResidentBytes: UInt64?
    /// Its virtual size at the time, when said.
    public var virtualBytes: UInt64?

    /// Creates an event.
    public init(kind: Kind, pid: Int32, name: String, anonymousResidentBytes: UInt64? = nil, virtualBytes: UInt64? = nil) {
        self.kind = kind
        self.pid = pid
        self.name = name
        self.anonymousResidentBytes = anonymousResidentBytes
        self.virtualBytes = virtualBytes
    }
}

/// A backend's host half for one device's stream of samples: from captures to observations. It may remember
/// what deep captures said (limits, layouts) for the samples that did not read them.
///
/// Class-bound, like `Backend`, so that `any SampleInterpreter` stays inside the Embedded Swift subset.
public protocol SampleInterpreter: AnyObject {
    /// What one sample's captures tell. Never fails: unreadable or odd captures give fewer observations.
    func interpret(wallNanos: Int64, files: [FileCapture]) -> SampleObservations

    /// The events in lines of the OS's kernel log.
    func events(inLogLines lines: [[UInt8]]) -> [ObservedEvent]

    /// Numbers in lines of the kernel log that could not be used (an event line whose pid or size is out of range).
    func unusableValues(inLogLines lines: [[UInt8]]) -> [UnusableValue]
}

extension SampleInterpreter {
    /// An OS without a kernel log, or whose events carry no numbers, has none.
    public func unusableValues(inLogLines lines: [[UInt8]]) -> [UnusableValue] { [] }
}

// Host builds keep analysis state (FieldAnalysis's incremental timelines) as JSON; Embedded Swift has no Codable.
#if !hasFeature(Embedded)
extension NamedAmount: Codable {}
extension AddressSpace: Codable {}
extension ObservedEvent: Codable {}
extension ObservedEvent.Kind: Codable {}
#endif
