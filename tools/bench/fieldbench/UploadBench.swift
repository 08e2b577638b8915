// Collector load benchmark (tools/bench/upload.sh drives it): many simulated devices upload at once through the
// agent's HTTP client (CFieldHTTP); nothing may be lost or stored twice.
//
//   fieldbench upload URL TOKENS_FILE --devices D --bundles-per-device N [--samples-per-bundle K]
//                     [--bytes-per-sample B] [--duplicate-percent P] [--work DIR] [--store DIR]
//       Writes N distinct closed bundles per device benchNN (BundleWriter, proc-like samples) into DIR (a temporary
//       directory, removed afterwards, when --work is not given), then runs D threads, one per device, each with
//       its own HTTP client, sending its device's bundles one after the other; a bundle is retried on a transport
//       error or a non-2xx answer. About P % (default 5) of the bundles are sent a second time and must be answered
//       200. Prints throughput and latency; exits 1 when a bundle never got a 2xx, a re-send was not answered 200,
//       or a bundle was answered 201 twice. With --store, also runs the check of upload-verify on that store.
//   fieldbench upload-verify STORE_DIR --sent DIR --devices D --bundles-per-device N
//       Checks a collector's store against the bundles sent (the --work DIR of upload): each one stored exactly
//       once with the same bytes (SHA-256), no other bundle, no .part file left, one index.jsonl line per bundle.

import CFieldHTTP
import FieldBundle
import FieldModel
import FieldSystem

#if canImport(Glibc)
import Glibc
#endif

/// `upload` or `upload-verify`, with the subcommand name first.
func uploadCommand(_ args: [String]) {
    let rest = Array(args.dropFirst())
    if args.first == "upload-verify" { uploadVerifyCommand(rest) } else { uploadBenchCommand(rest) }
}

// MARK: Options and small helpers

private let uploadUsage =
    "usage: fieldbench upload URL TOKENS_FILE --devices D --bundles-per-device N [--samples-per-bundle K] "
    + "[--bytes-per-sample B] [--duplicate-percent P] [--work DIR] [--store DIR]"
private let verifyUsage = "usage: fieldbench upload-verify STORE_DIR --sent DIR --devices D --bundles-per-device N"

private func intOption(_ args: [String], _ name: String, _ fallback: Int?, usage: String) -> Int {
    guard let text = option(args, name) else {
        guard let f = fallback else { fail("\(name) is required\n\(usage)") }
        return f
    }
    guard let v = Int(text), v >= 0 else { fail("\(name) wants a whole number, not '\(text)'") }
    return v
}

/// `bench00` ... `bench49` (two digits at least).
private func deviceName(_ i: Int) -> String { i < 10 ? "bench0\(i)" : "bench\(i)" }

private func padded(_ n: UInt64, _ width: Int, _ pad: Character = " ") -> String {
    let s = String(n)
    return s.count >= width ? s : String(repeating: pad, count: width - s.count) + s
}

/// A decimal with `digits` places, without Foundation.
private func fixed(_ v: Double, _ digits: Int) -> String {
    var scale: Int64 = 1
    for _ in 0..<digits { scale *= 10 }
    let n = Int64((v * Double(scale)).rounded())
    let a = n < 0 ? -n : n
    var frac = String(a % scale)
    while frac.count < digits { frac = "0" + frac }
    return (n < 0 ? "-" : "") + String(a / scale) + (digits > 0 ? "." + frac : "")
}

/// One line to standard output, written at once (not held in a buffer while the run goes on).
private func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + done, $0.count - done) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        done += n
    }
}

private func ms(_ nanos: UInt64) -> String { fixed(Double(nanos) / 1e6, 1) }

private func megabytes(_ bytes: UInt64) -> String { fixed(Double(bytes) / 1e6, 1) + " MB" }

/// The agent's spool timestamp, `YYYYmmddTHHMMSS.mmmZ`.
private func spoolTimestamp(_ wall: Int64) -> String {
    var t = time_t(wall / 1_000_000_000)
    var tmv = tm()
    gmtime_r(&t, &tmv)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    let millis = UInt64((wall % 1_000_000_000) / 1_000_000)
    return "\(tmv.tm_year + 1900)\(two(tmv.tm_mon + 1))\(two(tmv.tm_mday))T\(two(tmv.tm_hour))\(two(tmv.tm_min))\(two(tmv.tm_sec)).\(padded(millis, 3, "0"))Z"
}

/// Entry names of a directory (without `.` and `..`), or nil when it cannot be opened.
private func directoryNames(_ path: String) -> [String]? {
    let listing = ProcFS.listDirectory(path)
    guard listing.status == .ok else { return nil }
    return listing.bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
}

/// SHA-256 and size of a file, or nil when it cannot be read.
private func fileSHA256(_ path: String) -> (sha: [UInt8], bytes: UInt64)? {
    SHA256.hash(filePath: path).map { ($0.digest, $0.bytes) }
}

private func percentile(_ sorted: [UInt64], _ q: Double) -> UInt64 {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((q * Double(sorted.count)).rounded(.up))
    return sorted[min(sorted.count - 1, max(0, rank - 1))]
}

private func latencyLine(_ values: [UInt64]) -> String {
    let s = values.sorted()
    return "p50 \(ms(percentile(s, 0.50))) ms, p90 \(ms(percentile(s, 0.90))) ms, p99 \(ms(percentile(s, 0.99))) ms, "
        + "max \(ms(s.last ?? 0)) ms"
}

