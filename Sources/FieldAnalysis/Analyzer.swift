/// Runs the detectors over device timelines, then folds related findings: a forecast caused by a leak goes into
/// that leak's finding, an exhausted limit names the leak that caused it, and virtual growth that another finding
/// explains is dropped.
public struct Analyzer {
    /// Every detector, in report order. A new kind of diagnosis is a new file in `Detectors/` and one line here.
    public static let detectors: [any Detector] = [
        UnjoinedThreadsDetector(),
        GrowingThreadsDetector(),
        HeapDetector(),
        AnonymousMemoryDetector(),
        SharedMemoryDetector(),
        DescriptorDetector(),
        VirtualGrowthDetector(),
        ResidentGrowthDetector(),
        KernelCacheDetector(),
        MemoryPressureDetector(),
        KernelEventDetector(),
        QuotaDetector(),
    ]

    /// What every detector needs besides the timeline.
    public var context: AnalysisContext
    /// The detectors to run.
    public var detectors: [any Detector]

    /// An analyzer with the default context and every detector; `horizonSeconds` is how far ahead a forecast counts.
    public init(horizonSeconds: Double = 7 * 24 * 3600, detectors: [any Detector] = Analyzer.detectors) {
        context = AnalysisContext(horizonSeconds: horizonSeconds)
        self.detectors = detectors
    }

    /// An analyzer with this context.
    public init(context: AnalysisContext, detectors: [any Detector] = Analyzer.detectors) {
        self.context = context
        self.detectors = detectors
    }

    /// Findings (most important first) and quotas.
    public func analyze(_ devices: [DeviceTimeline]) -> (findings: [Finding], quotas: [Quota]) {
        var findings: [Finding] = []
        var quotas: [Quota] = []
        for d in devices.sorted(by: { $0.device < $1.device }) {
            var mine: [Finding] = []
            for detector in detectors {
                let o = detector.inspect(d, context)
                mine += o.findings
                quotas += o.quotas
            }
            findings += Self.fold(mine, context)
        }
        return (Self.ordered(findings), quotas)
    }

    /// Findings most important first: by severity, then device, process and kind. Analyses of devices apart
    /// (in parallel), concatenated in device order and put in this order, equal one analysis of them all.
    public static func ordered(_ findings: [Finding]) -> [Finding] {
        findings.sorted { ($0.severity, $1.device, $1.pid ?? -1, $1.kind.rawValue) > ($1.severity, $0.device, $0.pid ?? -1, $0.kind.rawValue) }
    }

    /// Kinds that name a leak in one process.
    static let leakKinds: [FindingKind] = [.threadLeakUnjoined, .threadLeakGrowing, .heapLeak, .anonGrowth, .shmLeak, .fdLeak, .vmGrowth, .rssGrowth]

    /// One device's findings, related ones folded together.
    static func fold(_ all: [Finding], _ c: AnalysisContext) -> [Finding] {
        var out = all
        // Virtual growth explained by a more specific finding of the same process.
        let explained = Set(out.filter { $0.kind != .vmGrowth && leakKinds.contains($0.kind) }.compactMap(\.pid))
        out.removeAll { $0.kind == .vmGrowth && $0.pid.map(explained.contains) == true }
        // Forecasts into the leak that causes them (the first leak finding of that process, or for a system
        // thread forecast, the first growing-threads finding).
        var i = 0
        while i < out.count {
            let f = out[i]
            guard f.kind == .quotaForecast, let forecast = f.forecast else { i += 1; continue }
            let cause = out.firstIndex { g in
                leakKinds.contains(g.kind) && g.severity > .info
                    && (f.pid != nil ? g.pid == f.pid : (forecast.resource == "thread" && g.kind == .threadLeakGrowing))
            }
            guard let k = cause else { i += 1; continue }
            let sooner = out[k].forecast.map { forecast.etaSeconds < $0.etaSeconds } ?? true
            if sooner {
                out[k].forecast = forecast
                out[k].evidence["eta_seconds"] = forecast.etaSeconds
                out[k].evidence["eta_low_seconds"] = forecast.etaLowSeconds
                if let h = forecast.etaHighSeconds { out[k].evidence["eta_high_seconds"] = h }
                let scope = f.pid == nil ? "the system's " : ""
                out[k].details.append("runs \(scope)\(forecast.resource) limit \(Format.count(forecast.limit)) (\(forecast.binding)) out \(forecast.phrase)")
                out[k].severity = max(out[k].severity, f.severity)
            }
            out.remove(at: i)
        }
        // Less than a minute of evidence warns at most, whatever it forecasts.
        for j in out.indices where out[j].confidence == .low && out[j].severity == .critical { out[j].severity = .warning }
        // An exhausted limit names its cause.
        for j in out.indices where out[j].kind == .quotaExhausted {
            let causes = out.filter { leakKinds.contains($0.kind) && $0.pid != nil && $0.pid == out[j].pid }.map(\.kind.rawValue)
            if !causes.isEmpty { out[j].details.append("cause: " + causes.joined(separator: ", ")) }
        }
        return out
    }
}
