import FieldAnalysis
import FieldBundle
import FieldModel
import FieldSoak
import Testing

/// Long soaks in simulated time (tools/soak): slow leaks under noise are named early, and their healthy twins
/// (warm-up ramps, bounded caches, pools growing to their size, short-lived workers, pid reuse, busy neighbours)
/// never are, over 24 hours and 7 days.
@Suite struct SoakTests {
    /// Analysis of the first `minutes` of a scenario (every sample goes through the Linux backend's interpreter).
    static func analyze(_ s: Scenario, minutes: Double? = nil, capacity: Int = Series.defaultCapacity)
        -> (findings: [Finding], quotas: [Quota], device: DeviceTimeline)
    {
        analyze(s, minutes: minutes, capacities: [capacity])[0]
    }

    /// One rendering of the scenario analysed once per reservoir capacity.
    static func analyze(_ s: Scenario, minutes: Double? = nil, capacities: [Int])
        -> [(findings: [Finding], quotas: [Quota], device: DeviceTimeline)]
    {
        let r = SoakRenderer(s)
        let runs = r.runs
        let h = r.header()
        let header = BundleHeader(agent: "fieldsoak", backend: h.backend, osIdentity: [], deviceID: h.device, bootID: "soak-boot",
            wallNanos: h.wallNanos, monoNanos: 0, intervalNanos: h.intervalNanos, procRoot: "/proc", sequence: 0, plan: [])
        // The unbounded run keeps every process too.
        var builders = capacities.map { TimelineBuilder(seriesCapacity: $0, foldsEndedProcesses: $0 != Int.max) }
        let n = minutes.map { min(s.sampleCount, Int($0 * 60 / s.intervalSeconds) + 1) } ?? s.sampleCount
        for i in 0..<n {
            let sample = r.sample(i, runs: runs)
            for k in builders.indices { builders[k].add(sample: sample, header: header) }
        }
        return builders.map { b in
            var b = b
            b.finish()
            let d = b.devices[s.device]!
            let a = Analyzer().analyze([d])
            return (a.findings, a.quotas, d)
        }
    }

    /// Ordinary neighbours of a busy device: noisy, flat on average.
    static var neighbours: [SimulatedProcess] {
        (0..<6).map { k in
            var p = SimulatedProcess(name: "service\(k)", pid: Int32(300 + k))
            p.threads = Behaviour(base: Double(2 + k), noise: 1.4)
            p.heapBytes = Behaviour(base: Double(k + 1) * 4_194_304, noise: 1_048_576)
            p.anonymousBytes = Behaviour(base: 8_388_608, noise: 2_097_152)
            p.descriptors = Behaviour(base: 20, noise: 4)
            return p
        }
    }

    /// One unjoined 8 MiB stack a minute, and 64 KiB of heap a minute, under noise.
    static func slowLeaks(hours: Double, interval: Double = 10) -> Scenario {
        var stacks = SimulatedProcess(name: "slow-unjoined", pid: 100)
        stacks.threads = Behaviour(base: 4, noise: 1.4)
        stacks.unjoinedStacks = Behaviour(perMinute: 1, quantum: 1)
        var heap = SimulatedProcess(name: "slow-heap", pid: 101)
        heap.heapBytes = Behaviour(base: 8_388_608, perMinute: 65536, noise: 262_144)
        heap.threads = Behaviour(base: 3, noise: 1.4)
        return Scenario(device: "soak", intervalSeconds: interval, durationHours: hours, deepEvery: 6, seed: 7,
            processes: [stacks, heap] + neighbours)
    }

    /// The same sizes as warm-ups that level off within 10 minutes, a cache that fills to its bound in 20 minutes,
    /// a pool that grows to 17 threads in 5 minutes, short-lived growing workers, and a respawned worker that
    /// reuses its pid.
    static func twins(hours: Double, interval: Double = 10) -> Scenario {
        var ramp = SimulatedProcess(name: "warmup-heap", pid: 200)
        ramp.heapBytes = Behaviour(base: 8_388_608, ramp: 655_360 * 3, rampMinutes: 10, noise: 262_144)
        var threads = SimulatedProcess(name: "warmup-threads", pid: 201)
        threads.threads = Behaviour(base: 2, ramp: 10, rampMinutes: 10, quantum: 1)
        var cache = SimulatedProcess(name: "cache", pid: 202)
        cache.heapBytes = Behaviour(base: 4_194_304, ramp: 30 * 1_048_576, rampMinutes: 20, noise: 524_288)
        var pool = SimulatedProcess(name: "pool", pid: 203)
        pool.threads = Behaviour(base: 1, ramp: 16, rampMinutes: 5, quantum: 1)
        pool.descriptors = Behaviour(base: 5, ramp: 32, rampMinutes: 5, quantum: 1)
        var workers = SimulatedProcess(name: "worker", pid: 1000)
        workers.respawnMinutes = 2
        workers.lifeMinutes = 1.5
        workers.heapBytes = Behaviour(base: 1_048_576, perMinute: 50_000_000)
        workers.threads = Behaviour(base: 1, perMinute: 6, quantum: 1)
        var reused = SimulatedProcess(name: "respawned", pid: 900)
        reused.respawnMinutes = 20
        reused.lifeMinutes = 19
        reused.reusePID = true
        reused.heapBytes = Behaviour(base: 1_048_576, ramp: 4_194_304, rampMinutes: 2)
        return Scenario(device: "soak", intervalSeconds: interval, durationHours: hours, deepEvery: 6, seed: 11,
            processes: [ramp, threads, cache, pool, workers, reused] + neighbours)
    }

