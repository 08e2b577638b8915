/// `oom-kill`, `segfault`: events from the kernel's log, joined with the victim's history.
public struct KernelEventDetector: Detector {
    public let name = "kernel-events"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        var out = DetectorOutput()
        for e in d.events.map(\.event) {
            let evidence = ["anon_rss_bytes": Double(e.anonymousResidentBytes ?? 0), "total_vm_bytes": Double(e.virtualBytes ?? 0)]
            switch e.kind {
            case .outOfMemoryKill:
                let victim = d.processes.values.filter { $0.key.pid == e.pid }.max { $0.lastNanos < $1.lastNanos }
                let history = victim.flatMap { v in v.residentBytes.last.map { " (last seen at \(Format.bytes($0.v)) resident)" } } ?? ""
                out.findings.append(Finding(kind: .oomKill, severity: .critical, device: d.device, pid: e.pid, process: e.name,
                    summary: "the kernel's OOM killer killed pid \(e.pid) (\(e.name))\(history)", evidence: evidence,
                    details: ["the kernel's log says so"],
                    fix: "find what grew before the kill (the other findings for this pid), or give the device more memory", confidence: .high))
            case .outOfMemoryVictim:
                out.findings.append(Finding(kind: .oomKill, severity: .critical, device: d.device, pid: e.pid, process: e.name,
                    summary: "the OOM killer chose pid \(e.pid) (\(e.name))", evidence: evidence, details: ["the kernel's log says so"],
                    fix: "find what grew before the kill, or give the device more memory", confidence: .high))
            case .segfault:
                out.findings.append(Finding(kind: .segfault, severity: .warning, device: d.device, pid: e.pid, process: e.name,
                    summary: "pid \(e.pid) (\(e.name)) crashed with a segmentation fault", evidence: [:], details: ["the kernel's log says so"],
                    fix: "run it under a debugger or with core dumps on; the kernel line gives the faulting address", confidence: .high))
            }
        }
        return out
    }
}
