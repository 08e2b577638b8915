/// One `Key:\tvalue` line of `/proc/<pid>/status`, kept as text.
public struct StatusField: Sendable, Hashable {
    /// The key, without the colon (e.g. `VmRSS`).
    public var name: String
    /// The value as printed, without surrounding blanks (e.g. `6716 kB`).
    public var value: String

    /// Creates a field.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Queued signals of the process's real user against `RLIMIT_SIGPENDING` (`SigQ: used/limit`).
public struct SignalQueue: Sendable, Hashable {
    /// Signals queued now.
    public var used: UInt64
    /// The limit.
    public var limit: UInt64

    /// Creates a value.
    public init(used: UInt64, limit: UInt64) {
        self.used = used
        self.limit = limit
    }
}

/// The parsed `/proc/<pid>/status`: every field in order, plus typed values of the fields analysis uses.
///
/// Fields come and go by kernel version (`RssAnon`/`RssFile`/`RssShmem` 4.5+, `VmSwap` 2.6.34+, `VmPMD` 4.0-4.14),
/// so each typed value is nil when the kernel did not print it. Memory values are in bytes.
public struct ProcessStatus: Sendable, Hashable {
    /// All fields in file order.
    public var fields: [StatusField] = []
    /// Lines without a `Key:` shape.
    public var skippedLines = 0

    /// `Name`: the command name (comm, up to 15 bytes; status escapes `\n` and `\\`).
    public var name: String?
    /// `State`: the state letter (`R`, `S`, `D`, `Z`, `T`, `t`, `X`, `I`, ...).
    public var state: String?
    /// `Tgid`: the process (thread group) id.
    public var tgid: Int32?
    /// `Pid`: the id of the task this file describes (equals `tgid` for a process, the tid under `task/`).
    public var pid: Int32?
    /// `PPid`: the parent's process id.
    public var ppid: Int32?
    /// `Uid`: the real user id (first of real, effective, saved, filesystem).
    public var uid: UInt32?
    /// `Threads`: live threads of the process.
    public var threads: Int?
    /// `VmPeak`: peak virtual size, bytes.
    public var vmPeak: UInt64?
    /// `VmSize`: virtual size, bytes.
    public var vmSize: UInt64?
    /// `VmLck`: locked memory, bytes.
    public var vmLck: UInt64?
    /// `VmHWM`: peak resident size, bytes.
    public var vmHWM: UInt64?
    /// `VmRSS`: resident size, bytes.
    public var vmRSS: UInt64?
    /// `RssAnon`: resident anonymous memory, bytes (4.5+).
    public var rssAnon: UInt64?
    /// `RssFile`: resident file mappings, bytes (4.5+).
    public var rssFile: UInt64?
    /// `RssShmem`: resident shared memory, bytes (4.5+).
    public var rssShmem: UInt64?
    /// `VmData`: private data size including thread stacks (4.5+ counts stacks here, not in `VmStk`), bytes.
    public var vmData: UInt64?
    /// `VmStk`: main stack size, bytes.
    public var vmStk: UInt64?
    /// `VmExe`: text size, bytes.
    public var vmExe: UInt64?
    /// `VmLib`: shared library code size, bytes.
    public var vmLib: UInt64?
    /// `VmPTE`: page table size, bytes.
    public var vmPTE: UInt64?
    /// `VmSwap`: swapped-out anonymous memory, bytes (2.6.34+).
    public var vmSwap: UInt64?
    /// `FDSize`: allocated descriptor table slots (not open descriptors).
    public var fdSize: Int?
    /// `SigQ`: queued signals against their limit.
    public var signalQueue: SignalQueue?

    /// Creates an empty status.
    public init() {}

