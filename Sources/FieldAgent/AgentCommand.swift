import FieldBundle
import FieldModel
import FieldSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Set by the SIGTERM/SIGINT handler; read by the sampling loop.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

/// The agent's entry point.
public enum AgentCommand {
    /// The agent's version, recorded in every bundle header.
    public static let version = "fieldagent 0.1.0"

    /// Runs the agent and returns the process exit code.
    public static func main(_ argv: [String]) -> Int32 {
        let options: AgentOptions
        do {
            options = try AgentOptions.parse(Array(argv.dropFirst()))
        } catch {
            if error.isHelp {
                print(error.message)
                return 0
            }
            printError("fieldagent: \(error.message)")
            return 64
        }
        do {
            try Sampler(options: options).run()
            return 0
        } catch {
            printError("fieldagent: \(error.message)")
            return 1
        }
    }

    static func installSignalHandlers() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in stopRequested = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: a pending sleep ends at once
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGINT, &action, nil)
        // A supervisor (or a test runner) may start us with these blocked; the mask is inherited across exec.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
    }

    static var shouldStop: Bool { stopRequested != 0 }
}

/// The sampling loop: one bundle per run for now.
struct Sampler {
    let options: AgentOptions

    func run() throws(AgentError) {
        let backend: any Backend
        switch options.backend {
        case "auto":
            guard let b = BackendRegistry.detect(procRoot: options.procRoot) else {
                throw AgentError("no backend recognises \(options.procRoot) (no Linux or SylixOS version file); use --backend")
            }
            backend = b.init()
        default:
            guard let b = BackendRegistry.named(options.backend) else {
                throw AgentError("unknown backend '\(options.backend)': use auto, linux or sylixos")
            }
            backend = b.init()
        }
        if mkdir(options.spool, 0o755) != 0 && errno != EEXIST {
            throw AgentError("cannot create spool directory \(options.spool): \(String(cString: strerror(errno)))")
        }
        let device = options.deviceID ?? Self.defaultDeviceID()
        let plan = backend.capturePlan
        let intervalNanos = UInt64(options.interval * 1e9)
        let startMono = Clock.monotonicNanos()
        let startWall = Clock.wallNanos()
        let header = BundleHeader(
            agent: AgentCommand.version, backend: type(of: backend).identifier,
            osIdentity: ProcFS.readFile(options.procRoot + "/version", maxBytes: 4096).bytes, deviceID: device,
            bootID: backend.bootID(procRoot: options.procRoot), wallNanos: startWall, monoNanos: startMono,
            intervalNanos: intervalNanos, procRoot: options.procRoot, sequence: 0, plan: plan)
        let name = "\(options.spool)/\(device)-\(Self.timestamp(startWall)).zst"
        let writer: BundleWriter
        do { writer = try BundleWriter(path: name, header: header) } catch { throw AgentError(error.message) }

        AgentCommand.installSignalHandlers()
        var sequence: UInt64 = 0
        var next = startMono
        var missed: UInt64 = 0
        var maxSample: UInt64 = 0
        while !AgentCommand.shouldStop {
            let t0 = Clock.monotonicNanos()
            if let d = options.duration, Double(t0 - startMono) / 1e9 >= d { break }
            let sample = capture(plan: plan, sequence: sequence, deep: sequence % UInt64(options.deepEvery) == 0)
            do {
                try writer.append(sample)
                let took = Clock.monotonicNanos() - t0
                maxSample = max(maxSample, took)
                try writer.append(
                    AgentStats(
                        wallNanos: Clock.wallNanos(), monoNanos: Clock.monotonicNanos(), rssBytes: Self.selfRSS(),
                        cpuUserMicros: Self.cpuMicros().user, cpuSystemMicros: Self.cpuMicros().system,
                        samples: sequence + 1, lastSampleNanos: took, maxSampleNanos: maxSample, missedIntervals: missed))
            } catch {
                throw AgentError(error.message)
            }
            sequence += 1
            next += intervalNanos
            let now = Clock.monotonicNanos()
            while next <= now {  // overran: skip the intervals that are already gone
                next += intervalNanos
                missed += 1
            }
            if let d = options.duration { next = min(next, startMono + UInt64(d * 1e9)) }
            Self.sleep(until: next)
        }
        do {
            let path = try writer.close(reason: "shutdown", wallNanos: Clock.wallNanos(), monoNanos: Clock.monotonicNanos())
            print("fieldagent: wrote \(path) (\(sequence) samples, \(writer.compressedBytes) bytes)")
        } catch {
            throw AgentError(error.message)
        }
    }

