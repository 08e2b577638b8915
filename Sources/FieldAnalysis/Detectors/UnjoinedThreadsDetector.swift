/// `thread-leak.unjoined`: stack-like regions beyond the live threads and beyond what the C library keeps for
/// reuse. Either they keep growing (joinable threads end and are never joined, now), or there are so many
/// already, held through the window, that no stack cache explains them (the threads ended before sampling began).
public struct UnjoinedThreadsDetector: Detector {
    public let name = "unjoined-threads"
    public init() {}

    /// Static evidence: at least this many stacks nobody joined, beyond what the C library's stack cache may hold.
    static let staticMinimumStacks = 16.0

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        var out = DetectorOutput()
        for p in c.suspects(d) {
            guard let space = p.lastSpace, let last = p.unjoinedStacks.last?.v else { continue }
            let stack = Double(space.typicalStackSize)
            let allowance = Double(space.stackCacheAllowance)
            let held = last * stack
            let fix = "call pthread_join on every joinable thread, or create them detached (pthread_detach)"
            if let v = LeakEvidence.judge(p.unjoinedStacks, minimumChange: 5, process: p, device: d, c) {
                let g = ProcessGrowth.growth(v)
                // Growth inside the stack cache's allowance may be the cache filling (it levels off), unless it
                // keeps rising clearly.
                guard held > allowance || g.whole.z >= 3 else { continue }
                var f = ProcessGrowth.finding(.threadLeakUnjoined, v, p.unjoinedStacks, key: "stacks", process: p, device: d,
                    rate: ProcessGrowth.countRate(g) + " stacks",
                    summary: "joinable threads end without pthread_join: \(Format.count(last)) stacks of \(Format.bytes(stack)) "
                        + "never freed (\(Format.count(p.unjoinedStacks.first?.v ?? 0)) at start), \(Format.count(p.threads.last?.v ?? 0)) live thread(s)",
                    fix: fix)
                f.evidence["stack_bytes"] = stack
                f.evidence["virtual_end"] = Double(space.virtualBytes)
                out.findings.append(f)
                continue
            }
            // Static: many stacks held through the window, far beyond any cache.
            let minimum = p.unjoinedStacks.minimum
            guard p.unjoinedStacks.count >= 2, stack > 0, minimum >= Self.staticMinimumStacks,
                  minimum * stack - allowance >= Self.staticMinimumStacks * stack, d.alive(p) else { continue }
            out.findings.append(Finding(kind: .threadLeakUnjoined, severity: .warning, device: d.device, pid: p.key.pid, process: p.name,
                summary: "\(Format.count(last)) stacks of \(Format.bytes(stack)) (\(Format.bytes(held))) belong to threads that ended and "
                    + "were never joined, with \(Format.count(p.threads.last?.v ?? 0)) live thread(s), in pid \(p.key.pid) (\(p.name))",
                evidence: ["stacks_end": last, "stacks_min": minimum, "stack_bytes": stack, "held_bytes": held,
                           "cache_allowance_bytes": allowance, "virtual_end": Double(space.virtualBytes), "points": Double(p.unjoinedStacks.count)],
                details: ["static evidence: at least \(Format.count(minimum)) stack-like regions beyond the live threads in each of "
                    + "\(p.unjoinedStacks.count) reads of the layout, \(Format.bytes(minimum * stack - allowance)) more than the C library "
                    + "keeps for reuse (\(Format.bytes(allowance))); the threads ended before or during sampling"],
                fix: fix, confidence: .high))
        }
        return out
    }
}
