/// `memory-pressure`: the memory the system can still give falls steadily toward zero; forecasts when, with an
/// interval. Gives the device's `memory` quota row.
public struct MemoryPressureDetector: Detector {
    public let name = "memory-pressure"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        var out = DetectorOutput()
        guard let total = d.memoryTotal.map({ Double($0) }), total > 0, let avail = d.memoryAvailable.last?.v else { return out }
        // Used memory rises as available memory falls.
        var used = Series()
        for (t, v) in d.memoryAvailable.points { used.append(t, total - v) }
        var q = Quota(os: d.backend, device: d.device, resource: "memory", scope: "system", pid: nil, process: nil, limit: total,
            used: total - avail, peak: total - d.memoryAvailable.minimum, binding: "memory total", etaSeconds: nil)
        if avail <= 0 {
            // Nothing left to give: the OOM killer's turn. A verdict without a trend (the series is flat at zero).
            q.etaSeconds = 0
            q.evidence = "exhausted"
            out.findings.append(Finding(kind: .memoryPressure, severity: .critical, device: d.device, pid: nil, process: nil,
                summary: "the system has no memory left to give: available memory is 0 of \(Format.bytes(total)) "
                    + "(it was \(Format.bytes(d.memoryAvailable.first?.v ?? 0)) at the start)",
                evidence: ["total": total, "available": avail, "eta_seconds": 0], details: ["MemAvailable (or its estimate) reads 0"],
                fix: "find the process or cache that grew (the other findings), before the OOM killer picks a victim",
                confidence: .high))
        }
        if avail > 0, case .leak(let g, let confidence)? = LeakEvidence.judge(used, minimumChange: 0.05 * total, process: nil, device: d, c) {
            let f = Forecasts.forecast(room: avail, g, resource: "memory", binding: "memory total", limit: total)
            q.etaSeconds = f.etaSeconds
            q.etaLowSeconds = f.etaLowSeconds
            q.etaHighSeconds = f.etaHighSeconds
            q.evidence = "trend"
            if f.etaSeconds <= c.horizonSeconds {
                out.findings.append(Finding(kind: .memoryPressure, severity: Forecasts.severity(f, c), device: d.device, pid: nil, process: nil,
                    summary: "available memory falls: \(Format.bytes(total - used.first!.v)) -> \(Format.bytes(avail)) of "
                        + "\(Format.bytes(total)), gone \(f.phrase) at this rate",
                    evidence: LeakEvidence.numbers(g, "used", used).merging(["total": total, "eta_seconds": f.etaSeconds]) { a, _ in a },
                    details: [LeakEvidence.words(g, rate: ProcessGrowth.bytesRate(g) + " used")],
                    fix: "find the process or cache that grows (the other findings), before the OOM killer does",
                    confidence: confidence, forecast: f))
            }
        }
        out.quotas.append(q)
        return out
    }
}
