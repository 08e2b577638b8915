/// `rss-growth`: resident memory keeps growing in a process whose memory map was never captured (hand-made logs
/// of `top` or `status` alone), so heap, mmap and stacks cannot be told apart. Where a map was captured, the
/// heap, anonymous and shared memory detectors judge the growth instead, and this one stays silent.
public struct ResidentGrowthDetector: Detector {
    public let name = "resident-size"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        ProcessGrowth.scan(d, c, minimumChange: 4 * 1_048_576, { $0.heapBytes.isEmpty && $0.anonymousBytes.isEmpty ? $0.residentBytes : Series() }) { p, v, s in
            ProcessGrowth.finding(.rssGrowth, v, s, key: "resident", process: p, device: d, rate: ProcessGrowth.bytesRate(ProcessGrowth.growth(v)),
                summary: "resident memory grows: \(Format.bytes(s.first?.v ?? 0)) -> \(Format.bytes(s.last?.v ?? 0))",
                details: ["no memory map of this process was captured: heap, mmap and thread stacks cannot be told apart "
                    + "(capture /proc/\(p.key.pid)/maps, or run the agent or tools/fieldcapture.sh, to say which)"],
                fix: "find allocations without a free (valgrind --leak-check=full, or heaptrack, on a test build)")
        }
    }
}
