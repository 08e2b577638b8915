import FieldLinux

/// Runs the detectors over device timelines and computes quotas.
public struct Analyzer {
    /// How far ahead a forecast counts: a leak that exhausts a quota within this horizon is critical.
    public var horizonSeconds: Double = 7 * 24 * 3600

    /// An analyzer with the default horizon.
    public init(horizonSeconds: Double = 7 * 24 * 3600) { self.horizonSeconds = horizonSeconds }

    /// Findings (most important first) and quotas.
    public func analyze(_ devices: [DeviceTimeline]) -> (findings: [Finding], quotas: [Quota]) {
        var findings: [Finding] = []
        var quotas: [Quota] = []
        for d in devices {
            let sys = d.system
            for t in d.processes.values.sorted(by: { $0.key < $1.key }) {
                findings += processFindings(t, device: d.device)
                let q = processQuotas(t, device: d.device, system: sys)
                quotas += q
                for quota in q {
                    // A thread ceiling set by the map count says what the map_count quota already says.
                    if quota.resource == "thread" && quota.binding == "max_map_count" && q.contains(where: { $0.resource == "map_count" }) {
                        continue
                    }
                    if quota.used >= quota.limit {
                        findings.append(quotaFinding(.quotaExhausted, quota, t))
                    } else if let eta = quota.etaSeconds, eta <= horizonSeconds {
                        findings.append(quotaFinding(.quotaForecast, quota, t))
                    }
                }
            }
            for (wall, e) in d.events { findings.append(eventFinding(e, wall: wall, device: d)) }
            if let q = systemThreadQuota(d) {
                quotas.append(q)
                if q.used >= q.limit {
                    findings.append(Finding(kind: .quotaExhausted, severity: .critical, device: d.device, pid: nil, process: nil,
                        summary: "the system ran out of tasks: \(Int(q.used)) of \(Int(q.limit)) (\(q.binding ?? "-"))",
                        evidence: ["limit": q.limit, "used": q.used, "peak": q.peak, "eta_seconds": 0], details: [],
                        fix: "thread and process creation fails with EAGAIN; find what multiplies (the other findings)"))
                } else if let eta = q.etaSeconds, eta <= horizonSeconds {
                    findings.append(Finding(kind: .quotaForecast, severity: .warning, device: d.device, pid: nil, process: nil,
                        summary: "the system's tasks reach \(Int(q.limit)) (\(q.binding ?? "-")) in \(Self.duration(eta)): \(Int(q.used)) now",
                        evidence: ["limit": q.limit, "used": q.used, "peak": q.peak, "eta_seconds": eta], details: [],
                        fix: "find the process whose threads multiply (the other findings)"))
                }
            }
            for q in kernelObjectQuotas(d) {
                quotas.append(q)
                if q.peak >= q.limit || q.used >= q.limit {
                    let now = q.used >= q.limit ? "is exhausted now" : "ran dry at least once since boot (max-used = total: creation calls failed)"
                    findings.append(Finding(kind: .quotaExhausted, severity: .critical, device: d.device, pid: nil, process: nil,
                        summary: "SylixOS \(q.resource) pool \(now): used \(Int(q.used)), max-used \(Int(q.peak)) of \(Int(q.limit))",
                        evidence: ["limit": q.limit, "used": q.used, "peak": q.peak, "eta_seconds": 0], details: [],
                        fix: "find what keeps creating \(q.resource) objects, or raise the pool size in the kernel configuration"))
                } else if let eta = q.etaSeconds, eta <= horizonSeconds {
                    findings.append(Finding(kind: .quotaForecast, severity: .critical, device: d.device, pid: nil, process: nil,
                        summary: "SylixOS \(q.resource) pool runs out in \(Self.duration(eta)): \(Int(q.used)) of \(Int(q.limit)) used",
                        evidence: ["limit": q.limit, "used": q.used, "peak": q.peak, "eta_seconds": eta], details: [],
                        fix: "find what keeps creating \(q.resource) objects before creation fails"))
                }
            }
            let (sysFindings, sysQuotas) = systemFindings(d)
            findings += sysFindings
            quotas += sysQuotas
        }
        // Leaks that run a quota of theirs dry within the horizon are critical.
        for i in findings.indices where findings[i].severity == .warning {
            if let pid = findings[i].pid,
               quotas.contains(where: { $0.pid == pid && $0.device == findings[i].device && ($0.etaSeconds ?? .infinity) <= horizonSeconds }) {
                findings[i].severity = .critical
            }
        }
        findings.sort { ($0.severity, $1.pid ?? 0) > ($1.severity, $0.pid ?? 0) }
        return (findings, quotas)
    }

