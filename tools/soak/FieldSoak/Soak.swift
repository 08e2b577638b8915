import FieldModel

/// A soak test in simulated time: a device, its processes and how each value of each process behaves, rendered as
/// the Linux captures the agent would have read. Long soaks (24 h, 7 days) are tested in seconds.
///
/// Every value follows `Behaviour`: a base, a steady rate, a ramp that levels off, deterministic noise, a quantum.
/// Processes may start late, end early, and be respawned (short-lived workers; pid reuse).
public struct Scenario: Sendable, Codable {
    /// Device id in the bundle headers.
    public var device: String = "soak"
    /// Sampling interval, seconds.
    public var intervalSeconds: Double = 10
    /// Length of the soak, hours.
    public var durationHours: Double = 1
    /// Deep files (maps, limits, thread names) every this many samples.
    public var deepEvery: Int = 6
    /// Seed of the noise.
    public var seed: UInt64 = 1
    /// Simulated wall clock of the first sample, Unix seconds.
    public var startEpoch: Double = 1_790_000_000
    /// The processes.
    public var processes: [SimulatedProcess] = []

    enum CodingKeys: String, CodingKey {
        case device, seed, processes
        case intervalSeconds = "interval_seconds"
        case durationHours = "duration_hours"
        case deepEvery = "deep_every"
        case startEpoch = "start_epoch"
    }

    /// A scenario.
    public init(device: String = "soak", intervalSeconds: Double = 10, durationHours: Double = 1, deepEvery: Int = 6, seed: UInt64 = 1,
                processes: [SimulatedProcess] = []) {
        self.device = device
        self.intervalSeconds = intervalSeconds
        self.durationHours = durationHours
        self.deepEvery = deepEvery
        self.seed = seed
        self.processes = processes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        device = try c.decodeIfPresent(String.self, forKey: .device) ?? "soak"
        intervalSeconds = try c.decodeIfPresent(Double.self, forKey: .intervalSeconds) ?? 10
        durationHours = try c.decodeIfPresent(Double.self, forKey: .durationHours) ?? 1
        deepEvery = try c.decodeIfPresent(Int.self, forKey: .deepEvery) ?? 6
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        startEpoch = try c.decodeIfPresent(Double.self, forKey: .startEpoch) ?? 1_790_000_000
        processes = try c.decodeIfPresent([SimulatedProcess].self, forKey: .processes) ?? []
    }

    /// Samples in the soak.
    public var sampleCount: Int { Int((durationHours * 3600 / intervalSeconds).rounded(.down)) + 1 }
}

/// How one value moves over a process's life (minutes since it started).
public struct Behaviour: Sendable, Codable {
    /// Value at start.
    public var base: Double = 0
    /// Steady change per minute (a leak).
    public var perMinute: Double = 0
    /// Extra value reached by a ramp...
    public var ramp: Double = 0
    /// ...over this many minutes, then flat (a warm-up, a cache filling to its bound, a pool growing to its size).
    public var rampMinutes: Double = 0
    /// Uniform noise of this amplitude (plus or minus), drawn per sample.
    public var noise: Double = 0
    /// The value moves in steps of this size (a whole stack, a 64 KiB block); 0: continuous.
    public var quantum: Double = 0

    enum CodingKeys: String, CodingKey {
        case base, ramp, noise, quantum
        case perMinute = "per_minute"
        case rampMinutes = "ramp_minutes"
    }

    /// A behaviour.
    public init(base: Double = 0, perMinute: Double = 0, ramp: Double = 0, rampMinutes: Double = 0, noise: Double = 0, quantum: Double = 0) {
        self.base = base
        self.perMinute = perMinute
        self.ramp = ramp
        self.rampMinutes = rampMinutes
        self.noise = noise
        self.quantum = quantum
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        base = try c.decodeIfPresent(Double.self, forKey: .base) ?? 0
        perMinute = try c.decodeIfPresent(Double.self, forKey: .perMinute) ?? 0
        ramp = try c.decodeIfPresent(Double.self, forKey: .ramp) ?? 0
        rampMinutes = try c.decodeIfPresent(Double.self, forKey: .rampMinutes) ?? 0
        noise = try c.decodeIfPresent(Double.self, forKey: .noise) ?? 0
        quantum = try c.decodeIfPresent(Double.self, forKey: .quantum) ?? 0
    }

