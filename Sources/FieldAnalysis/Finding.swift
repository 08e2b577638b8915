/// The finding kinds of DESIGN.md's vocabulary; the raw values are stable identifiers in JSON and exit codes.
public enum FindingKind: String, Sendable, CaseIterable, Codable {
    case threadLeakUnjoined = "thread-leak.unjoined"
    case threadLeakGrowing = "thread-leak.growing"
    case heapLeak = "heap-leak"
    case anonGrowth = "anon-growth"
    case shmLeak = "shm-leak"
    case fdLeak = "fd-leak"
    case vmGrowth = "vm-growth"
    case slabGrowth = "slab-growth"
    case memoryPressure = "memory-pressure"
    case oomKill = "oom-kill"
    case segfault
    case quotaExhausted = "quota.exhausted"
    case quotaForecast = "quota.forecast"
}

/// How much a finding matters.
public enum Severity: String, Sendable, Comparable, CaseIterable, Codable {
    case info, warning, critical

    public static func < (a: Severity, b: Severity) -> Bool {
        let order: [Severity] = [.info, .warning, .critical]
        return order.firstIndex(of: a)! < order.firstIndex(of: b)!
    }
}

/// One diagnosis, with the evidence a person can check and what to do.
public struct Finding: Sendable, Codable {
    /// What kind.
    public var kind: FindingKind
    /// How much it matters.
    public var severity: Severity
    /// Device id.
    public var device: String
    /// The process, when the finding is about one.
    public var pid: Int32?
    /// Its name.
    public var process: String?
    /// One line for a person.
    public var summary: String
    /// Numbers behind it, by name.
    public var evidence: [String: Double]
    /// Thread names that multiply, mappings involved, etc.
    public var details: [String]
    /// A one-line suggested fix.
    public var fix: String
}

/// A limit and how it is used: `{os, resource, scope, pid, limit, used, peak, binding, eta_seconds}`.
public struct Quota: Sendable, Codable {
    /// `linux`, `sylixos`.
    public var os: String
    /// Device id.
    public var device: String
    /// `thread`, `map_count`, `fd`, ...
    public var resource: String
    /// `system` or `process`.
    public var scope: String
    /// For process quotas.
    public var pid: Int32?
    /// Process name, for process quotas.
    public var process: String?
    /// The effective limit.
    public var limit: Double
    /// Last value seen.
    public var used: Double
    /// Highest value seen.
    public var peak: Double
    /// Which limit binds (for Linux threads: `threads-max`, `pid_max`, `cgroup pids.max`, `RLIMIT_NPROC`,
    /// `max_map_count`, `address space`).
    public var binding: String?
    /// Seconds until exhaustion at the current trend; nil when not growing; 0 when exhausted.
    public var etaSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case os, device, resource, scope, pid, process, limit, used, peak, binding
        case etaSeconds = "eta_seconds"
    }
}
