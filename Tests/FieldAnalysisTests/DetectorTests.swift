@testable import FieldAnalysis
import Glibc
import FieldBundle
import FieldModel
import Testing

/// Detectors on constructed timelines: layouts this machine cannot produce (32-bit, old kernels, musl).
@Suite struct DetectorTests {
    static func header(boot: String = "boot-1", device: String = "dev") -> BundleHeader {
        BundleHeader(agent: "t", backend: "linux", osIdentity: [], deviceID: device, bootID: boot, wallNanos: 0, monoNanos: 0,
            intervalNanos: 60_000_000_000, procRoot: "/proc", sequence: 0, plan: [])
    }

    static func hex(_ v: UInt64, width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// A maps text with `stacks` thread stacks of `stackSize` below `top`, each with a guard below it.
    static func maps(stacks: Int, stackSize: UInt64, guardSize: UInt64, top: UInt64, width: Int, labelled: Bool, heap: UInt64 = 1 << 20) -> String {
        var lines = ["\(hex(0x8000, width: width))-\(hex(0x9000, width: width)) r-xp 00000000 08:01 1234 /usr/bin/app",
                     "\(hex(0x10000, width: width))-\(hex(0x10000 + heap, width: width)) rw-p 00000000 00:00 0 [heap]"]
        var addr = top - UInt64(stacks) * (stackSize + guardSize)
        for i in 0..<stacks {
            lines.append("\(hex(addr, width: width))-\(hex(addr + guardSize, width: width)) ---p 00000000 00:00 0")
            let name = labelled ? " [stack:\(2000 + i)]" : ""
            lines.append("\(hex(addr + guardSize, width: width))-\(hex(addr + guardSize + stackSize, width: width)) rw-p 00000000 00:00 0\(name)")
            addr += stackSize + guardSize
        }
        lines.append("\(hex(top + 0x100000, width: width))-\(hex(top + 0x121000, width: width)) rw-p 00000000 00:00 0 [stack]")
        return lines.joined(separator: "\n") + "\n"
    }

    static func sample(_ seq: Int, pid: Int32 = 42, start: UInt64 = 1000, threads: Int, maps: String?, fds: Int = 4,
                       names: [String] = []) -> Sample {
        let minute: Int64 = 60_000_000_000
        var files = [
            FileCapture(path: "/proc/\(pid)/stat", bytes: Array("\(pid) (app) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 \(threads) 0 \(start) 104857600 100 0".utf8)),
            FileCapture(path: "/proc/\(pid)/status", bytes: Array("Name:\tapp\nThreads:\t\(threads)\nVmRSS:\t1000 kB\n".utf8)),
            FileCapture(path: "/proc/\(pid)/fd", kind: .directory, bytes: Array((0..<fds).map { "\($0)\n" }.joined().utf8)),
            FileCapture(path: "/proc/sys/kernel/threads-max", bytes: Array("7000\n".utf8)),
            FileCapture(path: "/proc/sys/vm/max_map_count", bytes: Array("65530\n".utf8)),
        ]
        if let m = maps { files.append(FileCapture(path: "/proc/\(pid)/maps", bytes: Array(m.utf8))) }
        for (i, n) in names.enumerated() {
            files.append(FileCapture(path: "/proc/\(pid)/task/\(Int(pid) + i)/comm", bytes: Array("\(n)\n".utf8)))
        }
        return Sample(sequence: UInt64(seq), wallNanos: Int64(seq) * minute, monoNanos: UInt64(seq) * 60_000_000_000, files: files)
    }

    func analyze(_ samples: [(Sample, BundleHeader)]) -> (findings: [Finding], quotas: [Quota], devices: [DeviceTimeline]) {
        var b = TimelineBuilder()
        for (s, h) in samples { b.add(sample: s, header: h) }
        let devices = Array(b.devices.values)
        let r = Analyzer().analyze(devices)
        return (r.findings, r.quotas, devices)
    }

    /// 32-bit ARM on a 3.x kernel: `[stack:TID]` labels, 8-digit addresses, 8 MiB stacks. The address space binds.
    @Test func thirtyTwoBitLabelledStacks() {
        let h = Self.header()
        let samples = (0..<12).map { i in
            (Self.sample(i, threads: 2, maps: Self.maps(stacks: 1 + i * 10, stackSize: 8 << 20, guardSize: 4096, top: 0xB000_0000, width: 8, labelled: true)), h)
        }
        let r = analyze(samples)
        let f = r.findings.first { $0.kind == .threadLeakUnjoined }
        #expect(f?.pid == 42)
        #expect(f?.evidence["stacks_end"] == 110)
        let q = r.quotas.first { $0.resource == "thread" }
        #expect(q?.binding == "address space", "\(String(describing: q))")
        #expect(q?.etaSeconds != nil)
    }

    /// musl: 128 KiB stacks with 8 KiB guards, recognised by layout alone (no labels).
    @Test func muslSizedStacksByLayout() {
        let h = Self.header()
        let samples = (0..<10).map { i in
            (Self.sample(i, threads: 1, maps: Self.maps(stacks: i * 3, stackSize: 128 << 10, guardSize: 8 << 10, top: 0x7f00_0000_0000, width: 12, labelled: false)), h)
        }
        let f = analyze(samples).findings.first { $0.kind == .threadLeakUnjoined }
        #expect(f?.evidence["stack_bytes"] == Double(128 << 10))
    }

    /// A pool whose stacks match its live threads is healthy, however many there are.
    @Test func fixedPoolIsNotALeak() {
        let h = Self.header()
        let samples = (0..<10).map { i in
            (Self.sample(i, threads: 9, maps: Self.maps(stacks: 8, stackSize: 8 << 20, guardSize: 4096, top: 0x7f00_0000_0000, width: 12, labelled: false),
                         names: Array(repeating: "worker", count: 8) + ["app"]), h)
        }
        #expect(analyze(samples).findings.filter { $0.kind.rawValue.hasPrefix("thread-leak") }.isEmpty)
    }

    /// The same pid reused by a new process is a new timeline, not a trend.
    @Test func pidReuseIsNotATrend() {
        let h = Self.header()
        var samples: [(Sample, BundleHeader)] = []
        for i in 0..<6 { samples.append((Self.sample(i, start: 1000, threads: 2, maps: nil, fds: 5), h)) }
        for i in 6..<12 { samples.append((Self.sample(i, start: 9000, threads: 40, maps: nil, fds: 60), h)) }
        let r = analyze(samples)
        #expect(r.devices[0].processes.count == 2)
        #expect(r.findings.filter { [.threadLeakGrowing, .fdLeak].contains($0.kind) }.isEmpty, "\(r.findings.map(\.kind))")
    }

    /// Growing threads name the name that multiplies.
    @Test func growingThreadsNameTheMultiplyingName() {
        let h = Self.header()
        let samples = (0..<10).map { i in (Self.sample(i, threads: 2 + i * 3, maps: nil, names: ["app", "io"] + Array(repeating: "reconnect", count: i * 3)), h) }
        let f = analyze(samples).findings.first { $0.kind == .threadLeakGrowing }
        #expect(f?.summary.contains("\"reconnect\"") == true, "\(String(describing: f?.summary))")
        #expect(f?.details.contains { $0.hasPrefix("reconnect: +27") } == true, "\(String(describing: f?.details))")
    }

    /// A reboot between bundles: two boots on record, processes of each boot kept apart.
    @Test func rebootBetweenBundles() {
        var samples: [(Sample, BundleHeader)] = []
        for i in 0..<5 { samples.append((Self.sample(i, start: 500, threads: 2, maps: nil), Self.header(boot: "boot-a"))) }
        for i in 5..<10 { samples.append((Self.sample(i, start: 500, threads: 2, maps: nil), Self.header(boot: "boot-b"))) }
        let r = analyze(samples)
        #expect(r.devices[0].boots == ["boot-a", "boot-b"])
        #expect(r.devices[0].processes.count == 2)  // same pid and start ticks, different boots
        #expect(Report.text(findings: r.findings, quotas: r.quotas, devices: r.devices, colour: false).contains("1 reboot"))
    }

    /// Sen's slope shrugs off an outlier that least squares would follow, and Mann-Kendall finds no trend in it.
    @Test func trendIgnoresOutliers() throws {
        var pts = (0..<20).map { (t: Double($0), v: 100.0) }
        pts[10].v = 10_000
        let tr = try #require(TrendTest(pts))
        #expect(tr.slope == 0)
        #expect(abs(tr.z) < 1)
        let rising = try #require(TrendTest((0..<20).map { (t: Double($0), v: Double($0) * 2) }))
        #expect(rising.slope == 2 && rising.slopeLow == 2 && rising.slopeHigh == 2)
        #expect(rising.z > 5)
        // Noise around a slope of 1: the interval holds the true slope and excludes 0.
        let wobble: [(t: Double, v: Double)] = (0..<60).map { i in
            let noise = Double((i * 37) % 11) - 5
            return (t: Double(i), v: Double(i) + noise)
        }
        let noisy = try #require(TrendTest(wobble))
        #expect(noisy.slopeLow < 1 && noisy.slopeHigh > 1 && noisy.slopeLow > 0, "\(noisy)")
    }
}

extension DetectorTests {
    static func systemSample(_ i: Int, minutes: Int64 = 1, memAvailableMiB: Int, slabMiB: Int?) -> Sample {
        var files = [FileCapture(path: "/proc/meminfo", bytes: Array("MemTotal:  1048576 kB\nMemFree:  100 kB\nMemAvailable:  \(memAvailableMiB * 1024) kB\n".utf8))]
        if let slab = slabMiB {
            let objects = slab * 1024  // 1 KiB objects
            files.append(FileCapture(path: "/proc/slabinfo", bytes: Array("""
                slabinfo - version: 2.1
                # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
                kmalloc-1k        \(objects)   \(objects)   1024    8    2 : tunables    0    0    0 : slabdata   10   10      0
                dentry             1000   1000    192   21    1 : tunables    0    0    0 : slabdata   48   48      0

                """.utf8)))
        }
        return Sample(sequence: UInt64(i), wallNanos: Int64(i) * minutes * 60_000_000_000, monoNanos: UInt64(i) * 60_000_000_000, files: files)
    }

