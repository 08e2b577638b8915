/// `quota.exhausted`, `quota.forecast`: one detector for every limit any backend reports (thread ceilings with
/// each limit that bounds them, map count, descriptors, an RTOS's kernel object pools, whatever a new OS adds).
///
/// Per resource and scope (the system, or one process) it reads every limit's room over time. A limit whose room
/// reached zero, or whose peak (the OS's own, when it keeps one) reached the limit, is exhausted. Otherwise a
/// limit whose room falls significantly, sustained and still falling, gets a forecast with an interval (for a
/// process, only when its own use grows like a leak too); the limit that runs out first binds. A limit restated in another unit (a reading marked `derived`) is reported
/// once, under the reading that counts it in its own unit.
public struct QuotaDetector: Detector {
    public let name = "quotas"
    public init() {}

    /// One limit's verdict.
    struct Judged {
        var history: QuotaHistory
        var exhausted: Bool
        var forecast: Forecast?
        var growth: Growth?
        var confidence: Confidence = .medium
    }

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        var out = DetectorOutput()
        var groups: [GroupKey: [QuotaHistory]] = [:]
        let all = d.quotas
        for q in all { groups[GroupKey(resource: q.key.resource, process: q.key.process), default: []].append(q) }
        // Sources a process (or the system) reports in their own unit: derived readings of these are not repeated.
        var ownSources: Set<SourceKey> = []
        for q in all where !q.derived { ownSources.insert(SourceKey(source: q.key.source, process: q.key.process)) }
        for key in groups.keys.sorted() {
            let process = key.process.flatMap { d.processes[$0] }
            if let p = process, c.isAgent(p, on: d) { continue }
            let judged = groups[key]!.sorted { $0.key.source < $1.key.source }.map { judge($0, process: process, d, c) }
            guard let bind = Self.binding(judged) else { continue }
            // A process that is gone runs out of nothing any more: its limits are shown only if it reached one.
            if let p = process, !d.alive(p), !bind.exhausted { continue }
            let h = bind.history
            let usedNow = h.used.last?.v ?? 0
            var q = Quota(os: d.backend, device: d.device, resource: key.resource, scope: key.process == nil ? "system" : "process",
                pid: key.process?.pid, process: process?.name ?? h.processName, limit: h.limit, used: usedNow, peak: h.peak,
                binding: h.key.source, etaSeconds: nil)
            if bind.exhausted {
                q.etaSeconds = 0
                q.evidence = "exhausted"
            } else if let f = bind.forecast {
                q.etaSeconds = f.etaSeconds
                q.etaLowSeconds = f.etaLowSeconds
                q.etaHighSeconds = f.etaHighSeconds
                q.evidence = "trend"
            }
            out.quotas.append(q)
            let repeated = h.derived && ownSources.contains(SourceKey(source: h.key.source, process: key.process))
            if repeated { continue }
            if let f = finding(q, bind, process: process, d, c) { out.findings.append(f) }
        }
        return out
    }

    struct GroupKey: Hashable, Comparable {
        var resource: String
        var process: ProcessKey?
        static func < (a: GroupKey, b: GroupKey) -> Bool {
            (a.process?.pid ?? -1, a.process?.startToken ?? 0, a.resource) < (b.process?.pid ?? -1, b.process?.startToken ?? 0, b.resource)
        }
    }

    struct SourceKey: Hashable {
        var source: String
        var process: ProcessKey?
    }

    func judge(_ h: QuotaHistory, process: ProcessHistory?, _ d: DeviceTimeline, _ c: AnalysisContext) -> Judged {
        var j = Judged(history: h, exhausted: h.limit > 0 && (h.room.minimum <= 0 || h.reportedPeak >= h.limit))
        guard !j.exhausted, let room = h.room.last?.v else { return j }
        // Room falling is "used" rising: judge the negated room like any growth.
        var falling = Series()
        for (t, v) in h.room.points { falling.append(t, -v) }
        let minimum = max(3, 0.001 * h.limit)
        // A process's own use must grow too: a system-wide limit's room also falls when other processes take from
        // it, and that is the system's forecast (or the other process's), not this one's.
        if process != nil {
            guard case .leak? = LeakEvidence.judge(h.used, minimumChange: 3, process: process, device: d, c) else { return j }
        }
        if case .leak(let g, let confidence)? = LeakEvidence.judge(falling, minimumChange: minimum, process: process, device: d, c) {
            j.growth = g
            j.confidence = confidence
            j.forecast = Forecasts.forecast(room: room, g, resource: h.key.resource, binding: h.key.source, limit: h.limit)
        }
        return j
    }

    /// The limit that binds: an exhausted one; else the one forecast to run out first; else the one with the least
    /// room left.
    static func binding(_ js: [Judged]) -> Judged? {
        if let e = js.first(where: { $0.exhausted }) { return e }
        if let f = js.filter({ $0.forecast != nil }).min(by: { $0.forecast!.etaSeconds < $1.forecast!.etaSeconds }) { return f }
        return js.min { ($0.history.room.last?.v ?? .infinity) < ($1.history.room.last?.v ?? .infinity) }
    }

    func finding(_ q: Quota, _ j: Judged, process: ProcessHistory?, _ d: DeviceTimeline, _ c: AnalysisContext) -> Finding? {
        let whereText = q.pid.map { " in pid \($0) (\(q.process ?? "?"))" } ?? " on the system"
        var details: [String] = []
        if q.resource == "map_count", let space = process?.lastSpace {
            let classes = space.mappingsByClass.sorted { $0.amount > $1.amount }.filter { $0.amount > 0 }
            details.append("mappings by class: " + classes.map { "\($0.name) \($0.amount)" }.joined(separator: ", "))
        }
        if j.exhausted {
            let peakOnly = j.history.room.minimum > 0
            let when = peakOnly ? "ran dry at least once (the OS's own peak, \(Format.count(j.history.reportedPeak)), reached it)" : "is reached"
            details.insert("static evidence: use at or past the limit (\(Format.count(q.peak)) of \(Format.count(q.limit)))", at: 0)
            return Finding(kind: .quotaExhausted, severity: .critical, device: d.device, pid: q.pid, process: q.process,
                summary: "\(q.resource) limit \(Format.count(q.limit)) (\(q.binding ?? "-")) \(when)\(whereText): \(Format.count(q.used)) used now",
                evidence: ["limit": q.limit, "used": q.used, "peak": q.peak, "eta_seconds": 0], details: details,
                fix: "creation fails now (EAGAIN, EMFILE, ENOMEM); fix what keeps taking \(q.resource), or raise \(q.binding ?? "the limit")",
                confidence: .high)
        }
        guard let f = j.forecast, let g = j.growth, f.etaSeconds <= c.horizonSeconds else { return nil }
        details.insert(LeakEvidence.words(g, rate: "room falls by \(Format.one(g.whole.slopePerHour)) per hour"), at: 0)
        return Finding(kind: .quotaForecast, severity: Forecasts.severity(f, c), device: d.device, pid: q.pid, process: q.process,
            summary: "\(q.resource) limit \(Format.count(q.limit)) (\(q.binding ?? "-")) runs out \(f.phrase)\(whereText): \(Format.count(q.used)) used",
            evidence: ["limit": q.limit, "used": q.used, "peak": q.peak, "eta_seconds": f.etaSeconds, "eta_low_seconds": f.etaLowSeconds,
                       "eta_high_seconds": f.etaHighSeconds ?? -1, "z": g.whole.z, "span_seconds": g.whole.spanSeconds],
            details: details, fix: "fix the growth before it runs out, or raise \(q.binding ?? "the limit") for the soak test",
            confidence: j.confidence, forecast: f)
    }
}
