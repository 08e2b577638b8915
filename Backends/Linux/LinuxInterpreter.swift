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
        /// What in them could not be used, reported again in each sample that captured them.
        var mapsUnusable: [UnusableValue] = []
        var limitsUnusable: [UnusableValue] = []
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
        /// What in `stat` and `status` could not be used, reported again in each sample that captured them.
        var statUnusable: [UnusableValue] = []
        var statusUnusable: [UnusableValue] = []
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
        /// Its row in a `top -b` screen (imported hand-made logs).
        var top: TopScreen.Row?
    }

    /// The unsigned number a whole file holds (`threads-max`, `pid_max`, ...), at most `maximum` (what the kernel's
    /// type for it holds), or nil with the file noted as unusable.
    static func number(_ f: FileCapture, maximum: UInt64, unusable: inout [UnusableValue]) -> UInt64? {
        if let n = NumberFileParser.parse(f.bytes), n <= maximum { return n }
        unusable.append(UnusableValue(path: f.path, field: "value", bytes: f.bytes.prefix { $0 != 0x0A }))
        return nil
    }

    /// The largest value of the kernel's `int`, the type of its thread and pid counts and of several limits.
    static let int = UInt64(Int32.max)

    /// A count that must fit the kernel's `int` (threads), or nil with the text noted as unusable.
    static func count(_ v: UInt64?, _ field: String, _ text: @autoclosure () -> String, in path: @autoclosure () -> String,
                      unusable: inout [UnusableValue]) -> Int? {
        if let v, v <= Self.int { return Int(v) }
        unusable.append(UnusableValue(path: path(), field: field, text: text()))
        return nil
    }

    public func interpret(wallNanos: Int64, files: [FileCapture]) -> SampleObservations {
        var obs = SampleObservations(wallNanos: wallNanos)
        var threadsMax: Double?, pidMax: Double?, maxMapCount: Double?, tasks: Double?
        var order: [Int32] = []
        var byPID: [Int32: Files] = [:]
        var lastPID: Int32?
        // What `free` and `top` said of memory (imported hand-made logs), used when there is no meminfo.
        var commandMemory: (total: UInt64?, available: UInt64?)?
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
                obs.unusable += UnusableValue.skippedLines(m.skippedLines, first: m.values.firstSkippedLine, in: f.path)
                if m.memAvailable == nil && m.memFree != nil && m.availableEstimate == nil {
                    obs.unusable.append(UnusableValue(path: f.path, field: "MemFree + Buffers + Cached", text: "more than 2^64 bytes"))
                }
            // All three are ints in the kernel (max_threads, pid_max, sysctl_max_map_count).
            case "/proc/sys/kernel/threads-max": threadsMax = Self.number(f, maximum: Self.int, unusable: &obs.unusable).map { Double($0) }
            case "/proc/sys/kernel/pid_max": pidMax = Self.number(f, maximum: Self.int, unusable: &obs.unusable).map { Double($0) }
            case "/proc/sys/vm/max_map_count": maxMapCount = Self.number(f, maximum: Self.int, unusable: &obs.unusable).map { Double($0) }
            case "/proc/loadavg":
                // "%u/%d": the tasks after the slash are an int (nr_threads).
                tasks = LoadavgParser.parse(f.bytes).flatMap { $0.total <= Self.int ? Double($0.total) : nil }
                if tasks == nil { obs.unusable.append(UnusableValue(path: f.path, field: "line", bytes: f.bytes.prefix { $0 != 0x0A })) }
            case "/proc/sys/fs/file-nr":
                if let n = FileNrParser.parse(f.bytes) {
                    if n.maximum > 0 {
                        obs.system.quotas.append(QuotaReading(resource: "fd", limit: Double(n.maximum), used: Double(n.allocated), source: "fs.file-max"))
                    }
                } else {
                    obs.unusable.append(UnusableValue(path: f.path, field: "line", bytes: f.bytes.prefix { $0 != 0x0A }))
                }
            case "/proc/slabinfo":
                let info = SlabinfoParser.parse(f.bytes)
                obs.unusable += UnusableValue.skippedLines(info.skippedLines, first: info.firstSkippedLine, in: f.path)
                var caches: [KernelCache] = []
                for c in info.caches {
                    guard let bytes = c.activeBytes else {
                        obs.unusable.append(UnusableValue(path: f.path, field: "\(c.name) active_objs * objsize",
                                                          text: "\(c.activeObjects) * \(c.objectSize) bytes is more than 2^64"))
                        continue
                    }
                    caches.append(KernelCache(name: c.name, bytes: bytes, reclaimable: Self.reclaimable(c.name)))
                }
                obs.system.kernelCaches = caches
            case CommandOutputParser.topPath:
                let t = CommandOutputParser.parseTop(f.bytes)
                for r in t.rows {
                    if byPID[r.pid] == nil { order.append(r.pid) }
                    byPID[r.pid, default: Files()].top = r
                }
                if t.skippedLines > 0, let first = t.firstSkippedLine {
                    obs.unusable += UnusableValue.skippedLines(t.skippedLines, first: first, in: f.path)
                }
                if commandMemory?.available == nil { commandMemory = (t.memoryTotal, t.memoryAvailable) }
            case CommandOutputParser.freePath:
                let m = CommandOutputParser.parseFree(f.bytes)
                if m.available != nil { commandMemory = (m.total, m.available) }
            default:
                // A cgroup's pids files follow the files of the process whose deep read found them.
                if let pid = lastPID, byPID[pid] != nil {
                    if f.path.hasSuffix("/pids.max") {
                        // pids.c prints both as "%lld".
                        if let m = CgroupPidsParser.parseMax(f.bytes), (m.value ?? 0) <= UInt64(Int64.max) {
                            byPID[pid]!.pidsMax = .some(m.value)
                        } else {
                            obs.unusable.append(UnusableValue(path: f.path, field: "value", bytes: f.bytes.prefix { $0 != 0x0A }))
                        }
                    } else if f.path.hasSuffix("/pids.current") {
                        byPID[pid]!.pidsCurrent = Self.number(f, maximum: UInt64(Int64.max), unusable: &obs.unusable)
                    }
                }
            }
        }
        if obs.system.memoryAvailable == nil, let m = commandMemory {
            obs.system.memoryAvailable = m.available
            obs.system.memoryTotal = m.total
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
            guard let files = byPID[pid] else { continue }
            guard let statBytes = files.stat else {
                // Imported hand-made logs hold status, maps or top rows without stat.
                if let p = statless(pid, files, maxMapCount: maxMapCount, unusable: &obs.unusable, seen: &seen) { obs.processes.append(p) }
                continue
            }
            var c = cheap[pid] ?? Cheap()
            // Built only for a report: most samples have nothing to report.
            func path(_ leaf: String) -> String { "/proc/\(pid)/" + leaf }
            if !Self.same(c.stat, statBytes) {
                c.stat = statBytes
                c.essentials = StatParser.essentials(statBytes)
                c.statUnusable = c.essentials.map { $0.unusable.map { $0.at(path("stat")) } }
                    ?? [UnusableValue(path: path("stat"), field: "line", bytes: statBytes.prefix { $0 != 0x0A })]
                if let n = c.essentials?.threads, n < 0 || n > Int64(Self.int) {
                    c.statUnusable.append(UnusableValue(path: path("stat"), field: "num_threads (field 20)", text: String(n)))
                }
            }
            obs.unusable += c.statUnusable
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
                    c.statusUnusable = []
                    c.statusThreads = nil
                    c.statusRSS = nil
                    func text(_ line: Range<Int>) -> String { status.withUnsafeBufferPointer { ProcText.excerpt($0, line) } }
                    if let t = LinuxBackend.scan(after: "Threads:", in: status) {
                        c.statusThreads = Self.count(t.value, "Threads", text(t.line), in: path("status"), unusable: &c.statusUnusable)
                    }
                    // "VmRSS:\t%8lu kB": kibibytes, whose bytes must fit 64 bits.
                    if let r = LinuxBackend.scan(after: "VmRSS:", in: status) {
                        c.statusRSS = r.value.flatMap { ProcText.kibibytes($0) }
                        if c.statusRSS == nil { c.statusUnusable.append(UnusableValue(path: path("status"), field: "VmRSS", text: text(r.line))) }
                    }
                    c.statusName = Self.statusName(status)
                }
                obs.unusable += c.statusUnusable
                p.threads = c.statusThreads
                p.residentBytes = c.statusRSS
                if let n = c.statusName { p.name = n }
            }
            // num_threads is a signed int in the kernel (signal_struct.nr_threads).
            if p.threads == nil, let n = st.threads, n >= 0, n <= Int64(Self.int) { p.threads = Int(n) }
            if let fd = files.fd {
                if !Self.same(c.fd, fd) {
                    c.fd = fd
                    c.fdCount = FDListParser.count(fd)
                }
                p.descriptors = c.fdCount
            }
            seenCheap[pid] = c
            if let maps = files.maps { Self.readMaps(maps, into: &mem, path: path("maps")) }
            if files.maps != nil {
                p.addressSpace = mem.space
                obs.unusable += mem.mapsUnusable
            }
            if !files.comms.isEmpty {
                var names: [String: UInt64] = [:]
                for c in files.comms { names[CommParser.parse(c) ?? "?", default: 0] += 1 }
                p.threadNames = names.sorted { $0.key < $1.key }.map { NamedAmount($0.key, $0.value) }  // by name: the same each run
            }
            if let bytes = files.limits, !Self.same(mem.limitsBytes, bytes) {
                let l = LimitsParser.parse(bytes)
                mem.limitsBytes = bytes
                mem.nofile = l.openFiles?.soft.map { Double($0) }
                mem.nproc = l.processes?.soft.map { Double($0) }
                mem.addressSpaceLimit = l.addressSpace?.soft.map { Double($0) }
                mem.limitsUnusable = UnusableValue.skippedLines(l.skippedLines, first: l.firstSkippedLine, in: path("limits"))
            }
            if files.limits != nil { obs.unusable += mem.limitsUnusable }
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

    /// The layout in `maps`, unless the same bytes were read before.
    static func readMaps(_ maps: [UInt8], into mem: inout Remembered, path: @autoclosure () -> String) {
        guard !Self.same(mem.mapsBytes, maps) else { return }
        let parsed = MapsParser.parse(maps)
        let s = MapsSummary(parsed)
        mem.mapsUnusable = UnusableValue.skippedLines(parsed.skippedLines, first: parsed.firstSkippedLine, in: path())
        if s.overflows {
            // Mappings of one address space cannot add up to more than it: not a layout to judge by.
            mem.mapsUnusable.append(UnusableValue(path: path(), field: "mapping sizes", text: "add up to more than 2^64 bytes"))
            mem.space = nil
            mem.highestAddress = 0
        } else {
            mem.space = Self.addressSpace(s)
            if mem.musl == nil { mem.musl = Self.usesMusl(parsed) }
            if mem.musl == true { mem.space!.stackCacheAllowance = 0 }
            mem.highestAddress = s.highestAddress
        }
        mem.mapsBytes = maps
    }

    /// A process with no `stat` in the sample (hand-made logs: `cat /proc/PID/status`, maps, a `top -b` row): what
    /// its status, maps and top row say; nil when there is none of them. Without stat's start time a reused pid
    /// cannot be told from its predecessor.
    func statless(_ pid: Int32, _ files: Files, maxMapCount: Double?, unusable: inout [UnusableValue],
                  seen: inout [UInt64: Remembered]) -> ProcessObservation? {
        guard files.status != nil || files.top != nil || files.maps != nil else { return nil }
        let status = files.status.map { StatusParser.parse($0) }
        var p = ProcessObservation(pid: pid, name: status?.name ?? files.top?.name ?? "pid \(pid)")
        if let s = status, s.skippedLines > 0 {
            unusable.append(UnusableValue(path: "/proc/\(pid)/status", field: "line", text: "\(s.skippedLines) line(s) without a key and value"))
        }
        p.threads = status?.threads ?? files.top?.threads
        p.residentBytes = status?.vmRSS ?? files.top?.residentBytes
        p.virtualBytes = status?.vmSize ?? files.top?.virtualBytes
        if let t = p.threads, t < 0 || t > Int(Self.int) { p.threads = nil }
        let key = UInt64(UInt32(bitPattern: pid)) << 40
        var mem = remembered[key] ?? Remembered()
        if let maps = files.maps {
            Self.readMaps(maps, into: &mem, path: "/proc/\(pid)/maps")
            p.addressSpace = mem.space
            unusable += mem.mapsUnusable
        }
        p.quotas = Self.quotas(p, mem, fresh: files.maps != nil, maxMapCount: maxMapCount)
        seen[key] = mem
        return p
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
        if let s = m.space { unjoined = max(0, Double(s.stackRegions) - Double(s.cachedStacks) - max(0, live - 1)) }
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

    /// Kernel log lines that announce an OOM kill or a segfault but whose numbers do not parse (a pid beyond the
    /// kernel's, a size whose bytes overflow): the event is not counted, and the line is reported.
    public func unusableValues(inLogLines lines: [[UInt8]]) -> [UnusableValue] {
        var out: [UnusableValue] = []
        for line in lines {
            let marked = line.withUnsafeBufferPointer { b in
                ["Killed process ", "]: segfault at "].contains { (m: StaticString) in ProcText.firstRange(of: m, in: b, 0..<b.count) != nil }
            }
            guard marked else { continue }
            let event = KmsgParser.parse(lines: [line]).records.first?.event
            let usable: Bool
            if case .oomKill(let k)? = event {
                // The sizes analysis reports, when the line has them.
                usable = line.withUnsafeBufferPointer { b in
                    (k.totalVM != nil || ProcText.firstRange(of: "total-vm:", in: b, 0..<b.count) == nil)
                        && (k.anonRSS != nil || ProcText.firstRange(of: "anon-rss:", in: b, 0..<b.count) == nil)
                }
            } else {
                usable = event != nil
            }
            if !usable { out.append(UnusableValue(path: "/dev/kmsg", field: "event line", bytes: line.prefix { $0 != 0x0A })) }
        }
        return out
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
