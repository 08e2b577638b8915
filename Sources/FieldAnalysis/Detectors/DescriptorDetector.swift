/// `fd-leak`: open descriptors keep growing.
public struct DescriptorDetector: Detector {
    public let name = "descriptors"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        ProcessGrowth.scan(d, c, minimumChange: 10, { $0.descriptors }) { p, v, s in
            ProcessGrowth.finding(.fdLeak, v, s, key: "fds", process: p, device: d,
                rate: ProcessGrowth.countRate(ProcessGrowth.growth(v)) + " descriptors",
                summary: "file descriptors are opened and never closed: \(Format.count(s.first?.v ?? 0)) -> \(Format.count(s.last?.v ?? 0))",
                fix: "close every descriptor on every path (including errors); list the process's open descriptors to see which stay")
        }
    }
}
