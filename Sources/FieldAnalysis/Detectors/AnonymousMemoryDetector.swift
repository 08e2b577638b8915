/// `anon-growth`: private anonymous memory other than heap and stacks keeps growing (mmap without munmap, large
/// allocations above the allocator's mmap threshold never freed).
public struct AnonymousMemoryDetector: Detector {
    public let name = "anonymous-memory"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        ProcessGrowth.scan(d, c, minimumChange: 4 * 1_048_576, { $0.anonymousBytes }) { p, v, s in
            ProcessGrowth.finding(.anonGrowth, v, s, key: "anon", process: p, device: d, rate: ProcessGrowth.bytesRate(ProcessGrowth.growth(v)),
                summary: "anonymous memory (mmap) grows: \(Format.bytes(s.first?.v ?? 0)) -> \(Format.bytes(s.last?.v ?? 0))",
                fix: "look for mmap without munmap, or large malloc blocks (above the mmap threshold) never freed")
        }
    }
}
