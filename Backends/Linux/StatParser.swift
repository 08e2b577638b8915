import FieldModel

/// The fields of `/proc/<pid>/stat` (or `task/<tid>/stat`) that analysis uses.
///
/// Field numbers follow proc(5): 1 pid, 2 comm, 3 state, 4 ppid, 10 minflt, 12 majflt, 14 utime, 15 stime,
/// 20 num_threads, 22 starttime, 23 vsize, 24 rss. Fields past the end of a short (old kernel) line are nil.
public struct ProcessStat: Sendable, Hashable {
    /// Field 1: process (or thread) id.
    public var pid: Int32
    /// Field 2: the command name, without the parentheses (may contain spaces and `)`).
    public var comm: String
    /// Field 3: the state letter.
    public var state: String?
    /// Field 4: parent process id.
    public var ppid: Int32?
    /// Field 10: minor faults.
    public var minorFaults: UInt64?
    /// Field 12: major faults.
    public var majorFaults: UInt64?
    /// Field 14: user time, clock ticks (`sysconf(_SC_CLK_TCK)`, usually 100 per second).
    public var userTicks: UInt64?
    /// Field 15: system time, clock ticks.
    public var systemTicks: UInt64?
    /// Field 20: threads in the process.
    public var threads: Int64?
    /// Field 22: start time after boot, clock ticks.
    public var startTicks: UInt64?
    /// Field 23: virtual size, bytes.
    public var virtualBytes: UInt64?
    /// Field 24: resident set, pages (multiply by the page size; can read negative transiently on old kernels).
    public var residentPages: Int64?
    /// Every field after the comm, as text, field 3 first (for fields without a typed accessor).
    public var rest: [String]

    /// Creates a value.
    public init(pid: Int32, comm: String, rest: [String] = []) {
        self.pid = pid
        self.comm = comm
        self.rest = rest
    }

    /// The text of field `number` (1-based, as in proc(5)), or nil when the line is shorter.
    public func field(_ number: Int) -> String? {
        switch number {
        case 1: return String(pid)
        case 2: return comm
        case 3...: return number - 3 < rest.count ? rest[number - 3] : nil
        default: return nil
        }
    }
}

/// Parser for `/proc/<pid>/stat` (fs/proc/array.c `do_task_stat`).
public enum StatParser {
    /// Parses the stat line; nil when there is no `pid (comm)` head to anchor on.
    ///
    /// The kernel prints comm unescaped between parentheses, so comm may contain spaces, `(`, `)` and even a
    /// newline: the head is split at the first `(` and the *last* `)` of the file.
    public static func parse(_ bytes: [UInt8]) -> ProcessStat? {
        bytes.withUnsafeBufferPointer { buf -> ProcessStat? in
            guard let (pidValue, open, close, lineEnd) = head(buf) else { return nil }
            let fields = ProcText.tokens(buf, (close + 1)..<lineEnd)
            var s = ProcessStat(
                pid: pidValue, comm: ProcText.string(buf, (open + 1)..<close),
                rest: fields.map { ProcText.string(buf, $0) })

            func range(_ n: Int) -> Range<Int>? { n - 3 < fields.count ? fields[n - 3] : nil }
            func unsigned(_ n: Int) -> UInt64? { range(n).flatMap { ProcText.decimal(buf, $0) } }
            func signed(_ n: Int) -> Int64? { range(n).flatMap { ProcText.signedDecimal(buf, $0) } }

            s.state = range(3).map { ProcText.string(buf, $0) }
            s.ppid = signed(4).flatMap { $0 >= 0 && $0 <= Int64(Int32.max) ? Int32($0) : nil }
            s.minorFaults = unsigned(10)
            s.majorFaults = unsigned(12)
            s.userTicks = unsigned(14)
            s.systemTicks = unsigned(15)
            s.threads = signed(20)
            s.startTicks = unsigned(22)
            s.virtualBytes = unsigned(23)
            s.residentPages = signed(24)
            return s
        }
    }
}

/// The few fields of a stat line that analysis reads for every process in every sample.
public struct StatEssentials: Sendable, Hashable {
    /// Field 2, as `ProcessStat.comm`.
    public var comm: String
    /// Field 20.
    public var threads: Int64?
    /// Field 22.
    public var startTicks: UInt64?
    /// Field 23.
    public var virtualBytes: UInt64?
    /// Fields 20, 22 and 23 when present but not numbers of their type (their values above are then nil).
    public var unusable: [UnusableValue] = []
}

extension StatParser {
    /// The `pid (comm)` head: the pid, the first `(`, the last `)`, and the end of the line after it.
    static func head(_ buf: UnsafeBufferPointer<UInt8>) -> (pid: Int32, open: Int, close: Int, lineEnd: Int)? {
        let all = 0..<buf.count
        guard let open = ProcText.firstIndex(of: UInt8(ascii: "("), in: buf, all),
            let close = ProcText.lastIndex(of: UInt8(ascii: ")"), in: buf, all), close > open,
            let pid = ProcText.decimal(buf, ProcText.trimmed(buf, 0..<open)), pid <= UInt64(Int32.max)
        else { return nil }
        var end = close + 1
        while end < buf.count && buf[end] != ProcText.newline { end += 1 }
        return (Int32(pid), open, close, end)
    }

    /// Fields 2, 20, 22 and 23 exactly as `parse` reads them, without building the rest of the line (one string,
    /// no array): analysis reads one per process per sample.
    public static func essentials(_ bytes: [UInt8]) -> StatEssentials? {
        bytes.withUnsafeBufferPointer { buf -> StatEssentials? in
            guard let (_, open, close, end) = head(buf) else { return nil }
            var s = StatEssentials(comm: ProcText.string(buf, (open + 1)..<close))
            var i = close + 1
            var field = 2
            while i < end && field < 23 {
                while i < end && ProcText.isPadding(buf[i]) { i += 1 }
                if i == end { break }
                let start = i
                while i < end && !ProcText.isPadding(buf[i]) { i += 1 }
                field += 1
                func check<T>(_ v: T?, _ name: String) -> T? {
                    if v == nil { s.unusable.append(UnusableValue(path: "", field: name, text: ProcText.excerpt(buf, start..<i))) }
                    return v
                }
                switch field {
                case 20: s.threads = check(ProcText.signedDecimal(buf, start..<i), "num_threads (field 20)")
                case 22: s.startTicks = check(ProcText.decimal(buf, start..<i), "starttime (field 22)")
                case 23: s.virtualBytes = check(ProcText.decimal(buf, start..<i), "vsize (field 23)")
                default: break
                }
            }
            return s
        }
    }
}