    @Test func slabCacheGrowthIsFound() {
        let h = Self.header()
        let r = analyze((0..<10).map { (Self.systemSample($0, memAvailableMiB: 900, slabMiB: 10 + $0 * 2), h) })
        let f = r.findings.first { $0.kind == .slabGrowth }
        #expect(f?.summary.contains("kmalloc-1k") == true)
        #expect(!r.findings.contains { $0.kind == .slabGrowth && $0.details == ["dentry"] })
    }

    @Test func memoryPressureForecastsWhenAvailableMemoryRunsOut() {
        let h = Self.header()
        // 1 GiB machine losing 20 MiB a minute from 900 MiB: 720 MiB left after ten samples, 36 minutes to go.
        let r = analyze((0..<10).map { (Self.systemSample($0, memAvailableMiB: 900 - $0 * 20, slabMiB: nil), h) })
        let f = r.findings.first { $0.kind == .memoryPressure }
        #expect(f?.severity == .critical)
        let eta = f?.evidence["eta_seconds"] ?? 0
        #expect(abs(eta - 36 * 60) < 1, "eta \(eta)")
        #expect(r.quotas.contains { $0.resource == "memory" && $0.scope == "system" && $0.binding == "memory total" })
        // A flat machine: no finding.
        let flat = analyze((0..<10).map { (Self.systemSample($0, memAvailableMiB: 900 - ($0 % 2) * 5, slabMiB: nil), h) })
        #expect(!flat.findings.contains { $0.kind == .memoryPressure })
    }