    // MARK: Per-process detectors

    func series(_ t: ProcessTimeline, _ value: (ProcessPoint) -> Double?) -> [(t: Double, v: Double)] {
        t.points.compactMap { p in value(p).map { (Double(p.wallNanos) / 1e9, $0) } }
    }

    func processFindings(_ t: ProcessTimeline, device: String) -> [Finding] {
        var out: [Finding] = []
        let name = t.name
        func finding(_ kind: FindingKind, _ summary: String, _ evidence: [String: Double], _ details: [String] = [], fix: String) {
            out.append(Finding(kind: kind, severity: .warning, device: device, pid: t.key.pid, process: name,
                summary: summary, evidence: evidence, details: details, fix: fix))
        }
        let mapsPoints = t.points.filter { $0.maps != nil && $0.threads != nil }
        // Unjoined: stack-like regions beyond the live threads (the main thread's stack is not stack-like).
        let excess = mapsPoints.map { (Double($0.wallNanos) / 1e9, Double($0.maps!.stackLikeRegions - max(0, $0.threads! - 1))) }
        if let tr = Trend(excess), tr.slopePerSecond > 0, tr.last - tr.first >= 5 {
            let stack = Double(mapsPoints.last!.maps!.typicalStackSize)
            let beyondCache = stack > 0 && tr.last * stack > 40 * 1_048_576  // glibc caches up to 40 MiB of stacks
            if beyondCache || tr.risingShare >= 0.6 {
                let vFirst = Double(mapsPoints.first!.maps!.virtualBytes), vLast = Double(mapsPoints.last!.maps!.virtualBytes)
                let perMinute = (vLast - vFirst) / max(tr.spanSeconds, 1) * 60
                finding(.threadLeakUnjoined,
                    "joinable threads exit without pthread_join: \(Int(tr.last)) stacks of \(Self.bytes(stack)) never freed "
                        + "(\(Int(tr.first)) at start), +\(Self.bytes(perMinute)) virtual per minute in pid \(t.key.pid) (\(name))",
                    ["stacks_start": tr.first, "stacks_end": tr.last, "stacks_per_hour": tr.slopePerHour, "stack_bytes": stack,
                     "virtual_start": vFirst, "virtual_end": vLast, "threads_end": Double(mapsPoints.last!.threads!)],
                    fix: "call pthread_join on every joinable thread, or create them detached (pthread_detach)")
            }
        }
        // Growing: live threads keep increasing.
        if let tr = Trend(series(t) { $0.threads.map { Double($0) } }), tr.slopePerSecond > 0, tr.last - tr.first >= 5, tr.risingShare >= 0.4 {
            var details: [String] = []
            let named = t.points.compactMap(\.threadNames)
            if let first = named.first, let last = named.last {
                let grew = last.map { ($0.key, $0.value - (first[$0.key] ?? 0)) }.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
                details = grew.prefix(3).map { "\($0.0): +\($0.1) (now \(last[$0.0]!))" }
            }
            let who = details.first.map { " named \"\($0.split(separator: ":")[0])\"" } ?? ""
            finding(.threadLeakGrowing,
                "threads\(who) are created again and again and never exit: \(Int(tr.first)) -> \(Int(tr.last)) live threads, "
                    + "+\(Int(tr.slopePerHour.rounded())) per hour in pid \(t.key.pid) (\(name))",
                ["threads_start": tr.first, "threads_end": tr.last, "threads_per_hour": tr.slopePerHour], details,
                fix: "find the code that starts these threads; let them finish, or reuse a fixed pool")
        }
        if let tr = Trend(series(t) { $0.fds.map { Double($0) } }), tr.slopePerSecond > 0, tr.last - tr.first >= 10, tr.risingShare >= 0.4 {
            finding(.fdLeak,
                "file descriptors are opened and never closed: \(Int(tr.first)) -> \(Int(tr.last)), +\(Int(tr.slopePerHour.rounded())) per hour in pid \(t.key.pid) (\(name))",
                ["fds_start": tr.first, "fds_end": tr.last, "fds_per_hour": tr.slopePerHour],
                fix: "close every descriptor on every path (including errors); check /proc/\(t.key.pid)/fd for what stays open")
        }
        // Memory that grows by bytes: the heap (and malloc arenas), and other private anonymous mappings.
        func bytesGrowth(_ kind: FindingKind, _ what: String, _ key: String, minimum: Double, fix: String, _ value: (ProcessPoint) -> Double?) {
            guard let tr = Trend(series(t, value)), tr.slopePerSecond > 0, tr.last - tr.first >= minimum else { return }
            finding(kind,
                "\(what) grows: \(Self.bytes(tr.first)) -> \(Self.bytes(tr.last)), +\(Self.bytes(tr.slopePerHour)) per hour in pid \(t.key.pid) (\(name))",
                ["\(key)_start": tr.first, "\(key)_end": tr.last, "\(key)_per_hour": tr.slopePerHour], fix: fix)
        }
        bytesGrowth(.heapLeak, "the heap", "heap", minimum: 2 * 1_048_576,
            fix: "find allocations without a free (valgrind --leak-check=full, or heaptrack, on a test build)") {
            $0.maps.map { Double($0.heapBytes) } ?? $0.heapBytes.map { Double($0) }
        }
        bytesGrowth(.anonGrowth, "anonymous memory (mmap)", "anon", minimum: 4 * 1_048_576,
            fix: "look for mmap without munmap, or large malloc blocks (above the mmap threshold) never freed") {
            $0.maps.map { Double($0.anonymousBytes) } ?? $0.mmapBytes.map { Double($0) }
        }
        let shm = Trend(series(t) { $0.maps.map { Double($0.sharedMappings) } })
        let shmBytes = Trend(series(t) { $0.maps.map { Double($0.sharedBytes) } })
        if let tr = shm, let b = shmBytes, tr.slopePerSecond > 0, tr.last - tr.first >= 3 {
            finding(.shmLeak,
                "shared memory is attached and never detached: \(Int(tr.first)) -> \(Int(tr.last)) mappings (\(Self.bytes(b.last))) in pid \(t.key.pid) (\(name))",
                ["mappings_start": tr.first, "mappings_end": tr.last, "bytes_end": b.last, "mappings_per_hour": tr.slopePerHour],
                fix: "shmdt (SysV) or munmap (memfd, /dev/shm) what is no longer used, and remove segments with IPC_RMID")
        }
        // vm-growth: virtual size grows by much more than the explained categories.
        if let v = Trend(series(t) { $0.virtualBytes.map { Double($0) } }), v.slopePerSecond > 0, v.last - v.first >= 64 * 1_048_576,
           !out.contains(where: { [.threadLeakUnjoined, .threadLeakGrowing, .heapLeak, .anonGrowth, .shmLeak].contains($0.kind) }) {
            finding(.vmGrowth,
                "virtual size grows without a known cause: \(Self.bytes(v.first)) -> \(Self.bytes(v.last)) in pid \(t.key.pid) (\(name))",
                ["virtual_start": v.first, "virtual_end": v.last, "virtual_per_hour": v.slopePerHour],
                fix: "compare /proc/\(t.key.pid)/maps between the start and the end of the run")
        }
        return out
    }

