import FieldBundle
import FieldLinux
import FieldModel
import FieldSylixOS

/// A process as analysis knows it: pid plus start time, so a reused pid is a new process, not a trend.
public struct ProcessKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The process id.
    public var pid: Int32
    /// Start time in clock ticks since boot (`stat` field 22).
    public var startTicks: UInt64
    /// The boot this start time belongs to.
    public var bootID: String

    public static func < (a: ProcessKey, b: ProcessKey) -> Bool { (a.pid, a.startTicks) < (b.pid, b.startTicks) }
    public var description: String { "pid \(pid)" }
}

/// One observation of a process. Deep values are nil in samples that did not read the deep files.
public struct ProcessPoint: Sendable {
    /// Wall clock, Unix nanoseconds.
    public var wallNanos: Int64
    /// Live threads (`Threads:`).
    public var threads: Int?
    /// Virtual size, bytes.
    public var virtualBytes: UInt64?
    /// Resident size, bytes.
    public var residentBytes: UInt64?
    /// Open descriptors.
    public var fds: Int?
    /// From `maps`, when read.
    public var maps: MapsSummary?
    /// Thread names and how many threads carry each, when read.
    public var threadNames: [String: Int]?
    /// Heap bytes where the OS reports them directly (SylixOS `mem`); Linux takes them from `maps`.
    public var heapBytes: UInt64?
    /// mmap bytes where the OS reports them directly (SylixOS `mem`).
    public var mmapBytes: UInt64?
}

/// Everything seen of one process.
public struct ProcessTimeline: Sendable {
    /// Identity.
    public var key: ProcessKey
    /// Command name.
    public var name: String
    /// Observations in time order.
    public var points: [ProcessPoint] = []
    /// Its limits, last seen.
    public var limits: ProcessLimits?
    /// Its cgroup's `pids.max`, last seen (nil: none or unlimited).
    public var cgroupPidsMax: UInt64?
}

/// System-wide observations.
public struct SystemPoint: Sendable {
    /// Wall clock, Unix nanoseconds.
    public var wallNanos: Int64
    /// `MemAvailable`, bytes.
    public var memAvailable: UInt64?
    /// `MemTotal`, bytes.
    public var memTotal: UInt64?
    /// `kernel.threads-max`.
    public var threadsMax: UInt64?
    /// `kernel.pid_max`.
    public var pidMax: UInt64?
    /// `vm.max_map_count`.
    public var maxMapCount: UInt64?
    /// Tasks (threads) on the whole system, from `loadavg`'s fourth field.
    public var totalTasks: UInt64?
    /// SylixOS kernel object pools (`/proc/kernel/objects`).
    public var kernelObjects: [KernelObjectPool]?
    /// Slab caches' active objects × object size, by cache name, when read.
    public var slabBytes: [String: UInt64]?
}

/// Bundles a device dropped or had refused, for one reason (the `missing` array of docs/analyze-json.md).
public struct MissingData: Sendable, Encodable, Equatable {
    public var device: String
    /// `spool-quota`, `disk-full` or `rejected-by-collector`.
    public var reason: String
    public var bundles: UInt64 = 0
    /// Compressed bytes.
    public var bytes: UInt64 = 0
    /// File names of the bundles.
    public var names: [String] = []
}

/// One device's history, joined across its bundles.
public struct DeviceTimeline: Sendable {
    /// Device id.
    public var device: String
    /// Backend id.
    public var backend: String
    /// System observations in time order.
    public var system: [SystemPoint] = []
    /// Processes by identity.
    public var processes: [ProcessKey: ProcessTimeline] = [:]
    /// Kernel events (OOM kills, segfaults) with their time.
    public var events: [(wallNanos: Int64, event: KernelEvent)] = []
    /// Boot ids in the order seen; more than one means the device rebooted between or within bundles.
    public var boots: [String] = []
    /// Bundles read, and what was wrong with any of them.
    public var bundles: [(path: String, damage: Damage?)] = []
    /// Sampling interval, nanoseconds.
    public var intervalNanos: UInt64 = 0
    /// Bundles the device dropped (spool quota, full disk) or the collector refused, as its loss records say.
    public var losses: [LossReport] = []