    @Test func gapsAndTimeWindows() {
        let h = Self.header()
        // Samples every minute, with a 30-minute hole after the fifth.
        var samples: [(Sample, BundleHeader)] = []
        for i in 0..<5 { samples.append((Self.systemSample(i, memAvailableMiB: 900, slabMiB: nil), h)) }
        for i in 35..<40 { samples.append((Self.systemSample(i, memAvailableMiB: 900, slabMiB: nil), h)) }
        let r = analyze(samples)
        #expect(r.devices[0].gaps.count == 1)
        #expect(r.devices[0].gaps[0].seconds == 31 * 60)
        #expect(Report.text(findings: r.findings, quotas: r.quotas, devices: r.devices, colour: false).contains("1 gap(s)"))
        var b = TimelineBuilder(since: 10 * 60_000_000_000, until: 37 * 60_000_000_000)
        for (s, hd) in samples { b.add(sample: s, header: hd) }
        #expect(b.devices["dev"]?.sampleTimes.count == 3)  // minutes 35, 36, 37
    }
}

extension DetectorTests {
    /// A process that both leaks joinable threads and keeps more alive gets both findings.
    @Test func bothThreadLeaksInOneProcess() {
        let h = Self.header()
        let samples = (0..<10).map { i in
            (Self.sample(i, threads: 2 + i * 3, maps: Self.maps(stacks: 1 + i * 6, stackSize: 8 << 20, guardSize: 4096, top: 0x7f00_0000_0000, width: 12, labelled: false)), h)
        }
        let kinds = Set(analyze(samples).findings.filter { $0.pid == 42 }.map(\.kind))
        #expect(kinds.isSuperset(of: [.threadLeakUnjoined, .threadLeakGrowing]), "\(kinds)")
    }

