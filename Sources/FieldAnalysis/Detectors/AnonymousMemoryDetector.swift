/// `anon-growth`: private anonymous memory other than heap and stacks keeps growing (mmap without munmap, large
/// allocations above the allocator's mmap threshold never freed).
public struct AnonymousMemoryDetector: Detector {
    public let name = "anonymous-memory"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        var out = DetectorOutput()
        for p in c.suspects(d) {
            guard let v = LeakEvidence.judge(p.anonymousBytes, minimumChange: 4 * 1_048_576, process: p, device: d, c) else { continue }
            let s = p.anonymousBytes
            out.findings.append(ProcessGrowth.finding(.anonGrowth, v, s, key: "anon", process: p, device: d,
                rate: ProcessGrowth.bytesRate(ProcessGrowth.growth(v)),
                summary: "anonymous memory (mmap) grows: \(Format.bytes(s.first?.v ?? 0)) -> \(Format.bytes(s.last?.v ?? 0))",
                fix: "look for mmap without munmap, or large malloc blocks (above the mmap threshold) never freed"))
        }
        return out
    }
}