    /// What the device's loss records say is missing, one entry per reason, in order of reason.
    public var missing: [MissingData] {
        var byReason: [String: MissingData] = [:]
        for l in losses {
            byReason[l.reason, default: MissingData(device: device, reason: l.reason)].bundles += l.bundles
            byReason[l.reason]!.bytes += l.bytes
            byReason[l.reason]!.names += l.names
        }
        return byReason.keys.sorted().map { byReason[$0]! }
    }

    /// `missing` for a person: one phrase each, e.g. `3 bundle(s) of 96 KiB dropped on the device (spool-quota)`.
    public var lossSummary: [String] {
        missing.map { m in
            let what = m.reason == "rejected-by-collector"
                ? "refused by the collector (kept on the device as .rejected)" : "dropped on the device (\(m.reason))"
            return "\(m.bundles) bundle(s) of \(m.bytes / 1024) KiB \(what)"
        }
    }

    /// Holes in the sampling longer than three intervals (agent stopped, device off, bundles lost): start and
    /// length in seconds, in time order.
    public var gaps: [(startNanos: Int64, seconds: Double)] {
        let times = system.map(\.wallNanos).sorted()
        let limit = Double(max(intervalNanos, 1)) * 3 / 1e9
        return zip(times, times.dropFirst()).compactMap { a, b in
            let g = Double(b - a) / 1e9
            return g > limit ? (a, g) : nil
        }
    }
}

/// Builds device timelines from bundles.
public struct TimelineBuilder {
    /// Timelines by device id.
    public private(set) var devices: [String: DeviceTimeline] = [:]
    /// Only these pids, when set.
    public var pidFilter: Set<Int32>?
    /// Only samples at or after this wall clock (Unix nanoseconds).
    public var since: Int64?
    /// Only samples at or before this wall clock (Unix nanoseconds).
    public var until: Int64?

    /// An empty builder.
    public init(pidFilter: Set<Int32>? = nil, since: Int64? = nil, until: Int64? = nil) {
        self.pidFilter = pidFilter
        self.since = since
        self.until = until
    }

    /// Reads one bundle into the timelines. Damage is recorded, never fatal. `progress` is called now and then
    /// with the decompressed bytes read so far.
    public mutating func add(_ reader: BundleReader, progress: ((UInt64) -> Void)? = nil) {
        var header: BundleHeader?
        var samples: SampleDecoder?
        var count = 0
        while let r = reader.next() {
            count += 1
            if count % 256 == 0 { progress?(reader.streamBytes) }
            switch r.type {
            case .header:
                header = try? RecordCodec.decodeHeader(r.payload)
                samples = header.map(SampleDecoder.init(header:))
            case .sample:
                guard let h = header, let s = try? samples?.decode(r.payload) else { continue }
                add(sample: s, header: h)
            case .event:
                guard let h = header, let e = try? RecordCodec.decodeEvent(r.payload) else { continue }
                let log = KmsgParser.parse(lines: e.lines)
                for rec in log.records {
                    if let ev = rec.event { devices[h.deviceID, default: Self.empty(h)].events.append((e.wallNanos, ev)) }
                }
            case .loss:
                guard let h = header, let l = try? RecordCodec.decodeLoss(r.payload) else { continue }
                devices[h.deviceID, default: Self.empty(h)].losses.append(l)
            default: break
            }
        }
        let id = header?.deviceID ?? "unknown"
        devices[id, default: header.map(Self.empty) ?? DeviceTimeline(device: id, backend: "unknown")].bundles.append((reader.name, reader.damage))
    }

    /// Puts every series in time order: bundles may be given in any order, and a device's bundles are joined.
    public mutating func finish() {
        for id in devices.keys {
            devices[id]!.system.sort { $0.wallNanos < $1.wallNanos }
            devices[id]!.events.sort { $0.wallNanos < $1.wallNanos }
            for k in devices[id]!.processes.keys { devices[id]!.processes[k]!.points.sort { $0.wallNanos < $1.wallNanos } }
        }
    }

    static func empty(_ h: BundleHeader) -> DeviceTimeline {
        var d = DeviceTimeline(device: h.deviceID, backend: h.backend)
        d.intervalNanos = h.intervalNanos
        return d
    }

