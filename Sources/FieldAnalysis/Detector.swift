/// One kind of diagnosis, as a plug-in: it reads a device's timeline and says what it finds.
///
/// The contract every detector keeps:
/// - It reads observations only (`DeviceTimeline`): no file, no path, no OS name. What an OS shows is the
///   backend's business; a detector works for every backend that fills the observations it reads.
/// - A finding is a claim that sends an engineer hunting for a bug. Each one states its evidence (numbers in
///   `evidence`, the reasoning in `details`) and a `confidence`, and its severity follows from both.
/// - Growth counts only through `LeakEvidence`: significant by a rank-based trend test, sustained over a minimum
///   span, still rising at the end of what was observed. A warm-up ramp that levels off, a cache that fills to a
///   bound, a pool that grows to its size, growth in a process that then exits: none of these is a leak.
/// - Static evidence counts without growth when it is beyond doubt (stacks far beyond live threads, a quota at
///   its limit).
/// - The agent's own processes (`context.isAgent`) are never suspects.
/// - Deterministic and independent: the same timeline gives the same findings, whatever other detectors say
///   (the analyzer folds related findings together afterwards).
public protocol Detector: Sendable {
    /// A short name, for the documentation and for tests.
    var name: String { get }

    /// What this detector finds on one device.
    func inspect(_ device: DeviceTimeline, _ context: AnalysisContext) -> DetectorOutput
}

/// Findings and the quota rows behind them.
public struct DetectorOutput: Sendable {
    /// Findings, in any order.
    public var findings: [Finding] = []
    /// Quota rows (for reports, JSON and `compare`).
    public var quotas: [Quota] = []

    /// Nothing found.
    public init(findings: [Finding] = [], quotas: [Quota] = []) {
        self.findings = findings
        self.quotas = quotas
    }
}

/// What every detector needs besides the timeline.
public struct AnalysisContext: Sendable {
    /// How far ahead a forecast counts, seconds.
    public var horizonSeconds: Double
    /// The shortest span of growth a leak verdict may rest on, seconds, whatever the sampling interval.
    public var minimumSpanSeconds: Double
    /// The fewest points a leak verdict may rest on.
    public var minimumPoints: Int
    /// Growth that ended with its process is reported (as information) only when it ran at least this long.
    public var informationalSpanSeconds: Double
    /// The shortest span of growth in a process that started during the observation (warm-up), seconds.
    public var newProcessSpanSeconds: Double = 120

    /// The defaults: a week's horizon; growth over at least 6 points and 4.5 sampling intervals (2 minutes in a
    /// process that started during the observation).
    public init(horizonSeconds: Double = 7 * 24 * 3600, minimumSpanSeconds: Double = 0, minimumPoints: Int = 6,
                informationalSpanSeconds: Double = 600) {
        self.horizonSeconds = horizonSeconds
        self.minimumSpanSeconds = minimumSpanSeconds
        self.minimumPoints = minimumPoints
        self.informationalSpanSeconds = informationalSpanSeconds
    }

    /// Whether `pid` is the agent itself on `device` (its bundles' headers say which pids it ran as).
    public func isAgent(_ p: ProcessHistory, on device: DeviceTimeline) -> Bool {
        if device.agentPIDs.isEmpty { return p.name == "fieldagent" }  // bundles written before agent_pid
        return device.agentPIDs.contains(p.key.pid)
    }

    /// Processes that may be suspects: every process but the agent, in pid order.
    public func suspects(_ device: DeviceTimeline) -> [ProcessHistory] {
        device.processes.values.filter { !isAgent($0, on: device) }.sorted { $0.key < $1.key }
    }
}

/// The growth verdict every growth detector uses.
public enum LeakEvidence {
    /// What a series says.
    public enum Verdict {
        /// A leak: significant, sustained, still rising, in a process still running.
        case leak(Growth, Confidence)
        /// It grew like a leak, but its process has exited since: information at most.
        case ended(Growth)
    }

    /// The verdict on `series` of process `p`, or nil when it shows no leak. `minimumChange` is the smallest
    /// rise (first to last) that matters for this kind.
    public static func judge(_ series: Series, minimumChange: Double, process p: ProcessHistory?, device: DeviceTimeline,
                             _ c: AnalysisContext) -> Verdict? {
        // Cheap checks first: most series of most processes are flat.
        guard series.count >= c.minimumPoints, let first = series.first?.v, let last = series.last?.v, last - first >= minimumChange,
              let g = Growth(series), g.significant, g.stillRising, g.change >= minimumChange,
              g.spread, g.whole.spanSeconds >= minimumSpan(device, c, process: p) else { return nil }
        if let p, !device.alive(p) {
            return g.whole.spanSeconds >= c.informationalSpanSeconds ? .ended(g) : nil
        }
        return .leak(g, confidence(g))
    }

    /// The minimum span for a device: the context's, and never less than four and a half sampling intervals. A process
    /// that started while the device was observed is warming up at first: its growth must last
    /// `context.newProcessSpanSeconds` (a compiler, an updater, a worker that fills its caches and exits).
    public static func minimumSpan(_ d: DeviceTimeline, _ c: AnalysisContext, process p: ProcessHistory? = nil) -> Double {
        let base = max(c.minimumSpanSeconds, 4.5 * Double(d.intervalNanos) / 1e9)
        guard let p, Nanos.between(d.firstNanos, p.firstNanos) > Nanos.times(2, max(d.intervalNanos, 1_000_000_000)) else { return base }
        return max(base, c.newProcessSpanSeconds)
    }

    /// High: strongly significant over half an hour and still rising clearly; low: less than a minute of
    /// evidence; medium otherwise.
    public static func confidence(_ g: Growth) -> Confidence {
        if g.whole.spanSeconds < 60 { return .low }
        return g.whole.z >= 3 && g.whole.spanSeconds >= 1800 && (g.late?.z ?? 0) >= 2.33 ? .high : .medium
    }

    /// The evidence in numbers, with `unit` as the prefix of each key (`heap_start`, `heap_per_hour`, ...).
    public static func numbers(_ g: Growth, _ key: String, _ s: Series) -> [String: Double] {
        [
            "\(key)_start": s.first?.v ?? 0, "\(key)_end": s.last?.v ?? 0, "\(key)_per_hour": g.whole.slopePerHour,
            "\(key)_per_hour_low": g.whole.slopeLow * 3600, "\(key)_per_hour_high": g.whole.slopeHigh * 3600,
            "z": g.whole.z, "late_z": g.late?.z ?? 0, "span_seconds": g.whole.spanSeconds, "points": Double(g.whole.n),
        ]
    }

    /// The evidence in words: `rising in 58 of 60 s (Mann-Kendall z 9.1; still rising in the last third, z 4.2)`.
    public static func words(_ g: Growth, rate: String) -> String {
        "\(rate), sustained over \(Format.duration(g.whole.spanSeconds)) (\(g.whole.n) points, Mann-Kendall z \(Format.one(g.whole.z)); "
            + "still rising in the last third, z \(Format.one(g.late?.z ?? 0)))"
    }

    /// Severity from the verdict: a leak warns; it is critical when its forecast's late end falls inside the
    /// horizon (set by the analyzer when it folds the forecast in), unless its confidence is low (less than a
    /// minute of evidence warns at most). Growth that ended with its process is information.
    public static func severity(_ v: Verdict) -> Severity {
        switch v {
        case .leak: return .warning
        case .ended: return .info
        }
    }
}
