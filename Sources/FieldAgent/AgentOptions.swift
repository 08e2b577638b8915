/// The agent's settings, from the command line.
public struct AgentOptions: Sendable {
    /// `auto` or a backend identifier.
    public var backend = "auto"
    /// Where the OS's procfs is mounted (or a fixture tree).
    public var procRoot = "/proc"
    /// Seconds between samples.
    public var interval = 1.0
    /// Seconds to run; nil runs until SIGTERM/SIGINT.
    public var duration: Double?
    /// Directory for bundles.
    public var spool = "./spool"
    /// Device identifier; nil uses the machine id or host name.
    public var deviceID: String?
    /// Deep files are read every this many intervals.
    public var deepEvery: UInt32 = 10

    /// Defaults.
    public init() {}

    static let usage = """
        usage: fieldagent [options]

        Samples the OS through its procfs and writes zstd-compressed, crash-safe bundles into a spool directory.

        options:
          --backend auto|linux|sylixos  which OS backend reads the proc root (default: auto, by detection)
          --proc-root PATH              where procfs is mounted, or a fixture tree (default: /proc)
          --interval SECONDS            time between samples, fractions allowed, at least 0.1 (default: 1)
          --duration SECONDS            stop after this long (default: run until SIGTERM or SIGINT)
          --spool DIR                   directory for bundles, created if missing (default: ./spool)
          --device-id ID                device name in bundles (default: machine id, else host name)
          --deep-every N                read deep files (maps, thread lists) every N intervals (default: 10)
          --help                        show this text

        A bundle is written as NAME.zst.open and renamed to NAME.zst when closed; after a crash the .open file
        holds every finished sample (fieldctl decode reads it).
        """

    /// Parses arguments (without the program name).
    public static func parse(_ args: [String]) throws(AgentError) -> AgentOptions {
        var o = AgentOptions()
        var i = 0
        func value(_ flag: String) throws(AgentError) -> String {
            i += 1
            guard i < args.count else { throw AgentError("\(flag) needs a value (see --help)") }
            return args[i]
        }
        func number(_ flag: String) throws(AgentError) -> Double {
            let v = try value(flag)
            guard let d = Double(v), d.isFinite, d >= 0 else { throw AgentError("\(flag) wants a number, not '\(v)'") }
            return d
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "--backend": o.backend = try value(a)
            case "--proc-root": o.procRoot = try value(a)
            case "--interval":
                o.interval = try number(a)
                guard o.interval >= 0.1 else { throw AgentError("--interval must be at least 0.1 seconds") }
            case "--duration": o.duration = try number(a)
            case "--spool": o.spool = try value(a)
            case "--device-id": o.deviceID = try value(a)
            case "--deep-every":
                let v = try value(a)
                guard let n = UInt32(v), n > 0 else { throw AgentError("--deep-every wants a positive whole number") }
                o.deepEvery = n
            case "--help", "-h": throw AgentError(usage, isHelp: true)
            default: throw AgentError("unknown option '\(a)' (see --help)")
            }
            i += 1
        }
        return o
    }
}

/// A mistake in how the agent was started, or a failure it cannot continue after.
public struct AgentError: Error, Sendable {
    /// What to tell the user.
    public var message: String
    /// True for `--help`: printed to stdout, exit 0.
    public var isHelp: Bool
    /// Creates an error.
    public init(_ message: String, isHelp: Bool = false) {
        self.message = message
        self.isHelp = isHelp
    }
}
