/// `slab-growth`: a kernel object cache keeps growing (system-wide). Caches the kernel gives back under memory
/// pressure (file system caches) grow with any busy file system, so they count only over a long span.
public struct KernelCacheDetector: Detector {
    public let name = "kernel-caches"
    public init() {}

    /// A reclaimable cache must grow for this long before it is a finding.
    static let reclaimableSpanSeconds = 6.0 * 3600

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        var out = DetectorOutput()
        for name in d.kernelCaches.keys.sorted() {
            let s = d.kernelCaches[name]!
            guard let v = LeakEvidence.judge(s, minimumChange: 4 * 1_048_576, process: nil, device: d, c),
                  case .leak(let g, let confidence) = v else { continue }
            let reclaimable = d.reclaimableCaches.contains(name)
            if reclaimable && g.whole.spanSeconds < Self.reclaimableSpanSeconds { continue }
            out.findings.append(Finding(kind: .slabGrowth, severity: reclaimable ? .info : .warning, device: d.device, pid: nil, process: nil,
                summary: "kernel cache \(name) grows: \(Format.bytes(s.first?.v ?? 0)) -> \(Format.bytes(s.last?.v ?? 0))",
                evidence: LeakEvidence.numbers(g, "bytes", s),
                details: [LeakEvidence.words(g, rate: ProcessGrowth.bytesRate(g))]
                    + (reclaimable ? ["the kernel reclaims this cache under memory pressure: growth over hours, still only information"] : []),
                fix: "a kernel object is allocated and not freed: look at what creates \(name) objects (driver, sockets, inodes)",
                confidence: confidence))
        }
        return out
    }
}