    /// The value `minutes` into the process's life, with noise `u` in [-1, 1].
    func value(_ minutes: Double, _ u: Double) -> Double {
        var v = perMinute * minutes
        if ramp != 0 { v += rampMinutes > 0 ? ramp * min(1, minutes / rampMinutes) : ramp }
        if quantum > 0 { v = (v / quantum).rounded(.down) * quantum }
        return max(0, base + v + noise * u)
    }
}

/// One simulated process (or, with `respawnMinutes`, a worker started again and again).
public struct SimulatedProcess: Sendable, Codable {
    public var name: String
    public var pid: Int32
    /// Minutes into the soak when it starts.
    public var startMinutes: Double = 0
    /// How long it lives, minutes (nil: to the end).
    public var lifeMinutes: Double?
    /// Started again this many minutes after each start (a short-lived worker); each run a new process.
    public var respawnMinutes: Double?
    /// Reuse the same pid for every respawn (pid reuse), instead of pid, pid + 1, ...
    public var reusePID: Bool = false
    /// Live threads.
    public var threads = Behaviour(base: 1)
    /// Stacks of threads that ended and were never joined.
    public var unjoinedStacks = Behaviour()
    /// Thread stack size, bytes.
    public var stackBytes: Double = 8 * 1_048_576
    /// `[heap]` bytes.
    public var heapBytes = Behaviour(base: 1_048_576)
    /// Other private anonymous bytes.
    public var anonymousBytes = Behaviour()
    /// SysV shared memory segments attached.
    public var sharedSegments = Behaviour()
    /// Open descriptors.
    public var descriptors = Behaviour(base: 4)
    /// Resident bytes beyond heap and anonymous memory.
    public var residentBase: Double = 2 * 1_048_576
    /// Shared libraries mapped (five `maps` lines each).
    public var libraries: Int = 12
    /// Fraction of samples in which it ran since the previous one (its CPU times and context switches move, so
    /// its `stat` and `status` differ from the previous capture).
    public var activity: Double = 0.3
    /// Identical processes started together, at pids `pid` ... `pid + copies - 1` (respawns step by `copies`).
    public var copies: Int = 1

    enum CodingKeys: String, CodingKey {
        case name, pid, threads, descriptors
        case startMinutes = "start_minutes"
        case lifeMinutes = "life_minutes"
        case respawnMinutes = "respawn_minutes"
        case reusePID = "reuse_pid"
        case unjoinedStacks = "unjoined_stacks"
        case stackBytes = "stack_bytes"
        case heapBytes = "heap_bytes"
        case anonymousBytes = "anonymous_bytes"
        case sharedSegments = "shared_segments"
        case residentBase = "resident_base"
        case libraries, activity, copies
    }

