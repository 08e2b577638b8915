/// Which OOM killer acted.
public enum OOMScope: String, Sendable, Hashable, CaseIterable {
    /// The global OOM killer (`Out of memory: ...`).
    case system
    /// A memory cgroup hit its limit (`Memory cgroup out of memory: ...`).
    case memoryCgroup
    /// The line does not say (the bare `Killed process ...` line of kernels before 5.1).
    case unknown
}

/// `Kill process PID (comm) score N or sacrifice child`: the victim the OOM killer chose (kernels before 5.1
/// print this before the `Killed process` line).
public struct OOMVictimSelection: Sendable, Hashable {
    /// The chosen process.
    public var pid: Int32
    /// Its command name.
    public var comm: String
    /// Its badness score (`oom_score`), when printed.
    public var score: Int64?
    /// Global or cgroup OOM.
    public var scope: OOMScope

    /// Creates a value.
    public init(pid: Int32, comm: String, score: Int64?, scope: OOMScope) {
        self.pid = pid
        self.comm = comm
        self.score = score
        self.scope = scope
    }
}

/// `Killed process PID (comm) total-vm:NkB, anon-rss:NkB, ...`: the OOM killer's kill. Sizes in bytes.
public struct OOMKill: Sendable, Hashable {
    /// The killed process.
    public var pid: Int32
    /// Its command name.
    public var comm: String
    /// Global or cgroup OOM (`unknown` on kernels before 5.1, which print the kill without a prefix).
    public var scope: OOMScope
    /// `total-vm` (`vsz` on 2.6 kernels): virtual size.
    public var totalVM: UInt64?
    /// `anon-rss`.
    public var anonRSS: UInt64?
    /// `file-rss`.
    public var fileRSS: UInt64?
    /// `shmem-rss` (4.6+).
    public var shmemRSS: UInt64?
    /// `UID` (5.0+).
    public var uid: UInt32?
    /// `pgtables` (5.0+).
    public var pageTables: UInt64?
    /// `oom_score_adj` (5.0+).
    public var oomScoreAdj: Int64?

    /// Creates a value.
    public init(pid: Int32, comm: String, scope: OOMScope) {
        self.pid = pid
        self.comm = comm
        self.scope = scope
    }
}

/// `comm[pid]: segfault at ADDR ip IP sp SP error N in lib[base+size]` (x86 `show_signal_msg`).
public struct Segfault: Sendable, Hashable {
    /// The faulting thread's command name.
    public var comm: String
    /// The faulting thread's id (the kernel prints the task's pid, i.e. the tid).
    public var pid: Int32
    /// The faulting address.
    public var address: UInt64?
    /// The instruction pointer.
    public var instructionPointer: UInt64?
    /// The stack pointer.
    public var stackPointer: UInt64?
    /// The page fault error code (bit 0 protection, 1 write, 2 user, 4 instruction fetch).
    public var errorCode: UInt64?
    /// The file the instruction pointer was in (base name), when printed.
    public var mappingName: String?
    /// Start of that mapping.
    public var mappingBase: UInt64?
    /// Size of that mapping.
    public var mappingSize: UInt64?

    /// Creates a value.
    public init(comm: String, pid: Int32) {
        self.comm = comm
        self.pid = pid
    }
}

/// A kernel log event the detectors act on.
public enum KernelEvent: Sendable, Hashable {
    /// The OOM killer chose a victim (before 5.1; followed by `oomKill`).
    case oomVictimSelected(OOMVictimSelection)
    /// The OOM killer killed a process: count these, not the selections.
    case oomKill(OOMKill)
    /// A user-space segmentation fault.
    case segfault(Segfault)
}

/// Recognises OOM kills and segfaults in kernel log text (mm/oom_kill.c, arch/x86/mm/fault.c).
///
/// Command names may contain spaces, parentheses and brackets, so each is delimited by the *last* occurrence of
/// what the kernel prints after it (`) score `, `) total-vm:`, `]: segfault at `).
public enum KernelEventParser {
    /// The event in one record's text, or nil when it reports none.
    public static func parse(_ text: String) -> KernelEvent? {
        Array(text.utf8).withUnsafeBufferPointer { parse($0, 0..<$0.count) }
    }

