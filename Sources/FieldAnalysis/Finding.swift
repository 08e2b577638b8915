/// The finding kinds of DESIGN.md's vocabulary; the raw values are stable identifiers in JSON and exit codes.
public enum FindingKind: String, Sendable, CaseIterable, Codable {
    case threadLeakUnjoined = "thread-leak.unjoined"
    case threadLeakGrowing = "thread-leak.growing"
    case heapLeak = "heap-leak"
    case anonGrowth = "anon-growth"
    case shmLeak = "shm-leak"
    case fdLeak = "fd-leak"
    case vmGrowth = "vm-growth"
    /// Resident memory grows in a process with no captured memory map (imported `top`/`status` logs).
    case rssGrowth = "rss-growth"
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
    /// Numbers behind it, by name (the statistics included: `z`, `slope_low_per_hour`, `span_seconds`...).
    public var evidence: [String: Double]
    /// The evidence in words, then thread names that multiply, mappings involved, the limit it runs into.
    public var details: [String]
    /// A one-line suggested fix.
    public var fix: String
    /// How sure: from the test statistics and how long the evidence runs (severity follows from both).
    public var confidence: Confidence = .medium
    /// The limit this leak (or this quota) runs into, when a significant trend says when.
    public var forecast: Forecast?

    /// A finding.
    public init(kind: FindingKind, severity: Severity, device: String, pid: Int32?, process: String?, summary: String,
                evidence: [String: Double], details: [String], fix: String, confidence: Confidence = .medium, forecast: Forecast? = nil) {
        self.kind = kind
        self.severity = severity
        self.device = device
        self.pid = pid
        self.process = process
        self.summary = summary
        self.evidence = evidence
        self.details = details
        self.fix = fix
        self.confidence = confidence
        self.forecast = forecast
    }
}

/// When a limit runs out at the trend seen: the estimate and its interval (from the slope's 95 % interval).
public struct Forecast: Sendable, Codable, Equatable {
    /// What runs out.
    public var resource: String
    /// The limit that binds.
    public var binding: String
    /// The limit.
    public var limit: Double
    /// Seconds from the last sample to exhaustion at Sen's slope.
    public var etaSeconds: Double
    /// At the upper end of the slope's interval (the earliest it can come).
    public var etaLowSeconds: Double
    /// At the lower end of the slope's interval (nil: the interval reaches a flat trend, no late bound).
    public var etaHighSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case resource, binding, limit
        case etaSeconds = "eta_seconds"
        case etaLowSeconds = "eta_low_seconds"
        case etaHighSeconds = "eta_high_seconds"
    }

    /// `in 3.2 h (2.9-3.6 h)`.
    public var phrase: String {
        let high = etaHighSeconds.map { Format.duration($0) } ?? "never"
        return "in \(Format.duration(etaSeconds)) (\(Format.duration(etaLowSeconds)) to \(high))"
    }
}

/// A limit and how it is used: `{os, resource, scope, pid, limit, used, peak, binding, eta_seconds}`.
public struct Quota: Sendable, Codable {
    /// The device's backend identifier (from its bundles' header).
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
    /// Which limit binds (the backend's name for it: `kernel.threads-max`, `RLIMIT_NOFILE`, `vm.max_map_count`,
    /// `kernel/objects total`, ...).
    public var binding: String?
    /// Seconds until exhaustion, only from a significant, sustained trend; 0 when exhausted; nil otherwise.
    public var etaSeconds: Double?
    /// The interval of `etaSeconds` (from the slope's 95 % interval); the high end nil when unbounded.
    public var etaLowSeconds: Double?
    /// See `etaLowSeconds`.
    public var etaHighSeconds: Double?
    /// What the verdict rests on: `exhausted` (peak at or past the limit), `trend` (a significant, sustained
    /// trend toward it), `no trend`.
    public var evidence: String = "no trend"

    enum CodingKeys: String, CodingKey {
        case os, device, resource, scope, pid, process, limit, used, peak, binding, evidence
        case etaSeconds = "eta_seconds"
        case etaLowSeconds = "eta_low_seconds"
        case etaHighSeconds = "eta_high_seconds"
    }
}