/// CPU time of this process so far (all threads), microseconds.
func cpuMicros() -> (user: UInt64, system: UInt64) {
    var ru = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
    return (UInt64(ru.ru_utime.tv_sec) * 1_000_000 + UInt64(ru.ru_utime.tv_usec), UInt64(ru.ru_stime.tv_sec) * 1_000_000 + UInt64(ru.ru_stime.tv_usec))
}

/// Runs `body(0..<count)` on `count` pthreads and waits for them all.
private final class ThreadJob: @unchecked Sendable {
    let index: Int
    let body: @Sendable (Int) -> Void
    init(index: Int, body: @escaping @Sendable (Int) -> Void) {
        self.index = index
        self.body = body
    }
}

private func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    var threads: [pthread_t] = []
    for i in 0..<count {
        var t = pthread_t()
        let context = Unmanaged.passRetained(ThreadJob(index: i, body: body)).toOpaque()
        let rc = pthread_create(&t, nil, { raw in
            let job = Unmanaged<ThreadJob>.fromOpaque(raw!).takeRetainedValue()
            job.body(job.index)
            return nil
        }, context)
        guard rc == 0 else { fail("pthread_create: \(String(cString: strerror(rc)))") }
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
}

/// SplitMix64: small, fast, good enough to make every device's numbers its own.
private struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in 0..<n (n > 0).
    mutating func below(_ n: UInt64) -> UInt64 { next() % n }
    mutating func between(_ lo: UInt64, _ hi: UInt64) -> UInt64 { lo + below(hi - lo + 1) }
}

// MARK: Simulated device

/// Builds proc-like text straight into bytes (String interpolation made preparing the bundles slow).
private struct Text {
    var bytes: [UInt8] = []
    init(capacity: Int) { bytes.reserveCapacity(capacity) }
    mutating func s(_ t: StaticString) { t.withUTF8Buffer { bytes.append(contentsOf: $0) } }
    mutating func str(_ t: String) { bytes.append(contentsOf: t.utf8) }
    /// A decimal number, right-aligned in `width` columns.
    mutating func n(_ v: UInt64, width: Int = 0) {
        var count = 1
        var x = v / 10
        while x > 0 { count += 1; x /= 10 }
        if width > count { bytes.append(contentsOf: repeatElement(0x20, count: width - count)) }
        bytes.append(contentsOf: repeatElement(0x30, count: count))
        var i = bytes.count - 1
        x = v
        repeat {
            bytes[i] = 0x30 + UInt8(x % 10)
            x /= 10
            i -= 1
        } while x > 0
    }
    /// `v / 100` with two decimals.
    mutating func hundredths(_ v: UInt64) {
        n(v / 100)
        s(".")
        if v % 100 < 10 { s("0") }
        n(v % 100)
    }
}

/// One process of a simulated embedded Linux device.
private struct SimProcess {
    var pid: UInt64
    var ppid: UInt64
    var name: String
    var threads: UInt64
    var busy: UInt64  // most CPU ticks it takes per interval
    var utime: UInt64 = 0
    var stime: UInt64 = 0
    var minflt: UInt64 = 0
    var vmSizeKB: UInt64
    var rssKB: UInt64
    var leakKB: UInt64  // RSS growth per interval (one process leaks, as real ones do)
    var voluntary: UInt64 = 0
    var involuntary: UInt64 = 0
    var startTicks: UInt64
}

/// A device's /proc evolving interval by interval: counters rise, memory moves, one daemon leaks.
private struct SimDevice {
    static let hz: UInt64 = 100
    static let daemons = [
        "init", "kthreadd", "ksoftirqd/0", "kworker/0:1", "syslogd", "klogd", "udevd", "dropbear", "crond", "ntpd",
        "watchdogd", "modbusd", "plcd", "rtu-poll", "mqtt-bridge", "can-gateway", "hmi-server", "opcua-server",
        "lighttpd", "dnsmasq", "udhcpc", "fieldagent", "logrotate", "netifd", "sensord", "historian", "alarmd",
        "ota-client", "ppp0-watch", "gpsd", "ubusd", "procd",
    ]

    let id: String
    var rng: SplitMix64
    var uptimeTicks: UInt64
    var cpus: [[UInt64]]  // user nice system idle iowait irq softirq
    var ctxt: UInt64
    var forks: UInt64
    var intr: [UInt64]
    let bootTime: UInt64
    let memTotalKB: UInt64
    var memFreeKB: UInt64
    var cachedKB: UInt64
    var buffersKB: UInt64
    var procs: [SimProcess] = []

    init(id: String, seed: UInt64, bytesPerSample: Int) {
        self.id = id
        var r = SplitMix64(state: seed)
        intr = (0..<24).map { i in i % 3 == 0 ? 0 : r.between(1_000, 5_000_000) }
        rng = r
        uptimeTicks = rng.between(100_000, 50_000_000)
        let per = uptimeTicks  // each CPU's ticks since boot: mostly idle
        cpus = (0..<2).map { _ in [per / 9, per / 900, per / 20, per - per / 9 - per / 20 - per / 50, per / 100, per / 400, per / 60] }
        ctxt = rng.between(1_000_000, 90_000_000)
        forks = rng.between(2_000, 80_000)
        bootTime = 1_700_000_000 + rng.below(20_000_000)
        memTotalKB = [250_000, 505_000, 1_010_000][Int(rng.below(3))]
        memFreeKB = memTotalKB / 3
        cachedKB = memTotalKB / 5
        buffersKB = rng.between(2_000, 20_000)
        let fixedBytes = renderSystem(pids: []).reduce(0) { $0 + $1.bytes.count }
        var total = fixedBytes
        var pid: UInt64 = 1
        var i = 0
        while total < bytesPerSample || procs.count < 3 {
            let name = i < Self.daemons.count ? Self.daemons[i] : "worker-\(i)"
            let p = SimProcess(
                pid: pid, ppid: pid == 1 ? 0 : 1, name: name, threads: rng.between(1, 6), busy: rng.between(0, 40),
                vmSizeKB: rng.between(1_500, 60_000), rssKB: rng.between(400, 12_000), leakKB: i == 11 ? 4 : 0,
                startTicks: pid * 17)
            procs.append(p)
            total += renderProcess(p).reduce(0) { $0 + $1.bytes.count } + String(pid).count + 1
            pid += rng.between(1, 400)
            i += 1
        }
    }