    // MARK: System detectors

    /// Every row of SylixOS `kernel/objects` as a system quota: limit total, used, peak max-used.
    func kernelObjectQuotas(_ d: DeviceTimeline) -> [Quota] {
        let pts = d.system.filter { $0.kernelObjects != nil }
        guard let last = pts.last?.kernelObjects else { return [] }
        return last.map { pool in
            let series = pts.compactMap { p in
                p.kernelObjects?.first(where: { $0.name == pool.name }).map { (t: Double(p.wallNanos) / 1e9, v: Double($0.used)) }
            }
            let exhausted = pool.used >= pool.total
            return Quota(os: "sylixos", device: d.device, resource: pool.name, scope: "system", pid: nil, process: nil,
                limit: Double(pool.total), used: Double(pool.used), peak: Double(pool.maxUsed), binding: nil,
                etaSeconds: exhausted ? 0 : Trend(series)?.secondsUntil(Double(pool.total)))
        }
    }

    /// All tasks of the system against `threads-max` and `pid_max`, the smaller binding.
    func systemThreadQuota(_ d: DeviceTimeline) -> Quota? {
        let pts = d.system.filter { $0.totalTasks != nil }
        guard let last = pts.last, let used = last.totalTasks.map({ Double($0) }) else { return nil }
        var limits: [(String, Double)] = []
        if let v = last.threadsMax { limits.append(("threads-max", Double(v))) }
        if let v = last.pidMax { limits.append(("pid_max", Double(v))) }
        guard let bind = limits.min(by: { $0.1 < $1.1 }) else { return nil }
        let series = pts.map { (t: Double($0.wallNanos) / 1e9, v: Double($0.totalTasks!)) }
        return Quota(os: d.backend, device: d.device, resource: "thread", scope: "system", pid: nil, process: nil, limit: bind.1,
            used: used, peak: series.map(\.v).max() ?? used, binding: bind.0,
            etaSeconds: used >= bind.1 ? 0 : Trend(series)?.secondsUntil(bind.1))
    }