    /// Reads every plan entry: system ones once, process ones for each process; deep ones only when `deep`.
    func capture(plan: [CapturePlanEntry], sequence: UInt64, deep: Bool) -> Sample {
        let wall = Clock.wallNanos()
        let mono = Clock.monotonicNanos()
        var files: [FileCapture] = []
        let root = options.procRoot
        func read(_ logical: String, _ kind: EntryKind) {
            let real = root + logical.dropFirst(5)  // "/proc" -> proc root
            var c = kind == .directory ? ProcFS.listDirectory(real) : ProcFS.readFile(real)
            c.path = logical
            files.append(c)
        }
        for e in plan where e.scope == .system && (e.tier == .cheap || deep) { read(e.path, e.kind) }
        let pids = ProcFS.listDirectory(root).bytes.split(separator: 0x0A).filter { $0.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        for pid in pids {
            let p = String(decoding: pid, as: UTF8.self)
            for e in plan where e.scope == .process && (e.tier == .cheap || deep) {
                read(e.path.replacingPID(with: p), e.kind)
            }
        }
        return Sample(sequence: sequence, wallNanos: wall, monoNanos: mono, files: files)
    }

    static func sleep(until deadline: UInt64) {
        while !AgentCommand.shouldStop {
            let now = Clock.monotonicNanos()
            if now >= deadline { return }
            var ts = timespec(tv_sec: Int((deadline - now) / 1_000_000_000), tv_nsec: Int((deadline - now) % 1_000_000_000))
            _ = nanosleep(&ts, nil)  // EINTR from the stop signal ends the wait
        }
    }

    static func defaultDeviceID() -> String {
        let id = ProcFS.readFile("/etc/machine-id", maxBytes: 64)
        let text = String(decoding: id.bytes.filter { $0 > 0x20 }, as: UTF8.self)
        if id.status == .ok, !text.isEmpty { return String(text.prefix(12)) }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let h = String(decoding: host.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return h.isEmpty ? "device" : h
    }

    static func timestamp(_ wall: Int64) -> String {
        var t = time_t(wall / 1_000_000_000)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(tmv.tm_year + 1900)\(two(tmv.tm_mon + 1))\(two(tmv.tm_mday))T\(two(tmv.tm_hour))\(two(tmv.tm_min))\(two(tmv.tm_sec))Z"
    }

    static func selfRSS() -> UInt64 {
        var ru = rusage()
        getrusage(rusageSelf, &ru)
        return UInt64(ru.ru_maxrss) * 1024  // peak; the steady value comes with the full agent
    }

    static func cpuMicros() -> (user: UInt64, system: UInt64) {
        var ru = rusage()
        getrusage(rusageSelf, &ru)
        return (
            UInt64(ru.ru_utime.tv_sec) * 1_000_000 + UInt64(ru.ru_utime.tv_usec),
            UInt64(ru.ru_stime.tv_sec) * 1_000_000 + UInt64(ru.ru_stime.tv_usec)
        )
    }
}

extension String {
    /// `/proc/[pid]/x` with a real pid.
    func replacingPID(with pid: String) -> String {
        let parts = split(separator: "[pid]", omittingEmptySubsequences: false)
        return parts.joined(separator: pid)
    }
}

#if canImport(Glibc)
private let rusageSelf = __rusage_who_t(RUSAGE_SELF.rawValue)
#else
private let rusageSelf = RUSAGE_SELF
#endif

/// Writes a line to standard error.
func printError(_ s: String) {
    var line = Array(s.utf8)
    line.append(0x0A)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress!, $0.count) }
}