    /// Advances the device by `seconds`.
    mutating func step(seconds: UInt64) {
        let ticks = seconds * Self.hz
        uptimeTicks += ticks
        for c in cpus.indices {
            let user = rng.between(ticks / 20, ticks / 4)
            let system = rng.between(ticks / 40, ticks / 8)
            let io = rng.below(ticks / 50 + 1)
            let irq = rng.below(ticks / 100 + 1)
            let soft = rng.below(ticks / 40 + 1)
            cpus[c][0] += user
            cpus[c][1] += rng.below(2)
            cpus[c][2] += system
            cpus[c][3] += ticks - min(ticks, user + system + io + irq + soft)
            cpus[c][4] += io
            cpus[c][5] += irq
            cpus[c][6] += soft
        }
        ctxt += rng.between(500, 6_000) * seconds
        forks += rng.below(4)
        for j in intr.indices where intr[j] > 0 { intr[j] += rng.below(200 * seconds) }
        let drift = rng.below(2_000)
        memFreeKB = rng.below(2) == 0 ? memFreeKB + drift : max(memTotalKB / 20, memFreeKB - min(memFreeKB, drift))
        cachedKB = max(memTotalKB / 50, cachedKB + rng.below(600) - min(cachedKB, 300))
        for k in procs.indices {
            procs[k].utime += rng.below(procs[k].busy + 1)
            procs[k].stime += rng.below(procs[k].busy / 2 + 1)
            procs[k].minflt += rng.below(50)
            procs[k].voluntary += rng.below(20 * seconds + 1)
            procs[k].involuntary += rng.below(3)
            procs[k].rssKB = procs[k].rssKB + procs[k].leakKB + rng.below(9) - min(procs[k].rssKB, 4)
            procs[k].vmSizeKB = max(procs[k].vmSizeKB, procs[k].rssKB + 512)
        }
    }

    func renderSystem(pids: [UInt64]) -> [FileCapture] {
        var stat = Text(capacity: 1024)
        let sum = (0..<7).map { f in cpus.reduce(0) { $0 + $1[f] } }
        stat.s("cpu ")
        for v in sum { stat.s(" "); stat.n(v) }
        stat.s(" 0 0 0\n")
        for (c, v) in cpus.enumerated() {
            stat.s("cpu"); stat.n(UInt64(c))
            for x in v { stat.s(" "); stat.n(x) }
            stat.s(" 0 0 0\n")
        }
        stat.s("intr "); stat.n(intr.reduce(0, +))
        for v in intr { stat.s(" "); stat.n(v) }
        stat.s("\nctxt "); stat.n(ctxt); stat.s("\nbtime "); stat.n(bootTime); stat.s("\nprocesses "); stat.n(forks)
        stat.s("\nprocs_running "); stat.n(1 + uptimeTicks % 3); stat.s("\nprocs_blocked 0\nsoftirq "); stat.n(sum[6])
        for div: UInt64 in [0, 3, 0, 4, 0, 0, 5, 7, 0, 9] { stat.s(" "); stat.n(div == 0 ? 0 : sum[6] / div) }
        stat.s("\n")
        let avail = memFreeKB + cachedKB + buffersKB
        let rows: [(StaticString, UInt64)] = [
            ("MemTotal:       ", memTotalKB), ("MemFree:        ", memFreeKB), ("MemAvailable:   ", avail),
            ("Buffers:        ", buffersKB), ("Cached:         ", cachedKB), ("SwapCached:     ", 0),
            ("Active:         ", memTotalKB / 4), ("Inactive:       ", cachedKB / 2), ("Active(anon):   ", memTotalKB / 8),
            ("Inactive(anon): ", 1_024), ("Active(file):   ", memTotalKB / 8), ("Inactive(file): ", cachedKB / 2),
            ("Unevictable:    ", 0), ("Mlocked:        ", 0), ("SwapTotal:      ", 0), ("SwapFree:       ", 0),
            ("Dirty:          ", rng.state % 300), ("Writeback:      ", 0), ("AnonPages:      ", memTotalKB / 8),
            ("Mapped:         ", memTotalKB / 16), ("Shmem:          ", 2_048), ("Slab:           ", memTotalKB / 40),
            ("SReclaimable:   ", memTotalKB / 90), ("SUnreclaim:     ", memTotalKB / 70), ("KernelStack:    ", 1_232),
            ("PageTables:     ", 1_844), ("CommitLimit:    ", memTotalKB / 2), ("Committed_AS:   ", memTotalKB / 2 + memFreeKB / 9),
            ("VmallocTotal:   ", 1_048_372), ("VmallocUsed:    ", 6_120),
        ]
        var meminfo = Text(capacity: 1024)
        for (k, v) in rows { meminfo.s(k); meminfo.n(v, width: 8); meminfo.s(" kB\n") }
        let load = uptimeTicks % 97 * 100 / 60
        var loadavg = Text(capacity: 64)
        loadavg.hundredths(load); loadavg.s(" "); loadavg.hundredths(load * 9 / 10); loadavg.s(" ")
        loadavg.hundredths(load * 8 / 10); loadavg.s(" "); loadavg.n(1 + uptimeTicks % 3); loadavg.s("/")
        loadavg.n(UInt64(procs.count + 40)); loadavg.s(" "); loadavg.n(procs.last?.pid ?? 1); loadavg.s("\n")
        var uptime = Text(capacity: 64)
        uptime.hundredths(uptimeTicks); uptime.s(" "); uptime.hundredths(uptimeTicks * 17 / 10); uptime.s("\n")
        var listing = Text(capacity: 8 * pids.count + 200)
        for p in pids { listing.n(p); listing.s("\n") }
        listing.s("buddyinfo\ncmdline\ncpuinfo\ndevices\ndiskstats\nfilesystems\ninterrupts\nloadavg\nmeminfo\nmounts\nnet\nself\n")
        listing.s("slabinfo\nstat\nsys\nuptime\nversion\nvmstat\nzoneinfo\n")
        return [
            FileCapture(path: "/proc", kind: .directory, bytes: listing.bytes),
            FileCapture(path: "/proc/stat", bytes: stat.bytes),
            FileCapture(path: "/proc/meminfo", bytes: meminfo.bytes),
            FileCapture(path: "/proc/loadavg", bytes: loadavg.bytes),
            FileCapture(path: "/proc/uptime", bytes: uptime.bytes),
        ]
    }