    /// Slab caches that grow steadily, and MemAvailable heading for zero.
    func systemFindings(_ d: DeviceTimeline) -> ([Finding], [Quota]) {
        var out: [Finding] = []
        var quotas: [Quota] = []
        let slabPoints = d.system.filter { $0.slabBytes != nil }
        if let lastSlab = slabPoints.last?.slabBytes {
            for name in lastSlab.keys.sorted() {
                let series: [(t: Double, v: Double)] = slabPoints.compactMap { p in p.slabBytes?[name].map { (Double(p.wallNanos) / 1e9, Double($0)) } }
                guard let tr = Trend(series), tr.slopePerSecond > 0, tr.last - tr.first >= 4 * 1_048_576, tr.risingShare >= 0.5 else { continue }
                out.append(Finding(kind: .slabGrowth, severity: .warning, device: d.device, pid: nil, process: nil,
                    summary: "kernel slab cache \(name) grows: \(Self.bytes(tr.first)) -> \(Self.bytes(tr.last)), +\(Self.bytes(tr.slopePerHour)) per hour",
                    evidence: ["bytes_start": tr.first, "bytes_end": tr.last, "bytes_per_hour": tr.slopePerHour], details: [name],
                    fix: "a kernel object is allocated and not freed: look at what creates \(name) objects (driver, sockets, inodes)"))
            }
        }
        let avail: [(t: Double, v: Double)] = d.system.compactMap { p in p.memAvailable.map { (Double(p.wallNanos) / 1e9, Double($0)) } }
        if let total = d.system.last(where: { $0.memTotal != nil })?.memTotal.map({ Double($0) }), let tr = Trend(avail), let lastAvail = avail.last?.v {
            let usedSeries = avail.map { (t: $0.t, v: total - $0.v) }
            let eta = tr.slopePerSecond < 0 ? lastAvail / -tr.slopePerSecond : nil
            quotas.append(Quota(os: d.backend, device: d.device, resource: "memory", scope: "system", pid: nil, process: nil,
                limit: total, used: total - lastAvail, peak: usedSeries.map(\.v).max() ?? 0, binding: "MemTotal", etaSeconds: lastAvail <= 0 ? 0 : eta))
            // Only a real decline: at least 5 % of memory over the window, and gone within the horizon.
            if let e = eta, e <= horizonSeconds, tr.first - tr.last >= 0.05 * total {
                out.append(Finding(kind: .memoryPressure, severity: .critical, device: d.device, pid: nil, process: nil,
                    summary: "available memory falls: \(Self.bytes(tr.first)) -> \(Self.bytes(tr.last)) of \(Self.bytes(total)), gone in \(Self.duration(e)) at this rate",
                    evidence: ["available_start": tr.first, "available_end": tr.last, "total": total, "eta_seconds": e], details: [],
                    fix: "find the process or cache that grows (the other findings), before the OOM killer does"))
            }
        }
        return (out, quotas)
    }