    static func parse(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> KernelEvent? {
        let scope: OOMScope
        if ProcText.hasPrefix(buf, r, "Memory cgroup out of memory") {
            scope = .memoryCgroup
        } else if ProcText.hasPrefix(buf, r, "Out of memory") {
            scope = .system
        } else {
            scope = .unknown
        }
        if let k = ProcText.firstRange(of: "Killed process ", in: buf, r) {
            return killed(buf, k.upperBound..<r.upperBound, scope: scope).map { .oomKill($0) }
        }
        if scope != .unknown,
            let k = ProcText.firstRange(of: "Kill process ", in: buf, r)
                ?? ProcText.firstRange(of: "kill process ", in: buf, r)
        {
            return selected(buf, k.upperBound..<r.upperBound, scope: scope).map { .oomVictimSelected($0) }
        }
        if let s = ProcText.firstRange(of: "]: segfault at ", in: buf, r) {
            return segfault(buf, r.lowerBound..<s.lowerBound, (s.upperBound)..<r.upperBound).map { .segfault($0) }
        }
        return nil
    }

    /// `PID (` at the start of `r`: the pid and where the comm starts.
    static func pidAndComm(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> (Int32, Int)? {
        guard let sp = ProcText.firstIndex(of: ProcText.space, in: buf, r),
            let pid = ProcText.decimal(buf, r.lowerBound..<sp), pid <= UInt64(Int32.max), sp + 1 < r.upperBound,
            buf[sp + 1] == UInt8(ascii: "(")
        else { return nil }
        return (Int32(pid), sp + 2)
    }

    static func selected(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, scope: OOMScope) -> OOMVictimSelection? {
        guard let (pid, commStart) = pidAndComm(buf, r) else { return nil }
        let tail = commStart..<r.upperBound
        if let s = ProcText.lastRange(of: ") score ", in: buf, tail) {
            let after = s.upperBound..<r.upperBound
            let scoreToken = ProcText.tokens(buf, after).first
            return OOMVictimSelection(
                pid: pid, comm: ProcText.string(buf, commStart..<s.lowerBound),
                score: scoreToken.flatMap { ProcText.signedDecimal(buf, $0) }, scope: scope)
        }
        guard let close = ProcText.lastIndex(of: UInt8(ascii: ")"), in: buf, tail) else { return nil }
        return OOMVictimSelection(pid: pid, comm: ProcText.string(buf, commStart..<close), score: nil, scope: scope)
    }

    static func killed(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, scope: OOMScope) -> OOMKill? {
        guard let (pid, commStart) = pidAndComm(buf, r) else { return nil }
        let tail = commStart..<r.upperBound
        guard
            let close = ProcText.lastRange(of: ") total-vm:", in: buf, tail)?.lowerBound
                ?? ProcText.lastRange(of: ") vsz:", in: buf, tail)?.lowerBound
                ?? ProcText.lastIndex(of: UInt8(ascii: ")"), in: buf, tail)
        else { return nil }
        var kill = OOMKill(pid: pid, comm: ProcText.string(buf, commStart..<close), scope: scope)
        // "key:value" pairs separated by ", " or " ", read by name.
        var i = close + 1
        while i < r.upperBound {
            while i < r.upperBound && (buf[i] == ProcText.space || buf[i] == UInt8(ascii: ",")) { i += 1 }
            let s = i
            while i < r.upperBound && buf[i] != ProcText.space && buf[i] != UInt8(ascii: ",") { i += 1 }
            let token = s..<i
            guard let colon = ProcText.firstIndex(of: ProcText.colon, in: buf, token) else { continue }
            let key = s..<colon
            var value = (colon + 1)..<token.upperBound
            var kib = false
            if ProcText.hasSuffix(buf, value, "kB") {
                value = value.lowerBound..<(value.upperBound - 2)
                kib = true
            }
            func size() -> UInt64? {
                guard let n = ProcText.decimal(buf, value) else { return nil }
                return kib ? ProcText.kibibytes(n) : n
            }
            if ProcText.equals(buf, key, "total-vm") || ProcText.equals(buf, key, "vsz") {
                kill.totalVM = size()
            } else if ProcText.equals(buf, key, "anon-rss") {
                kill.anonRSS = size()
            } else if ProcText.equals(buf, key, "file-rss") {
                kill.fileRSS = size()
            } else if ProcText.equals(buf, key, "shmem-rss") {
                kill.shmemRSS = size()
            } else if ProcText.equals(buf, key, "pgtables") {
                kill.pageTables = size()
            } else if ProcText.equals(buf, key, "UID") {
                kill.uid = ProcText.decimal(buf, value).flatMap { $0 <= UInt64(UInt32.max) ? UInt32($0) : nil }
            } else if ProcText.equals(buf, key, "oom_score_adj") {
                kill.oomScoreAdj = ProcText.signedDecimal(buf, value)
            }
        }
        return kill
    }

    /// `head` is `comm[pid`, `tail` what follows `]: segfault at `.
    static func segfault(_ buf: UnsafeBufferPointer<UInt8>, _ head: Range<Int>, _ tail: Range<Int>) -> Segfault? {
        guard let open = ProcText.lastIndex(of: UInt8(ascii: "["), in: buf, head),
            let pid = ProcText.decimal(buf, (open + 1)..<head.upperBound), pid <= UInt64(Int32.max)
        else { return nil }
        var fault = Segfault(comm: ProcText.string(buf, head.lowerBound..<open), pid: Int32(pid))

        // The part after " in " (if any) names a file that may contain spaces; the rest is "ADDR ip IP sp SP error N".
        var end = tail.upperBound
        if let likely = ProcText.firstRange(of: " likely on CPU", in: buf, tail) { end = likely.lowerBound }
        var fields = tail.lowerBound..<end
        if let inRange = ProcText.firstRange(of: " in ", in: buf, fields) {
            fields = tail.lowerBound..<inRange.lowerBound
            let lib = ProcText.trimmed(buf, inRange.upperBound..<end)
            if ProcText.hasSuffix(buf, lib, "]"),
                let bracket = ProcText.lastIndex(of: UInt8(ascii: "["), in: buf, lib)
            {
                fault.mappingName = ProcText.string(buf, lib.lowerBound..<bracket)
                let inner = (bracket + 1)..<(lib.upperBound - 1)
                if let plus = ProcText.firstIndex(of: UInt8(ascii: "+"), in: buf, inner) {
                    fault.mappingBase = ProcText.hex(buf, inner.lowerBound..<plus)
                    fault.mappingSize = ProcText.hex(buf, (plus + 1)..<inner.upperBound)
                }
            } else if !lib.isEmpty {
                fault.mappingName = ProcText.string(buf, lib)
            }
        }
        let t = ProcText.tokens(buf, fields)
        fault.address = t.first.flatMap { hexValue(buf, $0) }
        var k = 1
        while k + 1 < t.count {
            let value = hexValue(buf, t[k + 1])
            if ProcText.equals(buf, t[k], "ip") {
                fault.instructionPointer = value
            } else if ProcText.equals(buf, t[k], "sp") {
                fault.stackPointer = value
            } else if ProcText.equals(buf, t[k], "error") {
                fault.errorCode = value
            }
            k += 2
        }
        return fault
    }

    /// Hex with or without `0x` (`%lx` prints none, some arch code prints `%p` forms with it).
    static func hexValue(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> UInt64? {
        if ProcText.hasPrefix(buf, r, "0x") { return ProcText.hex(buf, (r.lowerBound + 2)..<r.upperBound) }
        return ProcText.hex(buf, r)
    }
}