    func renderProcess(_ p: SimProcess) -> [FileCapture] {
        let pages = p.rssKB / 4
        var stat = Text(capacity: 256)
        stat.n(p.pid); stat.s(" ("); stat.str(p.name); stat.s(") S "); stat.n(p.ppid); stat.s(" "); stat.n(p.pid); stat.s(" ")
        stat.n(p.pid); stat.s(" 0 -1 4194560 "); stat.n(p.minflt); stat.s(" 0 0 0 "); stat.n(p.utime); stat.s(" ")
        stat.n(p.stime); stat.s(" 0 0 20 0 "); stat.n(p.threads); stat.s(" 0 "); stat.n(p.startTicks); stat.s(" ")
        stat.n(p.vmSizeKB * 1024); stat.s(" "); stat.n(pages); stat.s(" 4294967295 65536 "); stat.n(65536 + p.vmSizeKB / 8)
        stat.s(" 3198745392 0 0 0 0 4096 16387 0 0 0 17 "); stat.n(p.pid % 2); stat.s(" 0 0 0 0 0 0 0 0 0 0 0 0\n")
        var statm = Text(capacity: 64)
        for v in [p.vmSizeKB / 4, pages, pages / 3, p.vmSizeKB / 64, 0, p.vmSizeKB / 9] { statm.n(v); statm.s(" ") }
        statm.s("0\n")
        var st = Text(capacity: 1024)
        st.s("Name:\t"); st.str(p.name); st.s("\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t"); st.n(p.pid)
        st.s("\nNgid:\t0\nPid:\t"); st.n(p.pid); st.s("\nPPid:\t"); st.n(p.ppid)
        st.s("\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\nGroups:\t\nVmPeak:\t")
        st.n(p.vmSizeKB + 256, width: 8); st.s(" kB\nVmSize:\t"); st.n(p.vmSizeKB, width: 8)
        st.s(" kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t"); st.n(p.rssKB + 64, width: 8)
        st.s(" kB\nVmRSS:\t"); st.n(p.rssKB, width: 8); st.s(" kB\nRssAnon:\t"); st.n(p.rssKB * 2 / 3, width: 8)
        st.s(" kB\nRssFile:\t"); st.n(p.rssKB / 3, width: 8); st.s(" kB\nRssShmem:\t       0 kB\nVmData:\t")
        st.n(p.vmSizeKB / 9, width: 8); st.s(" kB\nVmStk:\t     132 kB\nVmExe:\t"); st.n(p.vmSizeKB / 64, width: 8)
        st.s(" kB\nVmLib:\t    2380 kB\nVmPTE:\t      28 kB\nVmSwap:\t       0 kB\nThreads:\t"); st.n(p.threads)
        st.s("\nSigQ:\t0/1902\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n")
        st.s("SigIgn:\t0000000000001000\nSigCgt:\t0000000180004a02\nCapEff:\t000001ffffffffff\nCpus_allowed_list:\t0-1\n")
        st.s("voluntary_ctxt_switches:\t"); st.n(p.voluntary); st.s("\nnonvoluntary_ctxt_switches:\t"); st.n(p.involuntary)
        st.s("\n")
        let dir = "/proc/" + String(p.pid)
        return [
            FileCapture(path: dir + "/stat", bytes: stat.bytes),
            FileCapture(path: dir + "/statm", bytes: statm.bytes),
            FileCapture(path: dir + "/status", bytes: st.bytes),
        ]
    }

    /// One sample's captures, with plausible read times.
    mutating func capture() -> [FileCapture] {
        var files = renderSystem(pids: procs.map(\.pid))
        for p in procs { files += renderProcess(p) }
        for i in files.indices { files[i].readNanos = rng.between(4_000, 90_000) }
        return files
    }

    static let plan: [CapturePlanEntry] = [
        CapturePlanEntry(path: "/proc", scope: .system, kind: .directory),
        CapturePlanEntry(path: "/proc/stat", scope: .system), CapturePlanEntry(path: "/proc/meminfo", scope: .system),
        CapturePlanEntry(path: "/proc/loadavg", scope: .system), CapturePlanEntry(path: "/proc/uptime", scope: .system),
        CapturePlanEntry(path: "/proc/[pid]/stat", scope: .process), CapturePlanEntry(path: "/proc/[pid]/statm", scope: .process),
        CapturePlanEntry(path: "/proc/[pid]/status", scope: .process),
    ]
}

