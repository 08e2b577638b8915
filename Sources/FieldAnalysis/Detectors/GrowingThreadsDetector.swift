/// `thread-leak.growing`: the live thread count keeps rising; names the thread name that multiplies.
public struct GrowingThreadsDetector: Detector {
    public let name = "growing-threads"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        ProcessGrowth.scan(d, c, minimumChange: 5, { $0.threads }) { p, v, s in
            var details: [String] = []
            if let first = p.firstThreadNames, let last = p.lastThreadNames {
                // Unsigned and saturated: the amounts are whatever the backend counted.
                let before = Dictionary(first.map { ($0.name, $0.amount) }, uniquingKeysWith: { a, b in a > UInt64.max - b ? .max : a + b })
                let grew = last.map { n in (n.name, n.amount - min(n.amount, before[n.name] ?? 0), n.amount) }.filter { $0.1 > 0 }
                    .sorted { ($0.1, $1.0) > ($1.1, $0.0) }
                details = grew.prefix(3).map { "\($0.0): +\($0.1) (now \($0.2))" }
            }
            let who = details.first.map { " named \"\($0.split(separator: ":")[0])\"" } ?? ""
            let g = ProcessGrowth.growth(v)
            return ProcessGrowth.finding(.threadLeakGrowing, v, s, key: "threads", process: p, device: d,
                rate: ProcessGrowth.countRate(g) + " threads",
                summary: "threads\(who) are started again and again and never end: \(Format.count(p.threads.first?.v ?? 0)) -> "
                    + "\(Format.count(p.threads.last?.v ?? 0)) live threads",
                details: details, fix: "find the code that starts these threads; let them finish, or reuse a fixed pool")
        }
    }
}
