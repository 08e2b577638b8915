/// `heap-leak`: the heap (main heap and allocator arenas) keeps growing.
public struct HeapDetector: Detector {
    public let name = "heap"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        ProcessGrowth.scan(d, c, minimumChange: 1_048_576, { $0.heapBytes }) { p, v, s in
            ProcessGrowth.finding(.heapLeak, v, s, key: "heap", process: p, device: d, rate: ProcessGrowth.bytesRate(ProcessGrowth.growth(v)),
                summary: "the heap grows: \(Format.bytes(s.first?.v ?? 0)) -> \(Format.bytes(s.last?.v ?? 0))",
                fix: "find allocations without a free (valgrind --leak-check=full, or heaptrack, on a test build)")
        }
    }
}