// MARK: Preparing bundles

/// A closed bundle ready to send.
private struct PreparedBundle: Sendable {
    var name: String
    var path: String
    var bytes: UInt64
    var sha256: [UInt8]
    var rawBytes: UInt64
}

private final class DeviceBundles: @unchecked Sendable {
    var bundles: [PreparedBundle] = []
    var error: String?
}

/// Writes `count` bundles of `samples` samples for device `index` into `dir`, oldest first, ending now.
private func prepareDevice(
    index: Int, dir: String, count: Int, samples: Int, bytesPerSample: Int, nowWall: Int64
) -> Result<[PreparedBundle], BundleError> {
    let id = deviceName(index)
    let interval: UInt64 = 5
    var device = SimDevice(id: id, seed: 0x6669_656C_6400 &+ UInt64(index) &* 7919, bytesPerSample: bytesPerSample)
    var out: [PreparedBundle] = []
    var rng = SplitMix64(state: UInt64(index) &+ 1)
    let bootID = (0..<4).map { _ in String(rng.next() & 0xFFFF_FFFF, radix: 16) }.joined(separator: "-")
    let span = Int64(samples) * Int64(interval) * 1_000_000_000
    var options = WriterOptions.device
    options.fsync = .never
    for b in 0..<count {
        let wall = nowWall - Int64(count - b) * span - Int64(rng.below(900)) * 1_000_000
        // The device's own monotonic clock: booted a while before its first bundle.
        let mono = UInt64(3_600 + index * 97) * 1_000_000_000 + UInt64(b) * UInt64(span)
        let name = "\(id)-\(spoolTimestamp(wall))-\(padded(UInt64(b), 4, "0")).zst"
        let path = dir + "/" + name
        let header = BundleHeader(
            agent: "fieldagent 0.1.0 (fieldbench)", backend: "linux",
            osIdentity: Array("Linux version 5.10.184-rt90 (builder@ci) (arm-linux-gnueabihf-gcc 10.3.1) #1 SMP PREEMPT_RT\n".utf8),
            deviceID: id, bootID: bootID, wallNanos: wall, monoNanos: mono, intervalNanos: interval * 1_000_000_000,
            procRoot: "/proc", sequence: UInt64(b), plan: SimDevice.plan)
        var raw: UInt64 = 0
        do {
            let writer = try BundleWriter(path: path, header: header, options: options)
            for s in 0..<samples {
                device.step(seconds: interval)
                let files = device.capture()
                raw += files.reduce(0) { $0 + UInt64($1.bytes.count) }
                let offset = Int64(s) * Int64(interval) * 1_000_000_000
                try writer.append(
                    Sample(sequence: UInt64(b * samples + s), wallNanos: wall + offset, monoNanos: mono &+ UInt64(offset), files: files))
            }
            let end = wall + span
            try writer.append(
                AgentStats(
                    wallNanos: end, monoNanos: mono &+ UInt64(span), rssBytes: 1_400_000 + rng.below(200_000),
                    cpuUserMicros: UInt64(b + 1) * 41_000, cpuSystemMicros: UInt64(b + 1) * 23_000,
                    samples: UInt64((b + 1) * samples), lastSampleNanos: rng.between(2_000_000, 9_000_000),
                    maxSampleNanos: 12_000_000))
            try writer.close(reason: "rotation", wallNanos: end, monoNanos: mono &+ UInt64(span))
        } catch {
            return .failure(error)
        }
        guard let (sha, size) = fileSHA256(path) else { fail("cannot read back \(path)") }
        out.append(PreparedBundle(name: name, path: path, bytes: size, sha256: sha, rawBytes: raw))
    }
    return .success(out)
}

// MARK: Uploading

private final class UploadWorker: @unchecked Sendable {
    let device: String
    let token: String
    let base: String
    let bundles: [PreparedBundle]
    let duplicateEvery: Int
    let maxAttempts = 8

    var firstLatency: [UInt64] = []
    var duplicateLatency: [UInt64] = []
    var firstStatus: [Int: Int] = [:]  // 0: transport error
    var duplicateStatus: [Int: Int] = [:]
    var retries = 0
    var created: [Int]
    var acknowledged: [Bool]
    var duplicatesSent = 0
    var duplicateNot200 = 0
    var failures: [String] = []
    var notes: [String] = []

    init(device: String, token: String, base: String, bundles: [PreparedBundle], duplicateEvery: Int) {
        self.device = device
        self.token = token
        self.base = base
        self.bundles = bundles
        self.duplicateEvery = duplicateEvery
        created = Array(repeating: 0, count: bundles.count)
        acknowledged = Array(repeating: false, count: bundles.count)
    }

    func note(_ s: String) { if notes.count < 5 { notes.append(s) } }