    // MARK: Quotas

    /// Linux: the thread ceiling is the smallest of several limits; map count and descriptors too.
    func processQuotas(_ t: ProcessTimeline, device: String, system: [SystemPoint]) -> [Quota] {
        guard let last = t.points.last else { return [] }
        var out: [Quota] = []
        let sys = system.last
        func quota(_ resource: String, _ s: [(t: Double, v: Double)], limit: Double, binding: String?) {
            guard let used = s.last?.v, limit > 0 else { return }
            let peak = s.map(\.v).max() ?? used
            let eta = used >= limit ? 0 : Trend(s)?.secondsUntil(limit)
            out.append(Quota(os: "linux", device: device, resource: resource, scope: "process", pid: t.key.pid, process: t.name,
                limit: limit, used: used, peak: peak, binding: binding, etaSeconds: eta))
        }
        // Threads: every limit the data shows, each as headroom in threads over time; the one whose headroom runs out
        // first binds (not simply the smallest number: a leak of stacks eats address space and map count while
        // the live thread count stays flat).
        let nproc: Double? = t.limits?.processes?.soft.map { Double($0) }
        let space: Double? = t.limits?.addressSpace?.soft.map { Double($0) }
        var headroom: [String: [(t: Double, v: Double)]] = [:]
        var used: [(t: Double, v: Double)] = []
        var sysIndex = 0
        var leaked: Double = 0  // carried between deep reads
        for p in t.points {
            guard let n = p.threads else { continue }
            let threads = Double(n)
            let time = Double(p.wallNanos) / 1e9
            while sysIndex + 1 < system.count && system[sysIndex + 1].wallNanos <= p.wallNanos { sysIndex += 1 }
            let s = system.isEmpty ? nil : system[sysIndex]
            // Thread slots taken: live threads, plus stacks of exited threads nobody joined (last deep read).
            if let m = p.maps { leaked = max(0, Double(m.stackLikeRegions) - (threads - 1)) }
            used.append((time, threads + leaked))
            func add(_ name: String, _ v: Double?) { if let v { headroom[name, default: []].append((time, v)) } }
            add("threads-max", s?.threadsMax.map { Double($0) - threads })
            add("pid_max", s?.pidMax.map { Double($0) - threads })
            add("cgroup pids.max", t.cgroupPidsMax.map { Double($0) - threads })
            add("RLIMIT_NPROC", nproc.map { $0 - threads })
            if let m = p.maps {
                // Each new thread maps a stack and its guard: two mappings on glibc.
                add("max_map_count", s?.maxMapCount.map { (Double($0) - Double(m.mapCount)) / 2 })
                let as32 = m.highestAddress > 0 && m.highestAddress <= 1 << 32 ? 3.0 * 1_073_741_824 : nil
                if m.typicalStackSize > 0, let limit = space ?? as32 {
                    add("address space", (limit - Double(m.virtualBytes)) / Double(m.typicalStackSize))
                }
            }
        }
        if let usedNow = used.last?.v {
            var best: (name: String, eta: Double?, room: Double)?
            for (name, series) in headroom {
                guard let room = series.last?.v else { continue }
                let trend = Trend(series)
                let eta: Double? = room <= 0 ? 0 : (trend.map { $0.slopePerSecond < 0 ? room / -$0.slopePerSecond : nil } ?? nil)
                let better: Bool
            if let b = best {
                    switch (eta, b.eta) {
                    case let (e?, be?): better = e < be
                    case (_?, nil): better = true
                    case (nil, _?): better = false
                    case (nil, nil): better = room < b.room
                    }
                } else {
                    better = true
                }
                if better { best = (name, eta, room) }
            }
            if let b = best {
                out.append(Quota(os: "linux", device: device, resource: "thread", scope: "process", pid: t.key.pid, process: t.name,
                    limit: usedNow + max(0, b.room), used: usedNow, peak: used.map(\.v).max() ?? usedNow, binding: b.name,
                    etaSeconds: b.eta))
            }
        }
        if let mmc = sys?.maxMapCount {
            quota("map_count", series(t) { $0.maps.map { Double($0.mapCount) } }, limit: Double(mmc), binding: "vm.max_map_count")
        }
        if let nofile = t.limits?.openFiles?.soft {
            quota("fd", series(t) { $0.fds.map { Double($0) } }, limit: Double(nofile), binding: "RLIMIT_NOFILE")
        }
        return out
    }