    /// A process named `name` at `pid`.
    public init(name: String, pid: Int32) {
        self.name = name
        self.pid = pid
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        pid = try c.decode(Int32.self, forKey: .pid)
        startMinutes = try c.decodeIfPresent(Double.self, forKey: .startMinutes) ?? 0
        lifeMinutes = try c.decodeIfPresent(Double.self, forKey: .lifeMinutes)
        respawnMinutes = try c.decodeIfPresent(Double.self, forKey: .respawnMinutes)
        reusePID = try c.decodeIfPresent(Bool.self, forKey: .reusePID) ?? false
        threads = try c.decodeIfPresent(Behaviour.self, forKey: .threads) ?? Behaviour(base: 1)
        unjoinedStacks = try c.decodeIfPresent(Behaviour.self, forKey: .unjoinedStacks) ?? Behaviour()
        stackBytes = try c.decodeIfPresent(Double.self, forKey: .stackBytes) ?? 8 * 1_048_576
        heapBytes = try c.decodeIfPresent(Behaviour.self, forKey: .heapBytes) ?? Behaviour(base: 1_048_576)
        anonymousBytes = try c.decodeIfPresent(Behaviour.self, forKey: .anonymousBytes) ?? Behaviour()
        sharedSegments = try c.decodeIfPresent(Behaviour.self, forKey: .sharedSegments) ?? Behaviour()
        descriptors = try c.decodeIfPresent(Behaviour.self, forKey: .descriptors) ?? Behaviour(base: 4)
        residentBase = try c.decodeIfPresent(Double.self, forKey: .residentBase) ?? 2 * 1_048_576
        libraries = try c.decodeIfPresent(Int.self, forKey: .libraries) ?? 12
        activity = try c.decodeIfPresent(Double.self, forKey: .activity) ?? 0.3
        copies = max(1, try c.decodeIfPresent(Int.self, forKey: .copies) ?? 1)
    }
}

/// Renders a scenario as samples of Linux captures.
public struct SoakRenderer: Sendable {
    public let scenario: Scenario

    /// A renderer for `scenario`.
    public init(_ scenario: Scenario) { self.scenario = scenario }

    /// One run of a process: its pid, start and end (minutes into the soak).
    public struct Run: Sendable {
        public var process: Int
        public var pid: Int32
        public var start: Double
        public var end: Double
    }

    /// Every run of every process (each copy of it, each respawn).
    public var runs: [Run] {
        let total = scenario.durationHours * 60
        var out: [Run] = []
        for (i, p) in scenario.processes.enumerated() {
            for copy in 0..<Int32(max(1, p.copies)) {
                var start = p.startMinutes
                var n: Int32 = 0
                repeat {
                    let end = min(total + 1, p.lifeMinutes.map { start + $0 } ?? total + 1)
                    let pid = p.pid + copy + (p.reusePID ? 0 : n * Int32(max(1, p.copies)))
                    out.append(Run(process: i, pid: pid, start: start, end: end))
                    n += 1
                    guard let every = p.respawnMinutes, every > 0 else { break }
                    start += every
                } while start <= total
            }
        }
        return out
    }

    /// The bundle header for a soak starting at the scenario's start epoch.
    public func header(sequence: UInt64 = 0, atMinute minute: Double = 0) -> (backend: String, device: String, wallNanos: Int64, intervalNanos: UInt64) {
        ("linux", scenario.device, Int64((scenario.startEpoch + minute * 60) * 1e9), UInt64(scenario.intervalSeconds * 1e9))
    }