    func run() {
        guard let handle = field_http_new() else {
            failures.append("\(device): cannot create an HTTP client")
            return
        }
        defer { field_http_free(handle) }
        var rng = SplitMix64(state: UInt64(device.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        var sent: [Int] = []
        for i in bundles.indices {
            if send(i, handle: handle, duplicate: false) { sent.append(i) }
            // A re-send of an earlier bundle, as an agent does when the answer to an upload got lost.
            if duplicateEvery > 0, (i + 1) % duplicateEvery == 0, !sent.isEmpty {
                duplicatesSent += 1
                _ = send(sent[Int(rng.below(UInt64(sent.count)))], handle: handle, duplicate: true)
            }
        }
    }

    /// Sends bundle `i` until it is answered 2xx or the attempts run out.
    func send(_ i: Int, handle: UnsafeMutableRawPointer, duplicate: Bool) -> Bool {
        let b = bundles[i]
        let url = "\(base)/v1/devices/\(device)/bundles/\(b.name)"
        let digest = ContentDigest.header(sha256: b.sha256)
        var attempt = 0
        while true {
            attempt += 1
            let fd = open(b.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { fail("cannot open \(b.path): \(String(cString: strerror(errno)))") }
            var result = field_http_result()
            let started = Clock.monotonicNanos()
            url.withCString { u in
                "Bearer \(token)".withCString { auth in
                    digest.withCString { dg in
                        "fieldbench-upload".withCString { ua in
                            var request = field_http_put(
                                url: u, authorization: auth, digest: dg, ca_file: nil, user_agent: ua, fd: fd, size: Int64(b.bytes),
                                connect_timeout_s: 10, stall_timeout_s: 30, deadline_mono_ns: nil)
                            field_http_put_file(handle, &request, &result)
                        }
                    }
                }
            }
            let elapsed = Clock.monotonicNanos() - started
            close(fd)
            let status = result.failure == Int32(FIELD_HTTP_OK) ? Int(result.status) : 0
            if duplicate {
                duplicateLatency.append(elapsed)
                duplicateStatus[status, default: 0] += 1
            } else {
                firstLatency.append(elapsed)
                firstStatus[status, default: 0] += 1
            }
            if (200..<300).contains(status) {
                if status == 201 { created[i] += 1 }
                acknowledged[i] = true
                if duplicate && status != 200 {
                    duplicateNot200 += 1
                    note("re-send of \(device)/\(b.name) answered \(status), not 200")
                }
                return true
            }
            let why: String
            if result.failure != Int32(FIELD_HTTP_OK) {
                why = "transport error \(result.failure): " + withUnsafeBytes(of: result.error) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            } else {
                why = "HTTP \(status) " + withUnsafeBytes(of: result.body) { String(decoding: $0.prefix(while: { $0 != 0 && $0 != 0x0A }), as: UTF8.self) }
            }
            note("\(device)/\(b.name)\(duplicate ? " (re-send)" : "") attempt \(attempt): \(why)")
            if attempt >= maxAttempts {
                failures.append("\(device)/\(b.name): no 2xx after \(attempt) attempts; last: \(why)")
                return false
            }
            retries += 1
            usleep(useconds_t(min(1_000_000, 25_000 << min(attempt, 6))))
        }
    }
}

/// `benchNN TOKEN` lines.
private func readTokens(_ path: String) -> [String: String] {
    let c = ProcFS.readFile(path, maxBytes: 1 << 20)
    guard c.status == .ok else { fail("cannot read the tokens file \(path) (\(c.status.rawValue))") }
    var tokens: [String: String] = [:]
    for line in String(decoding: c.bytes, as: UTF8.self).split(separator: "\n") {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count == 2, !fields[0].hasPrefix("#") else { continue }
        tokens[String(fields[0])] = String(fields[1])
    }
    return tokens
}

private func uploadBenchCommand(_ args: [String]) {
    guard args.count >= 2, !args[0].hasPrefix("--"), !args[1].hasPrefix("--") else { fail(uploadUsage) }
    var base = args[0]
    while base.hasSuffix("/") { base.removeLast() }
    let tokens = readTokens(args[1])
    let devices = intOption(args, "--devices", 50, usage: uploadUsage)
    let perDevice = intOption(args, "--bundles-per-device", nil, usage: uploadUsage)
    let samples = max(1, intOption(args, "--samples-per-bundle", 6, usage: uploadUsage))
    let bytesPerSample = intOption(args, "--bytes-per-sample", 12_000, usage: uploadUsage)
    let duplicatePercent = intOption(args, "--duplicate-percent", 5, usage: uploadUsage)
    let duplicateEvery = duplicatePercent == 0 ? 0 : max(1, 100 / duplicatePercent)
    guard devices > 0, perDevice > 0 else { fail("--devices and --bundles-per-device must be positive") }
    for d in 0..<devices where tokens[deviceName(d)] == nil { fail("\(args[1]) has no token for \(deviceName(d))") }

    // Where the bundles are written: --work DIR (kept), or a temporary directory removed at the end.
    var work = option(args, "--work") ?? ""
    let temporary = work.isEmpty
    if temporary {
        var template = Array("/tmp/fieldbench-upload-XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { fail("mkdtemp failed") }
        work = String(cString: p)
    } else if mkdir(work, 0o755) != 0 && errno != EEXIST {
        fail("cannot create \(work): \(String(cString: strerror(errno)))")
    }
    for d in 0..<devices {
        let dir = work + "/" + deviceName(d)
        if mkdir(dir, 0o755) != 0 { fail("cannot create \(dir) (it must not exist yet): \(String(cString: strerror(errno)))") }
    }

    // 1. Bundles, written on as many threads as there are CPUs.
    let cpuCount = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    let prepared = (0..<devices).map { _ in DeviceBundles() }
    let workDir = work
    let nowWall = Clock.wallNanos()
    let p0 = Clock.monotonicNanos()
    let preparers = min(cpuCount, devices)
    runThreads(preparers) { t in
        for d in stride(from: t, to: devices, by: preparers) {
            switch prepareDevice(
                index: d, dir: workDir + "/" + deviceName(d), count: perDevice, samples: samples, bytesPerSample: bytesPerSample,
                nowWall: nowWall)
            {
            case .success(let b): prepared[d].bundles = b
            case .failure(let e): prepared[d].error = e.message
            }
        }
    }
    for p in prepared { if let e = p.error { fail("writing bundles: \(e)") } }
    let all = prepared.flatMap(\.bundles)
    let totalBytes = all.reduce(0) { $0 + $1.bytes }
    let rawBytes = all.reduce(0) { $0 + $1.rawBytes }
    let sizes = all.map(\.bytes).sorted()
    say("prepare: \(devices) devices x \(perDevice) bundles = \(all.count) bundles of \(samples) samples "
        + "(~\(bytesPerSample / 1000) KB of proc text each): \(megabytes(rawBytes)) raw -> \(megabytes(totalBytes)) in bundles; "
        + "bundle size median \(percentile(sizes, 0.5)) B, min \(sizes.first ?? 0) B, max \(sizes.last ?? 0) B; "
        + "\(fixed(Double(Clock.monotonicNanos() - p0) / 1e9, 1)) s on \(preparers) threads")

    // 2. One thread per device, each with its own HTTP client.
    let workers = (0..<devices).map { d in
        UploadWorker(device: deviceName(d), token: tokens[deviceName(d)]!, base: base, bundles: prepared[d].bundles, duplicateEvery: duplicateEvery)
    }
    say("upload: \(devices) threads (one per device, one HTTP client each; \(String(cString: field_http_version()))) to \(base); "
        + "every \(duplicateEvery == 0 ? "-" : String(duplicateEvery))th bundle also re-sends an earlier one")
    let cpu0 = cpuMicros()
    let t0 = Clock.monotonicNanos()
    runThreads(devices) { d in workers[d].run() }
    let wall = Clock.monotonicNanos() - t0
    let cpu1 = cpuMicros()

    // 3. Report.
    let acknowledged = workers.reduce(0) { $0 + $1.acknowledged.filter { $0 }.count }
    let storedTwice = workers.reduce(0) { $0 + $1.created.filter { $0 > 1 }.count }
    let duplicatesSent = workers.reduce(0) { $0 + $1.duplicatesSent }
    let duplicateNot200 = workers.reduce(0) { $0 + $1.duplicateNot200 }
    let retries = workers.reduce(0) { $0 + $1.retries }
    let failures = workers.flatMap(\.failures)
    var firstStatus: [Int: Int] = [:]
    var duplicateStatus: [Int: Int] = [:]
    for w in workers {
        firstStatus.merge(w.firstStatus, uniquingKeysWith: +)
        duplicateStatus.merge(w.duplicateStatus, uniquingKeysWith: +)
    }
    func describe(_ m: [Int: Int]) -> String {
        m.isEmpty ? "none" : m.keys.sorted().map { "\($0 == 0 ? "transport error" : String($0)) x\(m[$0]!)" }.joined(separator: ", ")
    }
    let others = firstStatus.merging(duplicateStatus, uniquingKeysWith: +).filter { $0.key != 200 && $0.key != 201 }.values.reduce(0, +)
    let firstLatency = workers.flatMap(\.firstLatency)
    let duplicateLatency = workers.flatMap(\.duplicateLatency)
    let seconds = Double(wall) / 1e9
    let requests = firstLatency.count + duplicateLatency.count
    say("upload: \(acknowledged)/\(all.count) bundles acknowledged, \(megabytes(totalBytes)) (\(totalBytes) bytes), "
        + "plus \(duplicatesSent) re-sends; \(requests) requests in \(fixed(seconds, 2)) s")
    say("throughput: \(fixed(Double(acknowledged) / seconds, 1)) bundles/s, \(fixed(Double(requests) / seconds, 1)) requests/s, "
        + "\(fixed(Double(totalBytes) / 1e6 / seconds, 2)) MB/s")
    say("latency, first uploads (\(firstLatency.count) requests): \(latencyLine(firstLatency))")
    say("latency, re-sends (\(duplicateLatency.count) requests): \(latencyLine(duplicateLatency))")
    say("statuses: first uploads \(describe(firstStatus)); re-sends \(describe(duplicateStatus)); "
        + "201 x\((firstStatus[201] ?? 0) + (duplicateStatus[201] ?? 0)), 200 x\((firstStatus[200] ?? 0) + (duplicateStatus[200] ?? 0)), other x\(others); retries \(retries)")
    say("client CPU while uploading (this process, all threads): \(fixed(Double(cpu1.user - cpu0.user) / 1e6, 1)) s user + "
        + "\(fixed(Double(cpu1.system - cpu0.system) / 1e6, 1)) s system = "
        + "\(Int((Double(cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1e6 / seconds * 100).rounded())) % of one core")
    for n in workers.flatMap(\.notes).prefix(10) { say("  note: \(n)") }
    for f in failures.prefix(20) { say("  FAILED: \(f)") }
    say("result: \(failures.count) bundles without a 2xx, \(storedTwice) bundles answered 201 more than once, "
        + "\(duplicateNot200) re-sends not answered 200")
    var ok = failures.isEmpty && storedTwice == 0 && duplicateNot200 == 0 && acknowledged == all.count

    if let store = option(args, "--store") {
        ok = verifyStore(store: store, sent: work, devices: devices, perDevice: perDevice) && ok
    }
    if temporary {
        for d in 0..<devices {
            let dir = work + "/" + deviceName(d)
            for n in directoryNames(dir) ?? [] { unlink(dir + "/" + n) }
            rmdir(dir)
        }
        rmdir(work)
    }
    exit(ok ? 0 : 1)
}

// MARK: Verifying the store

private func uploadVerifyCommand(_ args: [String]) {
    guard let store = args.first, !store.hasPrefix("--") else { fail(verifyUsage) }
    guard let sent = option(args, "--sent") else { fail("--sent DIR is required\n\(verifyUsage)") }
    let devices = intOption(args, "--devices", 50, usage: verifyUsage)
    let perDevice = intOption(args, "--bundles-per-device", nil, usage: verifyUsage)
    exit(verifyStore(store: store, sent: sent, devices: devices, perDevice: perDevice) ? 0 : 1)
}

/// The value of `"key":"..."` in a JSON line of plain strings (the index's names and digests need no escapes).
private func jsonString(_ line: Substring, _ key: String) -> String? {
    let parts = line.split(separator: "\"", omittingEmptySubsequences: false)
    var i = 0
    while i + 2 < parts.count {
        if parts[i] == key && parts[i + 1] == ":" { return String(parts[i + 2]) }
        i += 1
    }
    return nil
}

/// Compares the store with the sent bundles; prints one line per problem (at most 20) and a summary.
private func verifyStore(store: String, sent: String, devices: Int, perDevice: Int) -> Bool {
    let t0 = Clock.monotonicNanos()
    var lost = 0, duplicated = 0, extra = 0, mismatched = 0, parts = 0, otherFiles = 0
    var indexMissing = 0, indexDuplicates = 0, indexExtra = 0, indexWrong = 0, sentMissing = 0, checked = 0
    var problems: [String] = []
    func problem(_ s: String) { if problems.count < 20 { problems.append(s) } }
    let expectedDevices = Set((0..<devices).map(deviceName))
    for name in (directoryNames(store) ?? []) where !expectedDevices.contains(name) {
        extra += 1
        problem("\(store)/\(name): not one of the benchmark's devices")
    }
    for d in 0..<devices {
        let device = deviceName(d)
        let sentDir = sent + "/" + device
        let storeDir = store + "/" + device
        var expected: [String: (sha: [UInt8], bytes: UInt64)] = [:]
        for name in (directoryNames(sentDir) ?? []) where name.hasSuffix(".zst") {
            guard let s = fileSHA256(sentDir + "/" + name) else { fail("cannot read \(sentDir)/\(name)") }
            expected[name] = s
        }
        if expected.count != perDevice {
            sentMissing += perDevice - expected.count
            problem("\(sentDir) holds \(expected.count) bundles, not \(perDevice)")
        }
        guard let names = directoryNames(storeDir) else {
            lost += expected.count
            problem("\(storeDir) is missing: all \(expected.count) bundles of \(device) lost")
            continue
        }
        var present = Set<String>()
        for name in names {
            if name == "index.jsonl" { continue }
            if name.hasPrefix(".") && name.hasSuffix(".part") {
                parts += 1
                problem("\(storeDir)/\(name): a .part file was left behind")
                continue
            }
            guard name.hasSuffix(".zst"), !name.hasPrefix(".") else {
                otherFiles += 1
                problem("\(storeDir)/\(name): unexpected file")
                continue
            }
            guard let want = expected[name] else {
                extra += 1
                problem("\(storeDir)/\(name): stored but never sent")
                continue
            }
            present.insert(name)
            checked += 1
            guard let got = fileSHA256(storeDir + "/" + name) else {
                mismatched += 1
                problem("\(storeDir)/\(name): unreadable")
                continue
            }
            if got.sha != want.sha || got.bytes != want.bytes {
                mismatched += 1
                problem("\(storeDir)/\(name): \(got.bytes) bytes, SHA-256 \(ContentDigest.hex(got.sha)) differ from what was sent")
            }
        }
        for name in expected.keys.sorted() where !present.contains(name) {
            lost += 1
            problem("\(device)/\(name): sent and acknowledged, but not in the store")
        }
        // The index: one line per stored bundle, with the digest of what was sent.
        let index = ProcFS.readFile(storeDir + "/index.jsonl", maxBytes: 1 << 30)
        var lines: [String: Int] = [:]
        if index.status != .ok {
            indexMissing += expected.count
            problem("\(storeDir)/index.jsonl: \(index.status.rawValue)")
        } else {
            for line in String(decoding: index.bytes, as: UTF8.self).split(separator: "\n") {
                guard let name = jsonString(line, "name") else {
                    indexWrong += 1
                    problem("\(storeDir)/index.jsonl: a line without a name: \(line.prefix(120))")
                    continue
                }
                lines[name, default: 0] += 1
                if let want = expected[name] {
                    if jsonString(line, "sha256") != ContentDigest.hex(want.sha) {
                        indexWrong += 1
                        problem("\(storeDir)/index.jsonl: \(name) has another digest than the bundle sent")
                    }
                } else {
                    indexExtra += 1
                    problem("\(storeDir)/index.jsonl: \(name) was never sent")
                }
            }
        }
        for (name, n) in lines where n > 1 {
            indexDuplicates += n - 1
            duplicated += n - 1
            problem("\(storeDir)/index.jsonl: \(name) listed \(n) times")
        }
        if index.status == .ok {
            for name in expected.keys where lines[name] == nil {
                indexMissing += 1
                problem("\(storeDir)/index.jsonl: \(name) not listed")
            }
        }
    }
    for p in problems { say("  verify: \(p)") }
    let bad = lost + duplicated + extra + mismatched + parts + otherFiles + indexMissing + indexExtra + indexWrong + sentMissing
    say("verify \(store): \(devices) devices, \(checked) of \(devices * perDevice) bundles found and compared (SHA-256) "
        + "in \(fixed(Double(Clock.monotonicNanos() - t0) / 1e9, 1)) s: lost \(lost), duplicated \(duplicated), extra \(extra), "
        + "differing \(mismatched), .part files \(parts), other files \(otherFiles); index: missing \(indexMissing), "
        + "duplicate lines \(indexDuplicates), unknown \(indexExtra), wrong digest \(indexWrong) -> \(bad == 0 ? "OK" : "FAILED")")
    return bad == 0
}
