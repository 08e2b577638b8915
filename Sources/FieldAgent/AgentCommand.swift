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
    public static let version = "fieldagent 0.2.0"

    /// Runs the agent and returns the process exit code: 0 after a clean stop, 1 when it cannot run at all,
    /// 64 for a wrong command line.
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
            var sampler = try Sampler(options: options)
            try sampler.run()
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

/// The agent's own cost, as the OS reports it.
enum SelfCost {
    /// Resident set size now: `/proc/self/statm` where it exists (Linux), else the peak from getrusage.
    static func rssBytes() -> UInt64 {
        let statm = ProcFS.readFile("/proc/self/statm", maxBytes: 256)
        if statm.status == .ok {
            let fields = statm.bytes.split(separator: 0x20)
            if fields.count > 1, let pages = UInt64(String(decoding: fields[1], as: UTF8.self)) {
                return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
            }
        }
        var ru = rusage()
        getrusage(rusageSelf, &ru)
        return UInt64(ru.ru_maxrss) * 1024
    }

    /// CPU time used so far, user and system, in microseconds.
    static func cpuMicros() -> (user: UInt64, system: UInt64) {
        var ru = rusage()
        getrusage(rusageSelf, &ru)
        return (
            UInt64(ru.ru_utime.tv_sec) * 1_000_000 + UInt64(ru.ru_utime.tv_usec),
            UInt64(ru.ru_stime.tv_sec) * 1_000_000 + UInt64(ru.ru_stime.tv_usec)
        )
    }
}