    mutating func add(sample s: Sample, header h: BundleHeader) {
        if let a = since, s.wallNanos < a { return }
        if let b = until, s.wallNanos > b { return }
        // In place: copying a device's or a process's history out of the dictionary and back on every sample
        // would copy every point each time.
        Self.add(sample: s, header: h, pidFilter: pidFilter, into: &devices[h.deviceID, default: Self.empty(h)])
    }

    static func add(sample s: Sample, header h: BundleHeader, pidFilter: Set<Int32>?, into d: inout DeviceTimeline) {
        let boot = h.bootID ?? "boot"
        if d.boots.last != boot { d.boots.append(boot) }
        var sys = SystemPoint(wallNanos: s.wallNanos)
        // Group process files by pid (/proc/PID/...), classifying each path once, from its bytes.
        var byPID: [Int32: ProcessFiles] = [:]
        var lastPID: Int32?
        for f in s.files {
            if let (pid, leaf) = Self.processPath(f.path) {
                lastPID = pid
                if f.status != .ok { continue }
                if let filter = pidFilter, !filter.contains(pid) { continue }
                byPID[pid, default: ProcessFiles()].add(f, leaf: leaf)
                continue
            }
            guard f.status == .ok else { continue }
            switch f.path {
            case "/proc/meminfo":
                let m = MeminfoParser.parse(f.bytes)
                sys.memAvailable = m.availableEstimate
                sys.memTotal = m.memTotal
            case "/proc/sys/kernel/threads-max": sys.threadsMax = NumberFileParser.parse(f.bytes)
            case "/proc/sys/kernel/pid_max": sys.pidMax = NumberFileParser.parse(f.bytes)
            case "/proc/sys/vm/max_map_count": sys.maxMapCount = NumberFileParser.parse(f.bytes)
            case "/proc/loadavg": sys.totalTasks = LoadavgParser.parse(f.bytes).map { UInt64($0.total) }
            case "/proc/kernel/objects": sys.kernelObjects = KernelObjectsParser.parse(f.bytes).pools
            case "/proc/kernel/affinity":
                for t in AffinityParser.parse(f.bytes) where pidFilter?.contains(t.pid) ?? true {
                    byPID[t.pid, default: ProcessFiles()].sylixThreads.append(t.name)
                }
            case "/proc/slabinfo":
                var slab: [String: UInt64] = [:]
                for c in SlabinfoParser.parse(f.bytes).caches { slab[c.name] = c.activeObjects &* c.objectSize }
                sys.slabBytes = slab
            default:
                // A cgroup's pids.max follows the files of the process whose deep read found it.
                if f.path.hasSuffix("/pids.max"), let pid = lastPID, case .limit(let n) = CgroupPidsParser.parseMax(f.bytes) {
                    byPID[pid, default: ProcessFiles()].cgroupPidsMax = min(byPID[pid]?.cgroupPidsMax ?? .max, n)
                }
            }
        }
        d.system.append(sys)
        for (pid, files) in byPID {
            if files.stat == nil, files.mem != nil || files.filedesc != nil {
                // SylixOS: no stat (no start time, so a reused pid cannot be told apart), memory and descriptors.
                let key = ProcessKey(pid: pid, startTicks: 0, bootID: boot)
                var p = ProcessPoint(wallNanos: s.wallNanos)
                if let m = files.mem.map({ ProcessMemory.parse($0) }) {
                    p.residentBytes = m.totalBytes
                    p.heapBytes = m.heapBytes
                    p.mmapBytes = m.mmapBytes
                }
                if let fd = files.filedesc { p.fds = FiledescParser.count(fd) }
                if !files.sylixThreads.isEmpty {
                    p.threads = files.sylixThreads.count
                    p.threadNames = Dictionary(files.sylixThreads.map { ($0, 1) }, uniquingKeysWith: +)
                }
                // The program is the first word of the command line (NUL- or space-separated).
                let first = files.cmdline?.split(whereSeparator: { $0 == 0 || $0 == 0x20 || $0 == 0x0A }).first
                let name = first.map { String(decoding: $0, as: UTF8.self) } ?? "pid \(pid)"
                Self.append(p, name: name, limits: nil, cgroupPidsMax: nil, to: &d.processes[key, default: ProcessTimeline(key: key, name: name)])
                continue
            }
            guard let statFile = files.stat, let st = StatParser.parse(statFile) else { continue }
            let key = ProcessKey(pid: pid, startTicks: st.startTicks ?? 0, bootID: boot)
            var p = ProcessPoint(wallNanos: s.wallNanos)
            var name = st.comm
            p.virtualBytes = st.virtualBytes
            if let status = files.status {
                // Three values: a targeted scan, not the full parser (analysis reads millions of these).
                p.threads = LinuxBackend.number(after: "Threads:", in: status).map { Int($0) }
                p.residentBytes = LinuxBackend.number(after: "VmRSS:", in: status).map { $0 * 1024 }
                if let n = Self.statusName(status) { name = n }
            }
            if let fd = files.fd { p.fds = FDListParser.count(fd) }
            if let maps = files.maps { p.maps = MapsSummary(MapsParser.parse(maps)) }
            if !files.comms.isEmpty {
                var names: [String: Int] = [:]
                for c in files.comms { names[CommParser.parse(c) ?? "?", default: 0] += 1 }
                p.threadNames = names
            }
            let limits = files.limits.map { LimitsParser.parse($0) }
            Self.append(p, name: name, limits: limits, cgroupPidsMax: files.cgroupPidsMax, to: &d.processes[key, default: ProcessTimeline(key: key, name: name)])
        }
    }

