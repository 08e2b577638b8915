/// Whether an entry belongs to the system or to each process (or thread).
public enum CaptureScope: String, Sendable, Hashable, CaseIterable {
    /// Read once per sample.
    case system
    /// Read for every selected process; the path contains `[pid]`.
    case process
    /// Read for every thread of a selected process; the path contains `[pid]` and `[tid]`.
    case thread
}

/// How often an entry is read.
public enum CaptureTier: String, Sendable, Hashable, CaseIterable {
    /// Every interval: small files whose change is the signal.
    case cheap
    /// Only when a cheap signal changed or every `every` intervals: files that cost the target real time
    /// (`maps` takes the mmap lock).
    case deep
}

/// One line of a backend's capture plan, recorded in every bundle header so the host knows what was asked for.
public struct CapturePlanEntry: Sendable, Hashable {
    /// Path pattern under the proc root, e.g. `/proc/[pid]/status`.
    public var path: String
    /// System, process or thread.
    public var scope: CaptureScope
    /// Cheap or deep.
    public var tier: CaptureTier
    /// For deep entries, the longest gap between reads, in intervals (1 = every interval).
    public var every: UInt32
    /// What the entry is: `file`, `dir` (list names) or `link`.
    public var kind: EntryKind

    /// Creates a plan entry.
    public init(path: String, scope: CaptureScope, tier: CaptureTier = .cheap, every: UInt32 = 1, kind: EntryKind = .file) {
        self.path = path
        self.scope = scope
        self.tier = tier
        self.every = every
        self.kind = kind
    }
}