    /// The text value of a field by name, or nil when absent.
    public func value(named key: String) -> String? {
        fields.first { $0.name == key }?.value
    }
}

/// Parser for `/proc/<pid>/status` (fs/proc/array.c `proc_pid_status`, `task_mem` in fs/proc/task_mmu.c).
public enum StatusParser {
    /// Parses a whole status file; never fails, missing fields stay nil.
    public static func parse(_ bytes: [UInt8]) -> ProcessStatus {
        bytes.withUnsafeBufferPointer { buf in
            var s = ProcessStatus()
            ProcText.forEachLine(buf) { line in
                let r = ProcText.trimmed(buf, line)
                if r.isEmpty { return }
                guard let c = ProcText.firstIndex(of: ProcText.colon, in: buf, r) else {
                    s.skippedLines += 1
                    return
                }
                let keyRange = ProcText.trimmed(buf, r.lowerBound..<c)
                guard !keyRange.isEmpty else {
                    s.skippedLines += 1
                    return
                }
                let key = ProcText.string(buf, keyRange)
                var valueRange = ProcText.trimmed(buf, (c + 1)..<r.upperBound)
                // The kernel writes "Name:\t" then the comm verbatim, which may begin or end with spaces.
                if key == "Name" && c + 1 < line.upperBound && buf[c + 1] == ProcText.tab {
                    valueRange = (c + 2)..<line.upperBound
                }
                s.fields.append(StatusField(name: key, value: ProcText.string(buf, valueRange)))
                apply(key, buf, valueRange, to: &s)
            }
            return s
        }
    }

    static func apply(_ key: String, _ buf: UnsafeBufferPointer<UInt8>, _ v: Range<Int>, to s: inout ProcessStatus) {
        func bytes() -> UInt64? {
            // Memory fields are printed as "%8lu kB"; a bare number is read as kB too.
            guard let q = ProcText.quantity(buf, v) else { return nil }
            return q.unit == .bytes ? q.value : ProcText.kibibytes(q.value)
        }
        func firstNumber() -> UInt64? { ProcText.tokens(buf, v).first.flatMap { ProcText.decimal(buf, $0) } }
        func id() -> Int32? { firstNumber().flatMap { $0 <= UInt64(Int32.max) ? Int32($0) : nil } }
        func count() -> Int? { firstNumber().flatMap { $0 <= UInt64(Int.max) ? Int($0) : nil } }

        switch key {
        case "Name": s.name = ProcText.string(buf, v)
        case "State": s.state = ProcText.tokens(buf, v).first.map { ProcText.string(buf, $0) }
        case "Tgid": s.tgid = id()
        case "Pid": s.pid = id()
        case "PPid": s.ppid = id()
        case "Uid": s.uid = firstNumber().flatMap { $0 <= UInt64(UInt32.max) ? UInt32($0) : nil }
        case "Threads": s.threads = count()
        case "VmPeak": s.vmPeak = bytes()
        case "VmSize": s.vmSize = bytes()
        case "VmLck": s.vmLck = bytes()
        case "VmHWM": s.vmHWM = bytes()
        case "VmRSS": s.vmRSS = bytes()
        case "RssAnon": s.rssAnon = bytes()
        case "RssFile": s.rssFile = bytes()
        case "RssShmem": s.rssShmem = bytes()
        case "VmData": s.vmData = bytes()
        case "VmStk": s.vmStk = bytes()
        case "VmExe": s.vmExe = bytes()
        case "VmLib": s.vmLib = bytes()
        case "VmPTE": s.vmPTE = bytes()
        case "VmSwap": s.vmSwap = bytes()
        case "FDSize": s.fdSize = count()
        case "SigQ":
            guard let slash = ProcText.firstIndex(of: UInt8(ascii: "/"), in: buf, v),
                let used = ProcText.decimal(buf, ProcText.trimmed(buf, v.lowerBound..<slash)),
                let limit = ProcText.decimal(buf, ProcText.trimmed(buf, (slash + 1)..<v.upperBound))
            else { return }
            s.signalQueue = SignalQueue(used: used, limit: limit)
        default: break
        }
    }
}
