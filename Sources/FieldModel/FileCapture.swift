/// How a read of one procfs entry ended.
///
/// The agent records every outcome instead of failing: a vanished process or a root-only file is normal data.
public enum ReadStatus: String, Sendable, Hashable, CaseIterable {
    /// The bytes were read to end of file.
    case ok
    /// The entry does not exist (`ENOENT`, or `ESRCH` for a process that exited mid-read).
    case missing
    /// The agent may not read it (`EACCES`, `EPERM`), e.g. `slabinfo` without root.
    case denied
    /// The node stayed busy after retries (`EBUSY`: SylixOS procfs allows one opener at a time).
    case busy
    /// Any other failure; the errno is recorded beside it.
    case error
}

/// What kind of filesystem entry a capture holds.
public enum EntryKind: String, Sendable, Hashable, CaseIterable {
    /// A regular (proc) file: the bytes are its content.
    case file
    /// A directory: the bytes are its entry names, one per line, in the order the OS listed them.
    case directory = "dir"
    /// A symbolic link: the bytes are the link target.
    case link
}

/// The raw bytes of one entry as read during a sample, with how the read went.
///
/// Capture raw, decide on the host: nothing here is parsed.
public struct FileCapture: Sendable, Hashable {
    /// Path as read on the device, e.g. `/proc/1234/status`.
    public var path: String
    /// File, directory listing or link target.
    public var kind: EntryKind
    /// Outcome of the read.
    public var status: ReadStatus
    /// The errno behind a non-`ok` status, when there was one.
    public var errno: Int32?
    /// Time spent opening and reading the entry, in nanoseconds (bundles keep it to the microsecond).
    public var readNanos: UInt64
    /// True when the content was cut at the agent's per-file size limit.
    public var truncated: Bool
    /// The content (empty unless `status == .ok`).
    public var bytes: [UInt8]

    /// Creates a capture.
    public init(
        path: String, kind: EntryKind = .file, status: ReadStatus = .ok, errno: Int32? = nil,
        readNanos: UInt64 = 0, truncated: Bool = false, bytes: [UInt8] = []
    ) {
        self.path = path
        self.kind = kind
        self.status = status
        self.errno = errno
        self.readNanos = readNanos
        self.truncated = truncated
        self.bytes = bytes
    }
}

/// Everything captured at one sampling instant.
public struct Sample: Sendable, Hashable {
    /// Sample number within the agent run, starting at 0.
    public var sequence: UInt64
    /// Wall clock (Unix time) at the start of the sample, in nanoseconds.
    public var wallNanos: Int64
    /// `CLOCK_MONOTONIC` at the start of the sample, in nanoseconds; immune to wall-clock steps.
    public var monoNanos: UInt64
    /// The entries read, in reading order.
    public var files: [FileCapture]
    /// Which share of its instant this is, when the instant was too large for one record; nil for a whole one.
    public var part: SamplePart?

    /// Creates a sample.
    public init(sequence: UInt64, wallNanos: Int64, monoNanos: UInt64, files: [FileCapture], part: SamplePart? = nil) {
        self.sequence = sequence
        self.wallNanos = wallNanos
        self.monoNanos = monoNanos
        self.files = files
        self.part = part
    }
}

/// One record's share of a sampling instant that did not fit in one record (thousands of processes, huge maps):
/// the instant's entries in reading order, split over consecutive sample records with the same sequence and
/// clocks (bundle format 1.2).
public struct SamplePart: Sendable, Hashable {
    /// Position of this share, from 0.
    public var index: UInt32
    /// Whether another share of the same instant follows.
    public var more: Bool

    /// Creates a part.
    public init(index: UInt32, more: Bool) {
        self.index = index
        self.more = more
    }
}

/// A batch of kernel log lines read since the previous batch.
public struct EventBatch: Sendable, Hashable {
    /// Wall clock when the batch was read, in nanoseconds.
    public var wallNanos: Int64
    /// `CLOCK_MONOTONIC` when the batch was read, in nanoseconds.
    public var monoNanos: UInt64
    /// Where the lines came from, e.g. `/dev/kmsg`.
    public var source: String
    /// The raw lines, without their trailing newline.
    public var lines: [[UInt8]]

    /// Creates a batch.
    public init(wallNanos: Int64, monoNanos: UInt64, source: String, lines: [[UInt8]]) {
        self.wallNanos = wallNanos
        self.monoNanos = monoNanos
        self.source = source
        self.lines = lines
    }
}
