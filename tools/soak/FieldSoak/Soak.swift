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

    /// Every run of every process.
    public var runs: [Run] {
        let total = scenario.durationHours * 60
        var out: [Run] = []
        for (i, p) in scenario.processes.enumerated() {
            var start = p.startMinutes
            var n: Int32 = 0
            repeat {
                let end = min(total + 1, p.lifeMinutes.map { start + $0 } ?? total + 1)
                out.append(Run(process: i, pid: p.reusePID ? p.pid : p.pid + n, start: start, end: end))
                n += 1
                guard let every = p.respawnMinutes, every > 0 else { break }
                start += every
            } while start <= total
        }
        return out
    }

    /// The bundle header for a soak starting at the scenario's start epoch.
    public func header(sequence: UInt64 = 0, atMinute minute: Double = 0) -> (backend: String, device: String, wallNanos: Int64, intervalNanos: UInt64) {
        ("linux", scenario.device, Int64((scenario.startEpoch + minute * 60) * 1e9), UInt64(scenario.intervalSeconds * 1e9))
    }

    /// Sample `i` (0-based), with its captures.
    public func sample(_ i: Int, runs: [Run]) -> Sample {
        let minute = Double(i) * scenario.intervalSeconds / 60
        let deep = scenario.deepEvery <= 1 || i % scenario.deepEvery == 0
        let wall = Int64((scenario.startEpoch + minute * 60) * 1e9)
        var files: [FileCapture] = []
        var tasks = 60.0
        var rss = 0.0
        var procFiles: [FileCapture] = []
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
            let vsize = 16 * 1_048_576 + heap + anon + shm * 262_144 + Double(stacks) * (stack + 4096) + 135_168
            let resident = p.residentBase + heap + anon + threads * 16384
            tasks += threads
            rss += resident
            let pid = r.pid
            let startTicks = UInt64((r.start * 60 + 1000) * 100)  // ticks since boot; boot 1000 s before the soak
            procFiles.append(FileCapture(path: "/proc/\(pid)/stat", bytes: Array(
                "\(pid) (\(p.name)) S 1 \(pid) \(pid) 0 -1 4194560 100 0 0 0 10 5 0 0 20 0 \(Int(threads)) 0 \(startTicks) \(Int(vsize)) \(Int(resident / 4096)) 18446744073709551615\n".utf8)))
            procFiles.append(FileCapture(path: "/proc/\(pid)/status", bytes: Array(
                "Name:\t\(p.name)\nState:\tS (sleeping)\nPid:\t\(pid)\nVmSize:\t\(Int(vsize / 1024)) kB\nVmRSS:\t\(Int(resident / 1024)) kB\nThreads:\t\(Int(threads))\n".utf8)))
            procFiles.append(FileCapture(path: "/proc/\(pid)/fd", kind: .directory, bytes: Array((0..<Int(fds)).map { "\($0)\n" }.joined().utf8)))
            if deep {
                procFiles.append(FileCapture(path: "/proc/\(pid)/maps", bytes: Array(maps(heap: heap, anon: anon, shm: Int(shm), stacks: stacks, stack: stack).utf8)))
                procFiles.append(FileCapture(path: "/proc/\(pid)/limits", bytes: Array(Self.limits.utf8)))
                for t in 0..<Int(threads) {
                    let name = t == 0 ? p.name : "worker"
                    procFiles.append(FileCapture(path: "/proc/\(pid)/task/\(Int(pid) * 1000 + t)/comm", bytes: Array("\(name)\n".utf8)))
                }
            }
        }
        let total = 1_073_741_824.0
        files.append(FileCapture(path: "/proc/meminfo", bytes: Array(
            "MemTotal:\t\(Int(total / 1024)) kB\nMemFree:\t\(Int(max(0, total - rss - 2e8) / 1024)) kB\nMemAvailable:\t\(Int(max(0, total - rss - 1e8) / 1024)) kB\n".utf8)))
        files.append(FileCapture(path: "/proc/loadavg", bytes: Array("0.50 0.40 0.30 1/\(Int(tasks)) 4242\n".utf8)))
        files.append(FileCapture(path: "/proc/sys/kernel/threads-max", bytes: Array("15000\n".utf8)))
        files.append(FileCapture(path: "/proc/sys/kernel/pid_max", bytes: Array("32768\n".utf8)))
        files.append(FileCapture(path: "/proc/sys/vm/max_map_count", bytes: Array("65530\n".utf8)))
        return Sample(sequence: UInt64(i), wallNanos: wall, monoNanos: UInt64(minute * 60e9) + 1_000_000_000_000, files: files + procFiles)
    }

    func page(_ v: Double) -> Double { (v / 4096).rounded(.up) * 4096 }

    static let limits = """
        Limit                     Soft Limit           Hard Limit           Units
        Max stack size            8388608              unlimited            bytes
        Max processes             15000                15000                processes
        Max open files            1024                 4096                 files
        Max address space         unlimited            unlimited            bytes

        """

    /// A maps text: the program, `[heap]`, one anonymous region, SysV segments, thread stacks each with its guard
    /// below, the main stack.
    func maps(heap: Double, anon: Double, shm: Int, stacks: Int, stack: Double) -> String {
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
        lines.append("7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]")
        return lines.joined(separator: "\n") + "\n"
    }
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