    /// The whole system's tasks (loadavg) against threads-max, which binds before pid_max here.
    @Test func systemThreadQuotaFromLoadavg() {
        let h = Self.header()
        let samples = (0..<10).map { i -> (Sample, BundleHeader) in
            var s = Self.sample(i, threads: 2, maps: nil)
            s.files.append(FileCapture(path: "/proc/loadavg", bytes: Array("0.10 0.20 0.30 1/\(6000 + i * 100) 999\n".utf8)))
            s.files.append(FileCapture(path: "/proc/sys/kernel/pid_max", bytes: Array("32768\n".utf8)))
            return (s, h)
        }
        let r = analyze(samples)
        let q = r.quotas.first { $0.scope == "system" && $0.resource == "thread" }
        #expect(q?.binding == "kernel.threads-max" && q?.limit == 7000 && q?.used == 6900)
        #expect(abs((q?.etaSeconds ?? 0) - 60) < 1)  // 100 tasks a minute, 100 to go
        #expect(r.findings.contains { $0.kind == .quotaForecast && $0.pid == nil })
    }

    /// Bundles given newest first are joined in time order.
    @Test func samplesAreJoinedInTimeOrder() {
        let h = Self.header()
        var b = TimelineBuilder()
        for i in (0..<8).reversed() { b.add(sample: Self.sample(i, threads: 2 + i * 3, maps: nil), header: h) }
        b.finish()
        let d = b.devices["dev"]!
        #expect(d.sampleTimes == d.sampleTimes.sorted())
        let r = Analyzer().analyze([d])
        #expect(r.findings.contains { $0.kind == .threadLeakGrowing })
    }
}

extension DetectorTests {
    /// A heap that grows in a glibc arena (another thread's malloc) is a heap leak, not anonymous growth.
    @Test func arenaGrowthIsAHeapLeak() {
        let h = Self.header()
        let samples = (0..<10).map { i -> (Sample, BundleHeader) in
            let used: UInt64 = (1 << 20) * UInt64(1 + i * 2)  // 1 MiB -> 19 MiB used of a 64 MiB arena block
            let base: UInt64 = 0x7f10_0000_0000  // 64 MiB aligned
            let arena = "\(Self.hex(base, width: 12))-\(Self.hex(base + used, width: 12)) rw-p 00000000 00:00 0\n"
                + "\(Self.hex(base + used, width: 12))-\(Self.hex(base + (64 << 20), width: 12)) ---p 00000000 00:00 0\n"
            let maps = Self.maps(stacks: 1, stackSize: 8 << 20, guardSize: 4096, top: 0x7f00_0000_0000, width: 12, labelled: false) + arena
            return (Self.sample(i, threads: 2, maps: maps), h)
        }
        let kinds = analyze(samples).findings.map(\.kind)
        #expect(kinds.contains(.heapLeak), "\(kinds)")
        #expect(!kinds.contains(.anonGrowth))
    }

