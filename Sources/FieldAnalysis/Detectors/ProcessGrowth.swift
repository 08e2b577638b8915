/// The shape shared by the per-process growth detectors: judge one series of every suspect, and word a finding.
enum ProcessGrowth {
    /// Every suspect of `d` whose `series` grows like a leak by at least `minimumChange`, worded by `make`.
    static func scan(_ d: DeviceTimeline, _ c: AnalysisContext, minimumChange: Double, _ series: (ProcessHistory) -> Series,
                     _ make: (ProcessHistory, LeakEvidence.Verdict, Series) -> Finding) -> DetectorOutput {
        var out = DetectorOutput()
        for p in c.suspects(d) {
            let s = series(p)
            if let v = LeakEvidence.judge(s, minimumChange: minimumChange, process: p, device: d, c) { out.findings.append(make(p, v, s)) }
        }
        return out
    }

    /// A finding for process `p` from verdict `v` on series `s`; `summary` words it (given the growth), `key`
    /// prefixes the evidence numbers.
    static func finding(_ kind: FindingKind, _ v: LeakEvidence.Verdict, _ s: Series, key: String, process p: ProcessHistory,
                        device d: DeviceTimeline, rate: String, summary: String, details: [String] = [], fix: String) -> Finding {
        let g: Growth
        let confidence: Confidence
        switch v {
        case .leak(let growth, let c): (g, confidence) = (growth, c)
        case .ended(let growth): (g, confidence) = (growth, .low)
        }
        var words = [LeakEvidence.words(g, rate: rate)]
        if confidence == .low, case .leak = v { words.append("low confidence: less than a minute of evidence; sample longer to confirm") }
        if case .ended = v { words.append("the process exited while it grew: not a leak verdict, only information") }
        return Finding(kind: kind, severity: LeakEvidence.severity(v), device: d.device, pid: p.key.pid, process: p.name,
            summary: summary + " in pid \(p.key.pid) (\(p.name))", evidence: LeakEvidence.numbers(g, key, s),
            details: words + details, fix: fix, confidence: confidence)
    }

    /// A byte series' rate for words: `+1.2 MiB per hour`.
    static func bytesRate(_ g: Growth) -> String { "+\(Format.bytes(g.whole.slopePerHour)) per hour" }

    /// A count's rate for words: `+60 per hour`.
    static func countRate(_ g: Growth) -> String { "+\(Format.count(g.whole.slopePerHour)) per hour" }

    /// The growth inside a verdict.
    static func growth(_ v: LeakEvidence.Verdict) -> Growth {
        switch v {
        case .leak(let g, _), .ended(let g): return g
        }
    }
}