    /// One process's files in one sample, by kind.
    struct ProcessFiles {
        var stat: [UInt8]?
        var status: [UInt8]?
        var fd: [UInt8]?
        var maps: [UInt8]?
        var limits: [UInt8]?
        var comms: [[UInt8]] = []
        var cgroupPidsMax: UInt64?
        var mem: [UInt8]?
        var filedesc: [UInt8]?
        var cmdline: [UInt8]?
        var sylixThreads: [String] = []

        mutating func add(_ f: FileCapture, leaf: Substring.UTF8View) {
            switch String(leaf) {
            case "stat": stat = f.bytes
            case "status": status = f.bytes
            case "fd": if f.kind == .directory { fd = f.bytes }
            case "maps": maps = f.bytes
            case "limits": limits = f.bytes
            case "mem": mem = f.bytes
            case "filedesc": filedesc = f.bytes
            case "cmdline": cmdline = f.bytes
            default: if leaf.starts(with: "task/".utf8) && f.path.hasSuffix("/comm") { comms.append(f.bytes) }
            }
        }
    }

    /// `/proc/PID/REST` -> (PID, REST), from the bytes.
    static func processPath(_ path: String) -> (Int32, Substring.UTF8View)? {
        let u = path.utf8
        guard u.starts(with: "/proc/".utf8) else { return nil }
        var i = u.index(u.startIndex, offsetBy: 6)
        var pid: Int32 = 0
        var digits = 0
        while i < u.endIndex, let c = Optional(u[i]), c >= 0x30, c <= 0x39 {
            pid = pid &* 10 &+ Int32(c - 0x30)
            digits += 1
            i = u.index(after: i)
        }
        guard digits > 0, i < u.endIndex, u[i] == 0x2F else { return nil }
        return (pid, Substring(path)[u.index(after: i)...].utf8)
    }

    /// The `Name:` line of a status file.
    static func statusName(_ b: [UInt8]) -> String? {
        guard b.starts(with: "Name:".utf8) else { return nil }
        var i = 5
        while i < b.count && (b[i] == 0x09 || b[i] == 0x20) { i += 1 }
        var j = i
        while j < b.count && b[j] != 0x0A { j += 1 }
        return String(decoding: b[i..<j], as: UTF8.self)
    }

    static func append(_ p: ProcessPoint, name: String, limits: ProcessLimits?, cgroupPidsMax: UInt64?, to t: inout ProcessTimeline) {
        t.name = name
        if let l = limits { t.limits = l }
        if let m = cgroupPidsMax { t.cgroupPidsMax = m }
        t.points.append(p)
    }
}