    /// Sample `i` (0-based), with its captures: the files the Linux agent reads, at their real sizes (every key of
    /// `status`, every field of `stat`, the libraries in `maps`, the system's `meminfo`, `vmstat` and `slabinfo`),
    /// so that what analysis reads per sample is what a device gives it.
    public func sample(_ i: Int, runs: [Run]) -> Sample {
        let minute = Double(i) * scenario.intervalSeconds / 60
        let deep = scenario.deepEvery <= 1 || i % scenario.deepEvery == 0
        let wall = Int64((scenario.startEpoch + minute * 60) * 1e9)
        var files: [FileCapture] = []
        var tasks = 60.0
        var rss = 0.0
        var procFiles: [FileCapture] = []
        procFiles.reserveCapacity(runs.count * (deep ? 12 : 4))
        var t = Text()
        for r in runs where r.start <= minute && minute < r.end {
            let p = scenario.processes[r.process]
            let age = minute - r.start
            var rng = Noise(scenario.seed ^ UInt64(UInt32(bitPattern: r.pid)) &* 0x9E37_79B9 ^ UInt64(r.start * 1000) ^ UInt64(i) &* 0xBF58_476D_1CE4_E5B9)
            let threads = max(1, p.threads.value(age, rng.next()).rounded())
            let unjoined = p.unjoinedStacks.value(age, rng.next()).rounded()
            let heap = page(p.heapBytes.value(age, rng.next()))
            let anon = page(p.anonymousBytes.value(age, rng.next()))
            let shm = p.sharedSegments.value(age, rng.next()).rounded()
            let fds = max(3, p.descriptors.value(age, rng.next()).rounded())
            let stack = page(p.stackBytes)
            let stacks = Int(unjoined + threads - 1)
            let libs = max(0, p.libraries)
            let vsize = 16 * 1_048_576 + heap + anon + shm * 262_144 + Double(stacks) * (stack + 4096) + 135_168 + Double(libs) * 2_117_632
            let resident = p.residentBase + heap + anon + threads * 16384
            tasks += threads
            rss += resident
            // CPU time so far: the samples it ran in (a deterministic count, so each sample stands alone).
            let samplesAlive = max(0, age * 60 / scenario.intervalSeconds)
            let ran = UInt64(samplesAlive * p.activity) + (rng.next() + 1 < 2 * p.activity ? 1 : 0)
            let pid = Int(r.pid)
            let startTicks = UInt64((r.start * 60 + 1000) * 100)  // ticks since boot; boot 1000 s before the soak
            let prefix = "/proc/\(pid)/"
            t.stat(pid: pid, name: p.name, threads: Int(threads), startTicks: startTicks, vsize: UInt64(vsize), rssPages: UInt64(resident / 4096), ran: ran)
            procFiles.append(FileCapture(path: prefix + "stat", bytes: t.take()))
            t.status(pid: pid, name: p.name, threads: Int(threads), vsize: UInt64(vsize), resident: UInt64(resident), heap: UInt64(heap + anon), ran: ran)
            procFiles.append(FileCapture(path: prefix + "status", bytes: t.take()))
            for k in 0..<Int(fds) { t.int(k); t.nl() }
            procFiles.append(FileCapture(path: prefix + "fd", kind: .directory, bytes: t.take()))
            for k in 0..<Int(threads) { t.int(pid * 1000 + k); t.nl() }
            procFiles.append(FileCapture(path: prefix + "task", kind: .directory, bytes: t.take()))
            if deep {
                procFiles.append(FileCapture(path: prefix + "maps", bytes: Array(maps(heap: heap, anon: anon, shm: Int(shm), stacks: stacks, stack: stack,
                    libraries: libs).utf8)))
                t.rollup(resident: UInt64(resident), anon: UInt64(heap + anon))
                procFiles.append(FileCapture(path: prefix + "smaps_rollup", bytes: t.take()))
                procFiles.append(FileCapture(path: prefix + "limits", bytes: Self.limits))
                procFiles.append(FileCapture(path: prefix + "cmdline", bytes: Array("/usr/bin/\(p.name)\0--config\0/etc/\(p.name).conf\0".utf8)))
                procFiles.append(FileCapture(path: prefix + "cgroup", bytes: Array("0::/system.slice/\(p.name).service\n".utf8)))
                for k in 0..<Int(threads) {
                    procFiles.append(FileCapture(path: prefix + "task/\(pid * 1000 + k)/comm", bytes: Array("\(k == 0 ? p.name : "worker")\n".utf8)))
                }
            }
        }
        let total = 1_073_741_824.0
        t.meminfo(total: UInt64(total), free: UInt64(max(0, total - rss - 2e8)), available: UInt64(max(0, total - rss - 1e8)), sample: i)
        files.append(FileCapture(path: "/proc/meminfo", bytes: t.take()))
        files.append(FileCapture(path: "/proc/loadavg", bytes: Array("0.50 0.40 0.30 1/\(Int(tasks)) 4242\n".utf8)))
        t.vmstat(sample: i)
        files.append(FileCapture(path: "/proc/vmstat", bytes: t.take()))
        files.append(FileCapture(path: "/proc/pressure/memory", bytes: Array("some avg10=0.00 avg60=0.00 avg300=0.00 total=\(1000 + i / 7)\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=\(400 + i / 11)\n".utf8)))
        files.append(FileCapture(path: "/proc/sys/kernel/threads-max", bytes: Array("15000\n".utf8)))
        files.append(FileCapture(path: "/proc/sys/kernel/pid_max", bytes: Array("32768\n".utf8)))
        files.append(FileCapture(path: "/proc/sys/vm/max_map_count", bytes: Array("65530\n".utf8)))
        files.append(FileCapture(path: "/proc/sys/fs/file-nr", bytes: Array("\(2000 + Int(tasks) * 3)\t0\t9223372036854775807\n".utf8)))
        if deep {
            t.slabinfo(sample: i)
            files.append(FileCapture(path: "/proc/slabinfo", bytes: t.take()))
        }
        return Sample(sequence: UInt64(i), wallNanos: wall, monoNanos: UInt64(minute * 60e9) + 1_000_000_000_000, files: files + procFiles)
    }

