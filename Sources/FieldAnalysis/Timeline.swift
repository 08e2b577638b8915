import FieldBundle
import FieldLinux
import FieldModel

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
    /// Slab caches' active objects × object size, by cache name, when read.
    public var slabBytes: [String: UInt64]?
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
}

/// Builds device timelines from bundles.
public struct TimelineBuilder {
    /// Timelines by device id.
    public private(set) var devices: [String: DeviceTimeline] = [:]
    /// Only these pids, when set.
    public var pidFilter: Set<Int32>?

    /// An empty builder.
    public init(pidFilter: Set<Int32>? = nil) { self.pidFilter = pidFilter }

    /// Reads one bundle into the timelines. Damage is recorded, never fatal.
    public mutating func add(_ reader: BundleReader) {
        var header: BundleHeader?
        while let r = reader.next() {
            switch r.type {
            case .header: header = try? RecordCodec.decodeHeader(r.payload)
            case .sample:
                guard let h = header, let s = try? RecordCodec.decodeSample(r.payload) else { continue }
                add(sample: s, header: h)
            case .event:
                guard let h = header, let e = try? RecordCodec.decodeEvent(r.payload) else { continue }
                let log = KmsgParser.parse(lines: e.lines)
                for rec in log.records {
                    if let ev = rec.event { devices[h.deviceID, default: Self.empty(h)].events.append((e.wallNanos, ev)) }
                }
            default: break
            }
        }
        let id = header?.deviceID ?? "unknown"
        devices[id, default: header.map(Self.empty) ?? DeviceTimeline(device: id, backend: "unknown")].bundles.append((reader.name, reader.damage))
    }

    static func empty(_ h: BundleHeader) -> DeviceTimeline {
        var d = DeviceTimeline(device: h.deviceID, backend: h.backend)
        d.intervalNanos = h.intervalNanos
        return d
    }

    mutating func add(sample s: Sample, header h: BundleHeader) {
        var d = devices[h.deviceID] ?? Self.empty(h)
        let boot = h.bootID ?? "boot"
        if d.boots.last != boot { d.boots.append(boot) }
        var sys = SystemPoint(wallNanos: s.wallNanos)
        // Group process files by pid: /proc/PID/...
        var byPID: [Int32: [FileCapture]] = [:]
        for f in s.files where f.status == .ok {
            let parts = f.path.split(separator: "/", omittingEmptySubsequences: true)
            if parts.count >= 3, parts[0] == "proc", let pid = Int32(parts[1]) {
                if let filter = pidFilter, !filter.contains(pid) { continue }
                byPID[pid, default: []].append(f)
                continue
            }
            switch f.path {
            case "/proc/meminfo":
                let m = MeminfoParser.parse(f.bytes)
                sys.memAvailable = m.availableEstimate
                sys.memTotal = m.memTotal
            case "/proc/sys/kernel/threads-max": sys.threadsMax = NumberFileParser.parse(f.bytes)
            case "/proc/sys/kernel/pid_max": sys.pidMax = NumberFileParser.parse(f.bytes)
            case "/proc/sys/vm/max_map_count": sys.maxMapCount = NumberFileParser.parse(f.bytes)
            case "/proc/slabinfo":
                var slab: [String: UInt64] = [:]
                for c in SlabinfoParser.parse(f.bytes).caches { slab[c.name] = c.activeObjects &* c.objectSize }
                sys.slabBytes = slab
            default:
                // cgroup files live under /sys; attach them to the process whose deep read found them below.
                break
            }
        }
        d.system.append(sys)
        // cgroup pids.max files follow their process's files in the sample; find them by order.
        var cgroupMaxByPID: [Int32: UInt64] = [:]
        var lastPID: Int32?
        for f in s.files {
            let parts = f.path.split(separator: "/", omittingEmptySubsequences: true)
            if parts.count >= 3, parts[0] == "proc", let pid = Int32(parts[1]) { lastPID = pid }
            if f.path.hasSuffix("/pids.max"), f.status == .ok, let pid = lastPID,
               case .limit(let n) = CgroupPidsParser.parseMax(f.bytes) {
                cgroupMaxByPID[pid] = min(cgroupMaxByPID[pid] ?? .max, n)
            }
        }
        for (pid, files) in byPID {
            guard let statFile = files.first(where: { $0.path.hasSuffix("/stat") }), let st = StatParser.parse(statFile.bytes) else { continue }
            let key = ProcessKey(pid: pid, startTicks: st.startTicks ?? 0, bootID: boot)
            var t = d.processes[key] ?? ProcessTimeline(key: key, name: st.comm)
            var p = ProcessPoint(wallNanos: s.wallNanos)
            p.virtualBytes = st.virtualBytes
            if let status = files.first(where: { $0.path.hasSuffix("/status") }) {
                let ps = StatusParser.parse(status.bytes)
                p.threads = ps.threads
                p.residentBytes = ps.vmRSS
                if let n = ps.name { t.name = n }
            }
            if let fd = files.first(where: { $0.kind == .directory && $0.path.hasSuffix("/fd") }) {
                p.fds = FDListParser.count(fd.bytes)
            }
            if let maps = files.first(where: { $0.path.hasSuffix("/maps") }) {
                p.maps = MapsSummary(MapsParser.parse(maps.bytes))
            }
            let comms = files.filter { $0.path.hasSuffix("/comm") && $0.path.contains("/task/") }
            if !comms.isEmpty {
                var names: [String: Int] = [:]
                for c in comms { names[CommParser.parse(c.bytes) ?? "?", default: 0] += 1 }
                p.threadNames = names
            }
            if let limits = files.first(where: { $0.path.hasSuffix("/limits") }) { t.limits = LimitsParser.parse(limits.bytes) }
            if let m = cgroupMaxByPID[pid] { t.cgroupPidsMax = m }
            t.points.append(p)
            d.processes[key] = t
        }
        devices[h.deviceID] = d
    }
}
