/// `vm-growth`: virtual size keeps growing by much, while resident size does not follow (the analyzer drops it
/// when another finding of the same process explains the growth).
public struct VirtualGrowthDetector: Detector {
    public let name = "virtual-size"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        ProcessGrowth.scan(d, c, minimumChange: 64 * 1_048_576, { $0.virtualBytes }) { p, v, s in
            ProcessGrowth.finding(.vmGrowth, v, s, key: "virtual", process: p, device: d, rate: ProcessGrowth.bytesRate(ProcessGrowth.growth(v)),
                summary: "virtual size grows without a known cause: \(Format.bytes(s.first?.v ?? 0)) -> \(Format.bytes(s.last?.v ?? 0)) "
                    + "(resident \(Format.bytes(p.residentBytes.last?.v ?? 0)))",
                fix: "compare the process's memory map between the start and the end of the run")
        }
    }
}