    func page(_ v: Double) -> Double { (v / 4096).rounded(.up) * 4096 }

    static let limits = Array("""
        Limit                     Soft Limit           Hard Limit           Units
        Max cpu time              unlimited            unlimited            seconds
        Max file size             unlimited            unlimited            bytes
        Max data size             unlimited            unlimited            bytes
        Max stack size            8388608              unlimited            bytes
        Max core file size        0                    unlimited            bytes
        Max resident set          unlimited            unlimited            bytes
        Max processes             15000                15000                processes
        Max open files            1024                 4096                 files
        Max locked memory         8388608              8388608              bytes
        Max address space         unlimited            unlimited            bytes
        Max file locks            unlimited            unlimited            locks
        Max pending signals       15000                15000                signals
        Max msgqueue size         819200               819200               bytes
        Max nice priority         0                    0
        Max realtime priority     0                    0
        Max realtime timeout      unlimited            unlimited            us

        """.utf8)

    /// A maps text: the program, `[heap]`, one anonymous region, SysV segments, thread stacks each with its guard
    /// below, the libraries, the main stack.
    func maps(heap: Double, anon: Double, shm: Int, stacks: Int, stack: Double, libraries: Int = 0) -> String {
        func hex(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, 12 - s.count)) + s
        }
        var lines = ["555555554000-555555600000 r-xp 00000000 08:01 4242 /usr/bin/app"]
        var a: UInt64 = 0x5555_5600_0000
        lines.append("\(hex(a))-\(hex(a + UInt64(heap))) rw-p 00000000 00:00 0 [heap]")
        a = 0x7f00_0000_0000
        if anon > 0 {
            lines.append("\(hex(a))-\(hex(a + UInt64(anon))) rw-p 00000000 00:00 0")
            a += UInt64(anon) + 0x1000_0000
        }
        for k in 0..<shm {
            lines.append("\(hex(a))-\(hex(a + 262_144)) rw-s 00000000 00:01 \(k + 10) /SYSV00000000 (deleted)")
            a += 262_144 + 4096
        }
        a = (a + 0xffff_ffff) & ~0xffff_ffff
        for _ in 0..<stacks {
            lines.append("\(hex(a))-\(hex(a + 4096)) ---p 00000000 00:00 0")
            lines.append("\(hex(a + 4096))-\(hex(a + 4096 + UInt64(stack))) rw-p 00000000 00:00 0")
            a += 4096 + UInt64(stack)
        }
        // Each library: text, a reserve, read-only data, data (what ld.so maps).
        a = 0x7fff_e000_0000
        for k in 0..<libraries {
            let path = "/usr/lib/x86_64-linux-gnu/lib\(Self.libraryNames[k % Self.libraryNames.count])\(k / Self.libraryNames.count).so.\(k % 3 + 1)"
            let inode = 1_310_000 + k
            lines.append("\(hex(a))-\(hex(a + 0x2000)) r--p 00000000 08:01 \(inode)                    \(path)")
            lines.append("\(hex(a + 0x2000))-\(hex(a + 0x1a000)) r-xp 00002000 08:01 \(inode)                    \(path)")
            lines.append("\(hex(a + 0x1a000))-\(hex(a + 0x1f0000)) ---p 0001a000 08:01 \(inode)                    \(path)")
            lines.append("\(hex(a + 0x1f0000))-\(hex(a + 0x1f2000)) r--p 0001e000 08:01 \(inode)                    \(path)")
            lines.append("\(hex(a + 0x1f2000))-\(hex(a + 0x1f3000)) rw-p 00020000 08:01 \(inode)                    \(path)")
            a += 0x205000
        }
        lines.append("7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]")
        lines.append("7ffffffff000-7ffffffff800 r--p 00000000 00:00 0                          [vvar]")
        lines.append("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]")
        return lines.joined(separator: "\n") + "\n"
    }

    static let libraryNames = ["c", "m", "pthread", "ssl", "crypto", "z", "zstd", "dbus-1", "systemd", "gcc_s", "stdc++", "lzma",
                               "cap", "gcrypt", "lz4", "pcre2-8", "selinux", "mount", "blkid", "uuid"]
}

