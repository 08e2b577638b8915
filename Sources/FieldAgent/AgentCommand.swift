import CFieldPlatform
import FieldBundle
import FieldModel
import FieldSystem

/// Set by the SIGTERM/SIGINT handler; read by the sampling loop.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

/// The C entry point (Sources/fieldagent/main.c): argv as the C runtime hands it over, in both builds.
@_cdecl("field_agent_main")
public func fieldAgentMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var arguments: [String] = []
    arguments.reserveCapacity(Int(argc))
    for i in 0..<Int(argc) {
        if let p = argv[i] { arguments.append(String(cString: p)) }
    }
    return AgentCommand.main(arguments)
}

/// The agent's entry point.
public enum AgentCommand {
    /// The agent's version, recorded in every bundle header.
    public static let version = "fieldagent 0.2.0"

    /// Runs the agent and returns the process exit code: 0 after a clean stop, 1 when it cannot run at all,
    /// 64 for a wrong command line.
    public static func main(_ argv: [String]) -> Int32 {
        field_tune_allocator()
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
        field_set_signal_handler(SIGTERM) { _ in stopRequested = 1 }
        field_set_signal_handler(SIGINT) { _ in stopRequested = 1 }
        field_ignore_broken_pipes()
        // A supervisor (or a test runner) may start us with these blocked; the mask is inherited across exec.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
    }

    static var shouldStop: Bool { stopRequested != 0 }
}

/// Writes a line to standard error.
func printError(_ s: String) { writeLine(2, s) }

/// Writes a line to a descriptor in one write(2).
func writeLine(_ fd: Int32, _ s: String) {
    var line = Array(s.utf8)
    line.append(0x0A)
    _ = line.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
}

/// The agent's own cost, as the OS reports it.
enum SelfCost {
    /// Resident set size now: `/proc/self/statm` where it exists (Linux), else the peak from getrusage.
    static func rssBytes() -> UInt64 {
        let statm = ProcFS.readFile("/proc/self/statm", maxBytes: 256)
        if statm.status == .ok {
            let fields = statm.bytes.split(separator: 0x20)
            if fields.count > 1, let pages = UInt64(String(decoding: fields[1], as: UTF8.self)) {
                let (bytes, overflow) = pages.multipliedReportingOverflow(by: UInt64(max(field_page_size(), 1)))
                return overflow ? .max : bytes
            }
        }
        var ru = rusage()
        field_getrusage_self(&ru)
        return UInt64(ru.ru_maxrss) * 1024
    }

    /// CPU time used so far, user and system, in microseconds.
    static func cpuMicros() -> (user: UInt64, system: UInt64) {
        var ru = rusage()
        field_getrusage_self(&ru)
        return (
            UInt64(ru.ru_utime.tv_sec) * 1_000_000 + UInt64(ru.ru_utime.tv_usec),
            UInt64(ru.ru_stime.tv_sec) * 1_000_000 + UInt64(ru.ru_stime.tv_usec)
        )
    }
}
