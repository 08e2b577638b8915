import CFieldPlatform
import FieldModel

extension LinuxBackend {
    /// A fresh interpreter for one device's samples.
    public func makeInterpreter() -> any SampleInterpreter { LinuxInterpreter() }
}

/// Linux captures to observations: `stat` and `status` for identity, threads and sizes, `fd/` for descriptors,
/// `maps` for the address space by class, `task/*/comm` for thread names, `limits` and the cgroup's `pids.max`
/// for the limits, and the system files for the ceilings (`threads-max`, `pid_max`, `max_map_count`, `file-nr`).
///
/// Deep files are not read in every sample: the last limits, layout and cgroup values seen for a process stand
/// until the next deep read, and are forgotten when the process is gone.
public final class LinuxInterpreter: SampleInterpreter {
    /// What the deep captures said about one process.
    struct Remembered {
        var nofile: Double?
        var nproc: Double?
        var addressSpaceLimit: Double?
        var space: AddressSpace?
        var highestAddress: UInt64 = 0
        var pidsMax: Double?
        var pidsCurrent: Double?
        /// Whether its maps showed musl's loader (looked for once).
        var musl: Bool?
        /// The `maps` and `limits` bytes the values above came from (unchanged bytes are not parsed again).
        var mapsBytes: [UInt8]?
        var limitsBytes: [UInt8]?
    }

    /// What the cheap files of one pid said, with the bytes it came from: a file whose bytes did not change since
    /// the previous sample (most do not: an idle process's `stat` and `status` repeat) is not parsed again.
    struct Cheap {
        var stat: [UInt8]?
        var essentials: StatEssentials?
        var status: [UInt8]?
        var statusThreads: Int?
        var statusRSS: UInt64?
        var statusName: String?
        var fd: [UInt8]?
        var fdCount = 0
    }

    /// By pid, for the processes of the previous sample.
    var cheap: [Int32: Cheap] = [:]