/// Bytes of rendered text, built without intermediate strings (a week of samples is millions of files).
struct Text {
    var bytes: [UInt8] = []

    mutating func take() -> [UInt8] {
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }

    mutating func s(_ v: StaticString) {
        v.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func str(_ v: String) { bytes.append(contentsOf: v.utf8) }

    mutating func int<T: BinaryInteger>(_ v: T) {
        if v < 0 { bytes.append(0x2D); int(UInt64(-Int64(v))); return }
        var x = UInt64(v)
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &tmp) { b in
            repeat { b[n] = UInt8(x % 10) + 0x30; x /= 10; n += 1 } while x > 0
            for k in stride(from: n - 1, through: 0, by: -1) { bytes.append(b[k]) }
        }
    }

    mutating func nl() { bytes.append(0x0A) }

    /// `Key:\tvalue kB` lines, as `status` and `meminfo` print them.
    mutating func kv(_ key: StaticString, _ v: UInt64, kB: Bool = true) {
        s(key); bytes.append(0x09); int(v); if kB { s(" kB") }; nl()
    }

    mutating func stat(pid: Int, name: String, threads: Int, startTicks: UInt64, vsize: UInt64, rssPages: UInt64, ran: UInt64) {
        int(pid); s(" ("); str(name); s(") S 1 "); int(pid); s(" "); int(pid); s(" 0 -1 4194560 ")
        int(100 + ran * 3); s(" 0 0 0 "); int(ran / 2); s(" "); int(ran / 3); s(" 0 0 20 0 "); int(threads); s(" 0 ")
        int(startTicks); s(" "); int(vsize); s(" "); int(rssPages)
        s(" 18446744073709551615 94000000000000 94000000100000 140730000000000 0 0 0 0 4096 16386 0 0 0 17 1 0 0 0 0 0 ")
        s("94000000200000 94000000210000 94000020000000 140730000100000 140730000100100 140730000100100 140730000101000 0\n")
    }

    mutating func status(pid: Int, name: String, threads: Int, vsize: UInt64, resident: UInt64, heap: UInt64, ran: UInt64) {
        s("Name:\t"); str(name); s("\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t"); int(pid); s("\nNgid:\t0\nPid:\t"); int(pid)
        s("\nPPid:\t1\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\nGroups:\t \nNStgid:\t"); int(pid)
        s("\nNSpid:\t"); int(pid); s("\nNSpgid:\t"); int(pid); s("\nNSsid:\t"); int(pid); s("\nKthread:\t0\n")
        kv("VmPeak:", vsize / 1024 + 512); kv("VmSize:", vsize / 1024); kv("VmLck:", 0); kv("VmPin:", 0)
        kv("VmHWM:", resident / 1024 + 64); kv("VmRSS:", resident / 1024); kv("RssAnon:", heap / 1024)
        kv("RssFile:", (resident - min(resident, heap)) / 1024); kv("RssShmem:", 0); kv("VmData:", heap / 1024 + 1024)
        kv("VmStk:", 132); kv("VmExe:", 704); kv("VmLib:", 9332); kv("VmPTE:", 88 + resident / 2_097_152); kv("VmSwap:", 0)
        kv("HugetlbPages:", 0); kv("CoreDumping:", 0, kB: false); kv("THP_enabled:", 1, kB: false)
        s("untag_mask:\t0xffffffffffffffff\n"); kv("Threads:", UInt64(threads), kB: false)
        s("SigQ:\t0/15000\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n")
        s("SigIgn:\t0000000000001000\nSigCgt:\t0000000180004a02\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n")
        s("CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\n")
        s("Seccomp_filters:\t0\nSpeculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\tconditional enabled\n")
        s("Cpus_allowed:\tff\nCpus_allowed_list:\t0-7\nMems_allowed:\t00000000,00000001\nMems_allowed_list:\t0\n")
        kv("voluntary_ctxt_switches:", 40 + ran * 7, kB: false); kv("nonvoluntary_ctxt_switches:", 3 + ran / 5, kB: false)
    }

