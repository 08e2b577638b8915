/// One row of `/proc/<pid>/limits`.
public struct ResourceLimit: Sendable, Hashable {
    /// The row's name as printed, e.g. `Max open files`.
    public var name: String
    /// Soft limit; nil means `unlimited`.
    public var soft: UInt64?
    /// Hard limit; nil means `unlimited`.
    public var hard: UInt64?
    /// Unit as printed (`bytes`, `files`, `processes`, `seconds`, `us`, ...); nil for unitless rows (priorities).
    public var unit: String?

    /// Creates a row.
    public init(name: String, soft: UInt64?, hard: UInt64?, unit: String?) {
        self.name = name
        self.soft = soft
        self.hard = hard
        self.unit = unit
    }
}

/// The parsed `/proc/<pid>/limits`.
public struct ProcessLimits: Sendable, Hashable {
    /// The rows in file order.
    public var limits: [ResourceLimit] = []
    /// Lines that did not parse (the header is not counted).
    public var skippedLines = 0
    /// The first of them, as printed (cut to `UnusableValue.textLimit` bytes).
    public var firstSkippedLine: String?

    /// Creates a value.
    public init(limits: [ResourceLimit] = [], skippedLines: Int = 0) {
        self.limits = limits
        self.skippedLines = skippedLines
    }

    /// The row with this name, or nil.
    public func limit(named name: String) -> ResourceLimit? { limits.first { $0.name == name } }

    /// `Max open files` (`RLIMIT_NOFILE`): the fd-leak ceiling.
    public var openFiles: ResourceLimit? { limit(named: "Max open files") }
    /// `Max processes` (`RLIMIT_NPROC`): counts the real user's threads, a thread ceiling.
    public var processes: ResourceLimit? { limit(named: "Max processes") }
    /// `Max stack size` (`RLIMIT_STACK`): glibc's default thread stack size.
    public var stackSize: ResourceLimit? { limit(named: "Max stack size") }
    /// `Max address space` (`RLIMIT_AS`).
    public var addressSpace: ResourceLimit? { limit(named: "Max address space") }
    /// `Max data size` (`RLIMIT_DATA`).
    public var dataSize: ResourceLimit? { limit(named: "Max data size") }
    /// `Max locked memory` (`RLIMIT_MEMLOCK`).
    public var lockedMemory: ResourceLimit? { limit(named: "Max locked memory") }
    /// `Max pending signals` (`RLIMIT_SIGPENDING`).
    public var pendingSignals: ResourceLimit? { limit(named: "Max pending signals") }

    mutating func skip(_ buf: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) {
        skippedLines += 1
        if firstSkippedLine == nil { firstSkippedLine = ProcText.excerpt(buf, line) }
    }
}

/// Parser for `/proc/<pid>/limits` (fs/proc/base.c `proc_pid_limits`).
///
/// The kernel prints `%-25s %-20s %-20s %-10s` (name, soft, hard, unit; unit omitted for unitless rows). Names
/// contain spaces but never digits, and the values never contain spaces, so each row is read from the right:
/// an optional alphabetic unit, then hard, then soft, and the rest is the name. This does not depend on the column
/// widths, which some vendor kernels change.
public enum LimitsParser {
    /// Parses a whole limits file.
    public static func parse(_ bytes: [UInt8]) -> ProcessLimits {
        bytes.withUnsafeBufferPointer { buf in
            var result = ProcessLimits()
            ProcText.forEachLine(buf) { line in
                let r = ProcText.trimmed(buf, line)
                if r.isEmpty { return }
                if ProcText.hasPrefix(buf, r, "Limit") && ProcText.firstRange(of: "Soft Limit", in: buf, r) != nil {
                    return
                }
                var t = ProcText.tokens(buf, r)
                var unit: String?
                if let last = t.last, t.count >= 4, !isValue(buf, last) {
                    unit = ProcText.string(buf, last)
                    t.removeLast()
                }
                guard t.count >= 3 else {
                    result.skip(buf, r)
                    return
                }
                let hardRange = t.removeLast()
                let softRange = t.removeLast()
                guard isValue(buf, softRange), isValue(buf, hardRange) else {
                    result.skip(buf, r)
                    return
                }
                let nameRange = t[0].lowerBound..<t[t.count - 1].upperBound
                result.limits.append(
                    ResourceLimit(
                        name: ProcText.string(buf, nameRange), soft: ProcText.decimal(buf, softRange),
                        hard: ProcText.decimal(buf, hardRange), unit: unit))
            }
            return result
        }
    }

    /// A number or `unlimited` (the kernel prints `RLIM_INFINITY` as that word).
    static func isValue(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Bool {
        ProcText.equals(buf, r, "unlimited") || ProcText.decimal(buf, r) != nil
    }
}