    func quotaFinding(_ kind: FindingKind, _ q: Quota, _ t: ProcessTimeline) -> Finding {
        let when = kind == .quotaExhausted ? "reached" : "will be reached in \(Self.duration(q.etaSeconds ?? 0))"
        return Finding(kind: kind, severity: kind == .quotaExhausted ? .critical : .warning, device: q.device, pid: q.pid,
            process: q.process,
            summary: "\(q.resource) limit \(Int(q.limit)) (\(q.binding ?? "limit")) \(when) in pid \(q.pid ?? 0) (\(t.name)): \(Int(q.used)) used",
            evidence: ["limit": q.limit, "used": q.used, "peak": q.peak, "eta_seconds": q.etaSeconds ?? -1], details: [],
            fix: kind == .quotaExhausted ? "creation calls fail with EAGAIN/EMFILE/ENOMEM now; fix the leak or raise \(q.binding ?? "the limit")"
                : "fix the growth before it runs out, or raise \(q.binding ?? "the limit") for the soak test")
    }

    func eventFinding(_ e: KernelEvent, wall: Int64, device d: DeviceTimeline) -> Finding {
        switch e {
        case .oomKill(let k):
            let victim = d.processes.values.first { $0.key.pid == k.pid }
            let history = victim.flatMap { v in v.points.last?.residentBytes.map { " (last seen at \(Self.bytes(Double($0))) resident)" } } ?? ""
            return Finding(kind: .oomKill, severity: .critical, device: d.device, pid: k.pid, process: k.comm,
                summary: "the kernel's OOM killer killed pid \(k.pid) (\(k.comm))\(history)",
                evidence: ["anon_rss_bytes": Double(k.anonRSS ?? 0), "total_vm_bytes": Double(k.totalVM ?? 0)], details: [],
                fix: "find what grew before the kill (the other findings for this pid), or give the device more memory")
        case .segfault(let s):
            return Finding(kind: .segfault, severity: .warning, device: d.device, pid: s.pid, process: s.comm,
                summary: "pid \(s.pid) (\(s.comm)) crashed with a segmentation fault", evidence: [:], details: [],
                fix: "run it under a debugger or with core dumps on; the kernel line gives the faulting address")
        case .oomVictimSelected(let v):
            return Finding(kind: .oomKill, severity: .critical, device: d.device, pid: v.pid, process: v.comm,
                summary: "the OOM killer chose pid \(v.pid) (\(v.comm))", evidence: [:], details: [],
                fix: "find what grew before the kill, or give the device more memory")
        }
    }

    static func bytes(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1_073_741_824 { return String(format1(v / 1_073_741_824)) + " GiB" }
        if a >= 1_048_576 { return String(format1(v / 1_048_576)) + " MiB" }
        if a >= 1024 { return String(format1(v / 1024)) + " KiB" }
        return "\(Int(v)) B"
    }

    static func format1(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    static func duration(_ s: Double) -> String {
        if s < 120 { return "\(Int(s)) s" }
        if s < 7200 { return "\(format1(s / 60)) min" }
        if s < 172_800 { return "\(format1(s / 3600)) h" }
        return "\(format1(s / 86400)) days"
    }
}