    mutating func rollup(resident: UInt64, anon: UInt64) {
        s("55a4b4000000-7ffc00000000 ---p 00000000 00:00 0                          [rollup]\n")
        kv("Rss:", resident / 1024); kv("Pss:", resident / 1024 - 64); kv("Pss_Dirty:", anon / 1024); kv("Pss_Anon:", anon / 1024)
        kv("Pss_File:", (resident - min(resident, anon)) / 1024); kv("Pss_Shmem:", 0); kv("Shared_Clean:", 2048); kv("Shared_Dirty:", 0)
        kv("Private_Clean:", 512); kv("Private_Dirty:", anon / 1024); kv("Referenced:", resident / 1024); kv("Anonymous:", anon / 1024)
        kv("KSM:", 0); kv("LazyFree:", 0); kv("AnonHugePages:", 0); kv("ShmemPmdMapped:", 0); kv("FilePmdMapped:", 0)
        kv("Shared_Hugetlb:", 0); kv("Private_Hugetlb:", 0); kv("Swap:", 0); kv("SwapPss:", 0); kv("Locked:", 0)
    }

    mutating func meminfo(total: UInt64, free: UInt64, available: UInt64, sample i: Int) {
        let k = UInt64(i % 97)
        kv("MemTotal:", total / 1024); kv("MemFree:", free / 1024); kv("MemAvailable:", available / 1024); kv("Buffers:", 20480 + k)
        kv("Cached:", 180_000 + k * 3); kv("SwapCached:", 0); kv("Active:", 150_000 + k); kv("Inactive:", 90_000 + k)
        kv("Active(anon):", 60_000); kv("Inactive(anon):", 1200); kv("Active(file):", 90_000 + k); kv("Inactive(file):", 88_800 + k)
        kv("Unevictable:", 0); kv("Mlocked:", 0); kv("SwapTotal:", 0); kv("SwapFree:", 0); kv("Zswap:", 0); kv("Zswapped:", 0)
        kv("Dirty:", 12 + k); kv("Writeback:", 0); kv("AnonPages:", 61_000 + k); kv("Mapped:", 40_000); kv("Shmem:", 1800)
        kv("KReclaimable:", 30_000); kv("Slab:", 60_000 + k); kv("SReclaimable:", 30_000); kv("SUnreclaim:", 30_000 + k)
        kv("KernelStack:", 4800); kv("PageTables:", 3200); kv("SecPageTables:", 0); kv("NFS_Unstable:", 0); kv("Bounce:", 0)
        kv("WritebackTmp:", 0); kv("CommitLimit:", total / 2048); kv("Committed_AS:", 900_000 + k); kv("VmallocTotal:", 34_359_738_367)
        kv("VmallocUsed:", 20_000); kv("VmallocChunk:", 0); kv("Percpu:", 1200); kv("HardwareCorrupted:", 0)
        kv("AnonHugePages:", 0); kv("ShmemHugePages:", 0); kv("ShmemPmdMapped:", 0); kv("FileHugePages:", 0)
        kv("FilePmdMapped:", 0); kv("Unaccepted:", 0); kv("HugePages_Total:", 0, kB: false); kv("HugePages_Free:", 0, kB: false)
        kv("HugePages_Rsvd:", 0, kB: false); kv("HugePages_Surp:", 0, kB: false); kv("Hugepagesize:", 2048); kv("Hugetlb:", 0)
        kv("DirectMap4k:", 120_000); kv("DirectMap2M:", 4_000_000); kv("DirectMap1G:", 0)
    }