    @Test func slowLeaksUnderNoiseAreNamedWithin30Minutes() {
        let r = Self.analyze(Self.slowLeaks(hours: 0.5))
        #expect(r.findings.contains { $0.kind == .threadLeakUnjoined && $0.pid == 100 }, "\(r.findings.map(\.summary))")
        #expect(r.findings.contains { $0.kind == .heapLeak && $0.pid == 101 }, "\(r.findings.map(\.summary))")
        let others = r.findings.filter { $0.pid != 100 && $0.pid != 101 && $0.severity > .info }
        #expect(others.isEmpty, "\(others.map(\.summary))")
    }

    /// Analysed at half an hour, 2 hours and 24 hours (sampled every 10 s, every 30 s for the day).
    @Test(arguments: [0.5, 2.0, 24.0])
    func healthyTwinsAreNeverNamed(hours: Double) {
        let r = Self.analyze(Self.twins(hours: hours, interval: hours > 2 ? 30 : 10))
        let named = r.findings.filter { $0.severity > .info }
        #expect(named.isEmpty, "after \(hours) h: \(named.map { "\($0.kind.rawValue) \($0.process ?? "-"): \($0.summary)" })")
    }

    /// A week at one sample every five minutes: the leaks are named with high confidence, the twins are not, and memory stays
    /// bounded (every series keeps at most its capacity of points).
    @Test func aWeekLongSoak() throws {
        var s = Self.slowLeaks(hours: 7 * 24, interval: 300)
        s.processes += Self.twins(hours: 7 * 24, interval: 300).processes.filter { !$0.name.hasPrefix("service") }
        s.deepEvery = 2
        s.processes[0].unjoinedStacks = Behaviour(perMinute: 0.02, quantum: 1)  // one stack every 50 minutes: 201 in the week
        let r = Self.analyze(s)
        let unjoined = try #require(r.findings.first { $0.kind == .threadLeakUnjoined && $0.pid == 100 })
        #expect(unjoined.confidence == .high)
        let heap = try #require(r.findings.first { $0.kind == .heapLeak && $0.pid == 101 })
        #expect(heap.confidence == .high)
        #expect(abs((heap.evidence["heap_per_hour"] ?? 0) - 65536 * 60) < 0.1 * 65536 * 60, "\(heap.evidence)")
        // The heap leak fills the simulated 1 GiB within the week: memory pressure is its consequence, and true.
        let wrong = r.findings.filter { $0.severity > .info && $0.pid != 100 && $0.pid != 101 && $0.kind != .memoryPressure }
        #expect(wrong.isEmpty, "\(wrong.map(\.summary))")
        for p in r.device.processes.values {
            for series in [p.heapBytes, p.threads, p.residentBytes, p.unjoinedStacks] { #expect(series.times.count <= series.capacity) }
        }
    }

    /// Bounded memory changes no verdict: every finding (kind, process, severity, confidence) and which quota runs
    /// out first are those of a run that keeps every point, on a day sampled every minute and a week sampled every
    /// 10 minutes, with the default reservoirs and with reservoirs of 256 points (which halve three times).
    @Test(arguments: [(24.0, 60.0), (7 * 24.0, 600.0)])
    func boundedSeriesGiveTheVerdictsOfUnboundedOnes(hours: Double, interval: Double) {
        var s = Self.slowLeaks(hours: hours, interval: interval)
        s.processes += Self.twins(hours: hours, interval: interval).processes.filter { !$0.name.hasPrefix("service") }
        s.processes[0].unjoinedStacks = Behaviour(perMinute: 0.02, quantum: 1)
        s.deepEvery = 2  // the layout's series (heap, stacks) fill the small reservoirs too
        let runs = Self.analyze(s, capacities: [256, Int.max, Series.defaultCapacity])
        let (bounded, unbounded, standard) = (runs[0], runs[1], runs[2])
        #expect(bounded.device.processes.values.contains { $0.heapBytes.stride >= 2 && $0.threads.stride >= 4 }, "the reservoirs never filled: nothing compared")
        #expect(unbounded.device.processes.values.allSatisfy { $0.heapBytes.stride == 1 })
        #expect(standard.device.retired["worker"]?.count ?? 0 > 100, "short-lived workers were not folded: \(standard.device.retired)")
        #expect(unbounded.device.retired.isEmpty)
        #expect(standard.device.processCount == unbounded.device.processCount)
        func verdicts(_ f: [Finding]) -> [String] {
            f.map { "\($0.kind.rawValue) \($0.pid.map { String($0) } ?? "-") \($0.severity) \($0.confidence)" }.sorted()
        }
        #expect(verdicts(bounded.findings) == verdicts(unbounded.findings))
        #expect(verdicts(standard.findings) == verdicts(unbounded.findings))
        #expect(!bounded.findings.isEmpty)
        func first(_ q: [Quota]) -> String? {
            q.filter { $0.etaSeconds != nil }.min { $0.etaSeconds! < $1.etaSeconds! }.map { "\($0.resource) \($0.pid.map { String($0) } ?? "-")" }
        }
        #expect(first(bounded.quotas) == first(unbounded.quotas))
        #expect(Set(standard.quotas.map { "\($0.resource) \($0.pid.map { String($0) } ?? "-") \($0.evidence ?? "")" })
                == Set(unbounded.quotas.map { "\($0.resource) \($0.pid.map { String($0) } ?? "-") \($0.evidence ?? "")" }))
    }
}