    /// An OOM kill in the kernel log becomes a critical finding about its victim, with the victim's history.
    @Test func oomKillFromTheKernelLog() throws {
        let dir = "/tmp/field-oom-\(getpid())"
        mkdir(dir, 0o755)
        defer { unlink(dir + "/o.zst"); rmdir(dir) }
        let w = try BundleWriter(path: dir + "/o.zst", header: Self.header())
        for i in 0..<3 { try w.append(Self.sample(i, threads: 2, maps: nil)) }
        try w.append(EventBatch(wallNanos: 3 * 60_000_000_000, monoNanos: 0, source: "/dev/kmsg", lines: [
            Array("3,812,123456789,-;Out of memory: Killed process 42 (app) total-vm:2097152kB, anon-rss:1048576kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4096kB oom_score_adj:0".utf8)
        ]))
        try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        var b = TimelineBuilder()
        b.add(try BundleReader(path: dir + "/o.zst"))
        let r = Analyzer().analyze(Array(b.devices.values))
        let f = try #require(r.findings.first { $0.kind == .oomKill })
        #expect(f.pid == 42 && f.severity == .critical && f.process == "app")
        #expect(f.evidence["anon_rss_bytes"] == 1_073_741_824)
        #expect(f.summary.contains("last seen at"))
        #expect(r.findings.first?.kind == .oomKill || r.findings.first?.severity == .critical)
    }
}

extension DetectorTests {
    static func sylixSample(_ i: Int, threadUsed: Int, threadMax: Int, total: Int = 500) -> Sample {
        let objects = "object      total    used     max-used\nevent       5000     238      240\n"
            + "thread      \(total)" + String(repeating: " ", count: 9 - String(total).count) + "\(threadUsed)"
            + String(repeating: " ", count: 9 - String(threadUsed).count) + "\(threadMax)\n"
        return Sample(sequence: UInt64(i), wallNanos: Int64(i) * 60_000_000_000, monoNanos: UInt64(i) * 60_000_000_000, files: [
            FileCapture(path: "/proc/kernel/objects", bytes: Array(objects.utf8)),
            FileCapture(path: "/proc/3/mem", bytes: Array("static memory : 4096 Bytes\nheap memory   : \(1_000_000 + i * 500_000) Bytes\nmmap memory   : 0 Bytes\ntotal memory  : \(1_004_096 + i * 500_000) Bytes".utf8)),
            FileCapture(path: "/proc/3/filedesc", bytes: Array(("FD NAME\n" + (0..<(3 + i * 4)).map { "\($0) /dev/null\n" }.joined()).utf8)),
        ])
    }

    static func sylixHeader() -> BundleHeader {
        BundleHeader(agent: "t", backend: "sylixos", osIdentity: Array("SylixOS kernel version: 2.3.8".utf8), deviceID: "plc", bootID: nil,
            wallNanos: 0, monoNanos: 0, intervalNanos: 60_000_000_000, procRoot: "/proc", sequence: 0, plan: [])
    }

    /// max-used == total is exhausted even in a single snapshot: the pool ran dry since boot.
    @Test func sylixPoolThatRanDryIsExhaustedInOneSnapshot() {
        let r = analyze([(Self.sylixSample(0, threadUsed: 200, threadMax: 500), Self.sylixHeader())])
        let f = r.findings.first { $0.kind == .quotaExhausted }
        #expect(f?.summary.contains("thread") == true && f?.severity == .critical)
        #expect(r.quotas.contains { $0.os == "sylixos" && $0.resource == "event" && $0.limit == 5000 && $0.peak == 240 })
    }