    /// `/proc/vmstat`: its counters move every second on a live system.
    mutating func vmstat(sample i: Int) {
        let n = UInt64(i)
        for (k, name) in Self.vmstatNames.enumerated() {
            str(name); bytes.append(0x20); int(k % 3 == 0 ? n * UInt64(k + 1) + 1000 : UInt64(k * 17)); nl()
        }
    }

    static let vmstatNames: [String] = {
        var out = ["nr_free_pages", "nr_zone_inactive_anon", "nr_zone_active_anon", "nr_zone_inactive_file", "nr_zone_active_file",
                   "nr_zone_unevictable", "nr_zone_write_pending", "nr_mlock", "nr_bounce", "nr_zspages", "nr_free_cma",
                   "numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local", "numa_other", "nr_inactive_anon",
                   "nr_active_anon", "nr_inactive_file", "nr_active_file", "nr_unevictable", "nr_slab_reclaimable",
                   "nr_slab_unreclaimable", "nr_isolated_anon", "nr_isolated_file", "workingset_nodes", "nr_anon_pages",
                   "nr_mapped", "nr_file_pages", "nr_dirty", "nr_writeback", "nr_shmem", "nr_kernel_stack", "nr_page_table_pages",
                   "pgpgin", "pgpgout", "pswpin", "pswpout", "pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgfree",
                   "pgactivate", "pgdeactivate", "pglazyfree", "pgfault", "pgmajfault", "pgrefill", "pgsteal_kswapd",
                   "pgscan_kswapd", "pgscan_direct", "pginodesteal", "slabs_scanned", "kswapd_inodesteal", "pageoutrun",
                   "pgrotated", "drop_pagecache", "drop_slab", "oom_kill", "compact_stall", "compact_fail", "compact_success"]
        for k in 0..<90 { out.append("nr_counter_\(k)") }  // about 150 lines, as a 6.x kernel prints
        return out
    }()

    /// `/proc/slabinfo` 2.1: about 120 caches, a few of them moving.
    mutating func slabinfo(sample i: Int) {
        s("slabinfo - version: 2.1\n")
        s("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n")
        for k in 0..<120 {
            let name = k < Self.slabNames.count ? Self.slabNames[k] : "kmalloc-rcl-\(k)"
            let objs = 400 + k * 13 + (k % 10 == 0 ? i % 50 : 0)
            str(name); s("  "); int(objs); s(" "); int(objs + 20); s(" "); int(64 + (k % 8) * 64); s(" 64 1 : tunables 0 0 0 : slabdata ")
            int(objs / 64 + 1); s(" "); int(objs / 64 + 1); s(" 0\n")
        }
    }

    static let slabNames = ["ext4_inode_cache", "dentry", "inode_cache", "radix_tree_node", "buffer_head", "kmalloc-8k",
                            "kmalloc-4k", "kmalloc-2k", "kmalloc-1k", "kmalloc-512", "kmalloc-256", "kmalloc-192", "kmalloc-128",
                            "kmalloc-96", "kmalloc-64", "kmalloc-32", "kmalloc-16", "kmalloc-8", "task_struct", "mm_struct",
                            "vm_area_struct", "anon_vma", "anon_vma_chain", "files_cache", "signal_cache", "sighand_cache",
                            "pid", "cred_jar", "filp", "sock_inode_cache", "skbuff_head_cache", "proc_inode_cache", "shmem_inode_cache"]
}

/// A small deterministic generator (SplitMix64), uniform in [-1, 1].
struct Noise {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53) * 2 - 1
    }
}
