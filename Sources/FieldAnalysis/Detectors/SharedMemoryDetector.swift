/// `shm-leak`: shared memory mappings (SysV, memfd, POSIX shm, device mappings) keep being added.
public struct SharedMemoryDetector: Detector {
    public let name = "shared-memory"
    public init() {}

    public func inspect(_ d: DeviceTimeline, _ c: AnalysisContext) -> DetectorOutput {
        ProcessGrowth.scan(d, c, minimumChange: 3, { $0.sharedMappings }) { p, v, s in
            var f = ProcessGrowth.finding(.shmLeak, v, s, key: "mappings", process: p, device: d,
                rate: ProcessGrowth.countRate(ProcessGrowth.growth(v)) + " mappings",
                summary: "shared memory is attached and never detached: \(Format.count(s.first?.v ?? 0)) -> \(Format.count(s.last?.v ?? 0)) "
                    + "mappings (\(Format.bytes(p.sharedBytes.last?.v ?? 0)))",
                fix: "shmdt (SysV) or munmap (memfd, /dev/shm) what is no longer used, and remove segments with IPC_RMID")
            f.evidence["bytes_end"] = p.sharedBytes.last?.v ?? 0
            return f
        }
    }
}