    /// A rising thread pool is forecast to run out: 10 more a minute, 300 to go -> 30 minutes.
    @Test func sylixRisingPoolIsForecast() {
        let r = analyze((0..<10).map { (Self.sylixSample($0, threadUsed: 110 + $0 * 10, threadMax: 110 + $0 * 10), Self.sylixHeader()) })
        let q = r.quotas.first { $0.resource == "thread" }
        #expect(abs((q?.etaSeconds ?? 0) - 30 * 60) < 1, "\(String(describing: q))")
        #expect(r.findings.contains { $0.kind == .quotaForecast && $0.summary.contains("thread") })
        // Per-process memory and descriptor growth, like on Linux.
        let kinds = Set(r.findings.filter { $0.pid == 3 }.map(\.kind))
        #expect(kinds.isSuperset(of: [.heapLeak, .fdLeak]), "\(kinds)")
    }
}

extension DetectorTests {
    /// The seeds' canonical case: 100 joinable threads ended and were never joined before the agent started. Flat
    /// during the window, and still a leak: 800 MiB of stacks with one live thread.
    @Test func unjoinedStacksThatEndedBeforeSamplingAreNamed() throws {
        let h = Self.header()
        let samples = (0..<10).map { i in
            (Self.sample(i, threads: 1, maps: Self.maps(stacks: 100, stackSize: 8 << 20, guardSize: 4096, top: 0x7f00_0000_0000, width: 12, labelled: false)), h)
        }
        let f = try #require(analyze(samples).findings.first { $0.kind == .threadLeakUnjoined })
        #expect(f.pid == 42 && f.confidence == .high && f.evidence["stacks_end"] == 100)
        #expect(f.details.first?.hasPrefix("static evidence") == true)
    }

    /// Healthy twins of that case: glibc's cache of joined stacks (5 of 8 MiB, its 40 MiB), and small stacks a
    /// glibc cache could hold; on musl (no cache) the same small stacks are a leak.
    @Test func stackCachesAreNotUnjoinedLeaks() {
        let h = Self.header()
        func run(_ stacks: Int, _ size: UInt64, musl: Bool) -> [Finding] {
            let samples = (0..<10).map { i -> (Sample, BundleHeader) in
                var m = Self.maps(stacks: stacks, stackSize: size, guardSize: 4096, top: 0x7f00_0000_0000, width: 12, labelled: false)
                if musl { m = "7f0000001000-7f0000002000 r-xp 00000000 08:01 77 /lib/ld-musl-x86_64.so.1\n" + m }
                return (Self.sample(i, threads: 1, maps: m), h)
            }
            return analyze(samples).findings.filter { $0.kind == .threadLeakUnjoined }
        }
        #expect(run(5, 8 << 20, musl: false).isEmpty)
        #expect(run(100, 128 << 10, musl: false).isEmpty)
        #expect(run(100, 128 << 10, musl: true).count == 1)
    }

    /// A process at `vm.max_map_count`: exhausted, the binding limit and the cause named, the thread ceiling it
    /// sets not repeated as a second finding.
    @Test func mapCountAtItsLimitIsExhaustedWithItsCause() throws {
        let h = Self.header()
        let samples = (0..<10).map { i -> (Sample, BundleHeader) in
            var s = Self.sample(i, threads: 1, maps: Self.maps(stacks: 60 + i * 5, stackSize: 8 << 20, guardSize: 4096, top: 0x7f00_0000_0000, width: 12, labelled: false))
            s.files = s.files.map { $0.path.hasSuffix("max_map_count") ? FileCapture(path: $0.path, bytes: Array("200\n".utf8)) : $0 }
            return (s, h)
        }
        let r = analyze(samples)
        let exhausted = r.findings.filter { $0.kind == .quotaExhausted }
        #expect(exhausted.count == 1, "\(exhausted.map(\.summary))")
        let f = try #require(exhausted.first)
        #expect(f.summary.contains("map_count") && f.summary.contains("vm.max_map_count"), "\(f.summary)")
        #expect(f.details.contains("cause: thread-leak.unjoined"), "\(f.details)")
        #expect(f.details.contains { $0.hasPrefix("mappings by class: thread stacks") }, "\(f.details)")
        #expect(r.findings.contains { $0.kind == .threadLeakUnjoined && $0.pid == 42 })
    }
}