    /// Whether `b` holds the same bytes as `a` (at once when they share storage, as a resolved reference does).
    static func same(_ a: [UInt8]?, _ b: [UInt8]) -> Bool {
        guard let a, a.count == b.count else { return false }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                x.baseAddress == y.baseAddress || x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0
            }
        }
    }

    /// Keyed by pid and start time (a reused pid starts afresh).
    var remembered: [UInt64: Remembered] = [:]

    /// glibc keeps up to 40 MiB of finished threads' stacks for reuse (nptl `stack_cache_maxsize`); musl keeps none.
    static let stackCacheAllowance: UInt64 = 40 << 20

    /// Creates an interpreter with nothing remembered.
    public init() {}

    /// One process's captures in one sample.
    struct Files {
        var stat: [UInt8]?
        var status: [UInt8]?
        var fd: [UInt8]?
        var maps: [UInt8]?
        var limits: [UInt8]?
        var comms: [[UInt8]] = []
        var pidsMax: UInt64??
        var pidsCurrent: UInt64?
    }

    public func interpret(wallNanos: Int64, files: [FileCapture]) -> SampleObservations {
        var obs = SampleObservations(wallNanos: wallNanos)
        var threadsMax: Double?, pidMax: Double?, maxMapCount: Double?, tasks: Double?
        var order: [Int32] = []
        var byPID: [Int32: Files] = [:]
        var lastPID: Int32?
        for f in files {
            if let (pid, leaf) = Self.processPath(f.path) {
                lastPID = pid
                guard f.status == .ok else { continue }
                if byPID[pid] == nil { order.append(pid) }
                Self.add(f, leaf: leaf, to: &byPID[pid, default: Files()])
                continue
            }
            guard f.status == .ok else { continue }
            switch f.path {
            case "/proc/meminfo":
                let m = MeminfoParser.parse(f.bytes)
                obs.system.memoryAvailable = m.availableEstimate
                obs.system.memoryTotal = m.memTotal
            case "/proc/sys/kernel/threads-max": threadsMax = NumberFileParser.parse(f.bytes).map { Double($0) }
            case "/proc/sys/kernel/pid_max": pidMax = NumberFileParser.parse(f.bytes).map { Double($0) }
            case "/proc/sys/vm/max_map_count": maxMapCount = NumberFileParser.parse(f.bytes).map { Double($0) }
            case "/proc/loadavg": tasks = LoadavgParser.parse(f.bytes).map { Double($0.total) }
            case "/proc/sys/fs/file-nr":
                if let n = FileNrParser.parse(f.bytes), n.maximum > 0 {
                    obs.system.quotas.append(QuotaReading(resource: "fd", limit: Double(n.maximum), used: Double(n.allocated), source: "fs.file-max"))
                }
            case "/proc/slabinfo":
                obs.system.kernelCaches = SlabinfoParser.parse(f.bytes).caches.map {
                    KernelCache(name: $0.name, bytes: $0.activeObjects &* $0.objectSize, reclaimable: Self.reclaimable($0.name))
                }
            default:
                // A cgroup's pids files follow the files of the process whose deep read found them.
                if let pid = lastPID, byPID[pid] != nil {
                    if f.path.hasSuffix("/pids.max"), let m = CgroupPidsParser.parseMax(f.bytes) {
                        byPID[pid]!.pidsMax = .some(m.value)
                    } else if f.path.hasSuffix("/pids.current") {
                        byPID[pid]!.pidsCurrent = CgroupPidsParser.parseCurrent(f.bytes)
                    }
                }
            }
        }
        if let t = tasks {
            if let m = threadsMax { obs.system.quotas.append(QuotaReading(resource: "thread", limit: m, used: t, source: "kernel.threads-max")) }
            if let m = pidMax { obs.system.quotas.append(QuotaReading(resource: "thread", limit: m, used: t, source: "kernel.pid_max")) }
        }
        var seen: [UInt64: Remembered] = [:]
        seen.reserveCapacity(order.count)
        var seenCheap: [Int32: Cheap] = [:]
        seenCheap.reserveCapacity(order.count)
        for pid in order {
            guard let files = byPID[pid], let statBytes = files.stat else { continue }
            var c = cheap[pid] ?? Cheap()
            if !Self.same(c.stat, statBytes) {
                c.stat = statBytes
                c.essentials = StatParser.essentials(statBytes)
            }
            guard let st = c.essentials else {
                seenCheap[pid] = c
                continue
            }
            let start = st.startTicks ?? 0
            let key = UInt64(UInt32(bitPattern: pid)) << 40 ^ start
            var mem = remembered[key] ?? Remembered()
            var p = ProcessObservation(pid: pid, name: st.comm)
            p.startToken = start
            p.startSeconds = st.startTicks.map { Double($0) / 100 }  // USER_HZ is 100 for /proc on every arch we target
            p.virtualBytes = st.virtualBytes
            if let status = files.status {
                if !Self.same(c.status, status) {
                    // Three values: a targeted scan, not the full parser (analysis reads millions of these).
                    c.status = status
                    c.statusThreads = LinuxBackend.number(after: "Threads:", in: status).map { Int(truncatingIfNeeded: $0) }
                    c.statusRSS = LinuxBackend.number(after: "VmRSS:", in: status).map { $0.multipliedReportingOverflow(by: 1024).partialValue }
                    c.statusName = Self.statusName(status)
                }
                p.threads = c.statusThreads
                p.residentBytes = c.statusRSS
                if let n = c.statusName { p.name = n }
            }
            if p.threads == nil, let n = st.threads, n >= 0 { p.threads = Int(truncatingIfNeeded: n) }
            if let fd = files.fd {
                if !Self.same(c.fd, fd) {
                    c.fd = fd
                    c.fdCount = FDListParser.count(fd)
                }
                p.descriptors = c.fdCount
            }
            seenCheap[pid] = c
            if let maps = files.maps, !Self.same(mem.mapsBytes, maps) {
                let parsed = MapsParser.parse(maps)
                let s = MapsSummary(parsed)
                mem.space = Self.addressSpace(s)
                if mem.musl == nil { mem.musl = Self.usesMusl(parsed) }
                if mem.musl == true { mem.space!.stackCacheAllowance = 0 }
                mem.highestAddress = s.highestAddress
                mem.mapsBytes = maps
            }
            if files.maps != nil { p.addressSpace = mem.space }
            if !files.comms.isEmpty {
                var names: [String: UInt64] = [:]
                for c in files.comms { names[CommParser.parse(c) ?? "?", default: 0] += 1 }
                p.threadNames = names.map { NamedAmount($0.key, $0.value) }
            }
            if let bytes = files.limits, !Self.same(mem.limitsBytes, bytes) {
                let l = LimitsParser.parse(bytes)
                mem.limitsBytes = bytes
                mem.nofile = l.openFiles?.soft.map { Double($0) }
                mem.nproc = l.processes?.soft.map { Double($0) }
                mem.addressSpaceLimit = l.addressSpace?.soft.map { Double($0) }
            }
            if let m = files.pidsMax { mem.pidsMax = m.map { Double($0) } }
            if let c = files.pidsCurrent { mem.pidsCurrent = Double(c) }
            p.quotas = Self.quotas(p, mem, fresh: files.maps != nil, maxMapCount: maxMapCount)
            seen[key] = mem
            obs.processes.append(p)
        }
        remembered = seen
        cheap = seenCheap
        return obs
    }

    /// The limits one process runs into: descriptors, map count, and its thread ceiling once per limit of its own
    /// (cgroup, user, map count, address space).
    static func quotas(_ p: ProcessObservation, _ m: Remembered, fresh: Bool, maxMapCount: Double?) -> [QuotaReading] {
        var out: [QuotaReading] = []
        if let n = p.descriptors, let limit = m.nofile {
            out.append(QuotaReading(resource: "fd", limit: limit, used: Double(n), source: "RLIMIT_NOFILE"))
        }
        if fresh, let s = m.space, let limit = maxMapCount {
            out.append(QuotaReading(resource: "map_count", limit: limit, used: Double(s.mappings), source: "vm.max_map_count"))
        }
        guard let live = p.threads.map({ Double($0) }) else { return out }
        // Thread slots taken: live threads, plus the stacks of threads that ended and were never joined (which keep
        // their address space and mappings). Each limit is turned into room for more threads.
        var unjoined = 0.0
        if let s = m.space { unjoined = max(0, Double(s.stackRegions - s.cachedStacks) - max(0, live - 1)) }
        let used = live + unjoined
        func add(_ source: String, room: Double?, derived: Bool = false) {
            guard let r = room else { return }
            out.append(QuotaReading(resource: "thread", limit: used + r.rounded(.down), used: used, source: source, derived: derived))
        }
        // `threads-max` and `pid_max` bound the whole system's tasks: they are the system's thread readings, not a
        // process's (whose room there falls whenever any other process starts threads).
        add("cgroup pids.max", room: m.pidsMax.map { $0 - (m.pidsCurrent ?? live) })
        add("RLIMIT_NPROC", room: m.nproc.map { $0 - live })
        if let s = m.space {
            // Each new thread maps a stack and its guard: two mappings.
            add("vm.max_map_count", room: maxMapCount.map { ($0 - Double(s.mappings)) / 2 }, derived: true)
            let as32: Double? = m.highestAddress > 0 && m.highestAddress <= 1 << 32 ? 3 * 1_073_741_824 : nil
            // The layout's own total when it was read in this sample, else the stat line's.
            if s.typicalStackSize > 0, let limit = m.addressSpaceLimit ?? as32, let v = fresh ? s.virtualBytes : p.virtualBytes {
                add("address space", room: (limit - Double(v)) / Double(s.typicalStackSize))
            }
        }
        return out
    }

    /// Whether the process runs on musl's dynamic loader (musl frees a thread's stack at join or detached exit and
    /// keeps no cache of them). A static musl program shows no loader, and keeps glibc's allowance.
    static func usesMusl(_ maps: ProcessMaps) -> Bool {
        for m in maps.mappings {
            guard case .file(let path) = m.kind else { continue }
            let u = path.utf8
            let leaf = u.lastIndex(of: 0x2F).map { u[u.index(after: $0)...] } ?? u[...]
            if leaf.starts(with: "ld-musl-".utf8) || leaf.starts(with: "libc.musl-".utf8) { return true }
        }
        return false
    }

    /// File system caches the kernel shrinks under memory pressure (slabinfo does not say which caches are
    /// `SLAB_RECLAIM_ACCOUNT`; these are the ones every busy file system fills).
    static func reclaimable(_ name: String) -> Bool {
        if name == "dentry" || name == "buffer_head" || name == "radix_tree_node" || name == "xfs_ili" { return true }
        if name.hasSuffix("inode_cache") || name.hasSuffix("_inode") { return true }
        for prefix in ["ext4_", "xfs_", "btrfs_", "f2fs_", "nfs_", "jbd2_", "fat_", "ovl_", "squashfs_"] where name.hasPrefix(prefix) { return true }
        return false
    }

    /// The summary of `maps` in shared words.
    static func addressSpace(_ s: MapsSummary) -> AddressSpace {
        var a = AddressSpace()
        a.stackRegions = s.stackLikeRegions
        a.stackBytes = s.stackLikeBytes
        a.typicalStackSize = s.typicalStackSize
        a.cachedStacks = s.cachedStacks
        a.stackCacheAllowance = stackCacheAllowance
        a.heapBytes = s.heapBytes
        a.anonymousBytes = s.anonymousBytes
        a.sharedBytes = s.sharedBytes
        a.sharedMappings = s.sharedMappings
        a.mappings = s.mapCount
        a.virtualBytes = s.virtualBytes
        // Each stack comes with its guard; each arena with its reserve.
        let stacks = 2 * (s.stackLikeRegions + s.cachedStacks)
        let heap = 1 + 2 * s.arenas
        let other = max(0, s.mapCount - stacks - heap - s.sharedMappings)
        a.mappingsByClass = [NamedAmount("thread stacks", UInt64(stacks)), NamedAmount("heap", UInt64(heap)),
                             NamedAmount("shared memory", UInt64(s.sharedMappings)), NamedAmount("files and other", UInt64(other))]
        return a
    }

    public func events(inLogLines lines: [[UInt8]]) -> [ObservedEvent] {
        KmsgParser.parse(lines: lines).records.compactMap { r -> ObservedEvent? in
            switch r.event {
            case .oomKill(let k)?:
                return ObservedEvent(kind: .outOfMemoryKill, pid: k.pid, name: k.comm, anonymousResidentBytes: k.anonRSS, virtualBytes: k.totalVM)
            case .oomVictimSelected(let v)?:
                return ObservedEvent(kind: .outOfMemoryVictim, pid: v.pid, name: v.comm)
            case .segfault(let s)?:
                return ObservedEvent(kind: .segfault, pid: s.pid, name: s.comm)
            case nil:
                return nil
            }
        }
    }

    static func add(_ f: FileCapture, leaf: Substring.UTF8View, to p: inout Files) {
        switch String(leaf) {
        case "stat": p.stat = f.bytes
        case "status": p.status = f.bytes
        case "fd": if f.kind == .directory { p.fd = f.bytes }
        case "maps": p.maps = f.bytes
        case "limits": p.limits = f.bytes
        default: if leaf.starts(with: "task/".utf8) && f.path.hasSuffix("/comm") { p.comms.append(f.bytes) }
        }
    }

    /// `/proc/PID/REST` -> (PID, REST), from the bytes.
    static func processPath(_ path: String) -> (Int32, Substring.UTF8View)? {
        let u = path.utf8
        guard u.starts(with: "/proc/".utf8) else { return nil }
        var i = u.index(u.startIndex, offsetBy: 6)
        var pid: Int32 = 0
        var digits = 0
        while i < u.endIndex, let c = Optional(u[i]), c >= 0x30, c <= 0x39, digits < 9 {
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
}
