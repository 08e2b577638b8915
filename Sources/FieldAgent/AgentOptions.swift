import FieldBackends
import FieldBundle
import FieldModel
import FieldSystem

/// The agent's settings, from a config file and the command line (the command line wins).
public struct AgentOptions: Sendable {
    /// `auto` or a backend identifier.
    public var backend = "auto"
    /// Where the OS's procfs is mounted (or a fixture tree).
    public var procRoot = "/proc"
    /// Where sysfs is mounted (cgroup limits live there), or a fixture tree.
    public var sysRoot = "/sys"
    /// Seconds between samples.
    public var interval = 1.0
    /// Seconds to run; nil runs until SIGTERM/SIGINT.
    public var duration: Double?
    /// Directory for bundles.
    public var spool = "./spool"
    /// Close the bundle and start a new one after this many seconds.
    public var bundleSeconds: Double = 3600
    /// Close the bundle and start a new one once it holds this many compressed bytes.
    public var bundleBytes: UInt64 = 16 << 20
    /// Most bytes the spool may hold; the oldest closed bundles are dropped first, and the drop is recorded.
    public var spoolMaxBytes: UInt64 = 256 << 20
    /// Only these processes (empty: all, unless `match` is set).
    public var pids: [Int32] = []
    /// Only processes whose name matches this regular expression.
    public var match: String?
    /// Device identifier; nil uses the machine id or host name.
    public var deviceID: String?
    /// Deep files are read at least every this many intervals.
    public var deepEvery: UInt32 = 10
    /// When bundle data is synced to stable storage (docs/reliability.md, "Power loss"): what a power cut may cost.
    public var fsync: FsyncPolicy = .close
    /// Collector base URL (`http://host:port` or `https://...`); nil keeps bundles in the spool.
    public var upload: String?
    /// File holding the bearer token for the collector.
    public var tokenFile: String?
    /// PEM file of the CA(s) to trust for the collector instead of the system's.
    public var caFile: String?
    /// Directory on a mounted medium to copy closed bundles into (`DIR/<device-id>/`).
    public var copyTo: String?
    /// File to append a line to as each sample begins (`begin SEQ MONO_NS`): for fault-injection runs, which
    /// must know how many samples a kill interrupted, and for seeing where a stuck agent stopped.
    public var traceSamples: String?
    /// Seconds to wait for a connection to the collector.
    public var connectTimeout = 10.0
    /// Seconds an upload may make no progress before it is abandoned.
    public var stallTimeout = 30.0
    /// First and longest wait between failed delivery attempts, seconds (doubling, with jitter).
    public var retryMin = 1.0
    public var retryMax = 300.0
    /// On a clean stop, at most this many seconds for a last attempt to deliver closed bundles.
    public var finalUploadSeconds = 5.0

    /// Defaults.
    public init() {}

    static let usage = """
        usage: fieldagent [options]

        Samples the OS through its procfs and writes zstd-compressed, crash-safe bundles into a spool directory.

        options:
          --backend auto|linux|sylixos  which OS backend reads the proc root (default: auto, by detection)
          --proc-root PATH              where procfs is mounted, or a fixture tree (default: /proc)
          --sys-root PATH               where sysfs is mounted, or a fixture tree (default: /sys)
          --interval SECONDS            time between samples, fractions allowed, at least 0.1 (default: 1)
          --duration SECONDS            stop after this long (default: run until SIGTERM or SIGINT)
          --spool DIR                   directory for bundles, created if missing (default: ./spool)
          --bundle-seconds N            start a new bundle after N seconds (default: 3600)
          --bundle-bytes N              start a new bundle once it holds N compressed bytes (default: 16777216)
          --spool-max-bytes N           keep the spool under N bytes: the oldest closed bundles are dropped
                                        first, and the drop is recorded in the next bundle (default: 268435456)
          --pid PID                     sample only this process (repeatable)
          --match REGEX                 sample only processes whose name matches REGEX, a POSIX extended
                                        regular expression found anywhere in the name (default: every process)
          --device-id ID                device name in bundles and file names (default: machine id, else host name)
          --deep-every N                read deep files (maps, thread names...) at least every N intervals; between
                                        those, only when a cheap signal changed (default: 10)
          --fsync never|close|sample    when bundles are synced to disk, i.e. what a power cut may cost: close
                                        syncs a bundle when it is closed, so a cut loses at most the open bundle
                                        (up to --bundle-seconds or --bundle-bytes of samples); sample also syncs
                                        after every sample, so a cut loses at most the sample being written, at
                                        one disk sync per interval (flash wear); never leaves bundles to the OS's
                                        write-back (losses and recovery are synced anyway) (default: close)
          --upload URL                  send closed bundles to a collector (fieldctl serve) at URL, http:// or
                                        https://, oldest first; a bundle leaves the spool once acknowledged
          --token-file FILE             file holding this device's token for the collector (required with --upload)
          --ca-file FILE                trust the CA certificates in this PEM file for https:// instead of the
                                        system's (certificates are always verified)
          --copy-to DIR                 copy closed bundles into DIR/DEVICE-ID/ (a mounted USB stick or share);
                                        DIR must exist; with --upload too, a bundle leaves the spool once both have it
          --connect-timeout SECONDS     give up connecting to the collector after this long (default: 10)
          --stall-timeout SECONDS       abandon an upload that moves no data for this long (default: 30)
          --retry-min SECONDS           first wait after a failed delivery; it doubles per failure (default: 1)
          --retry-max SECONDS           longest wait between delivery attempts (default: 300)
          --final-upload-seconds N      on SIGTERM/SIGINT, try to deliver closed bundles for at most N seconds
                                        before exiting (default: 5)
          --trace-samples FILE          append "begin SEQ MONO_NS" to FILE as each sample begins (one write per
                                        sample; for fault-injection tests and for seeing where an agent stuck)
          --config FILE                 read the same settings from FILE: one per line, "name value" or
                                        "name = value", names without the dashes, # starts a comment
          --help                        show this text

        Sizes accept K, M and G suffixes (powers of 1024). A bundle is written as NAME.zst.open and renamed to
        NAME.zst when closed; after a crash the .open file holds every finished sample, and the next start
        closes it. SIGTERM and SIGINT close the current bundle and exit 0.

        Uploads run beside sampling and never delay it. While the collector is unreachable, bundles wait in the
        spool (the quota still applies) and attempts back off; a restart resumes with what the spool holds. A
        bundle the collector refuses for good (damaged, too large, bad name: HTTP 400, 409, 413, 422) is renamed
        NAME.zst.rejected, kept, reported in the next bundle's loss record, and not sent again.
        """

    /// Parses arguments (without the program name); `--config` files are read where they appear.
    public static func parse(_ args: [String]) throws(AgentError) -> AgentOptions {
        var o = AgentOptions()
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--help" || a == "-h" { throw AgentError(usage, isHelp: true) }
            guard a.hasPrefix("--") else { throw AgentError("unexpected argument '\(a)' (see --help)") }
            var name = String(a.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            } else if i + 1 < args.count {
                value = args[i + 1]
                i += 1
            }
            guard let v = value else { throw AgentError("--\(name) needs a value (see --help)") }
            if name == "config" {
                try o.apply(configFile: v)
            } else {
                try o.set(name, v, source: "--\(name)")
            }
            i += 1
        }
        try o.validate()
        return o
    }

    /// Checks settings that only make sense together.
    func validate() throws(AgentError) {
        if upload != nil && tokenFile == nil {
            throw AgentError("--upload needs --token-file FILE (the collector refuses uploads without a token)")
        }
        if upload == nil {
            for (flag, set) in [("--token-file", tokenFile != nil), ("--ca-file", caFile != nil)] where set {
                throw AgentError("\(flag) only makes sense with --upload URL")
            }
        }
    }

    /// Reads a config file of `name value` lines.
    mutating func apply(configFile path: String) throws(AgentError) {
        let c = ProcFS.readFile(path, maxBytes: 1 << 20)
        guard c.status == .ok else {
            throw AgentError("cannot read config file \(path) (\(c.status.rawValue)\(c.errno.map { ", errno \($0)" } ?? ""))")
        }
        for (n, raw) in c.bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            var line = Substring(String(decoding: raw, as: UTF8.self))
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingSpaces()
            if trimmed.isEmpty { continue }
            let parts = trimmed.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "=" || $0 == "\t" })
            guard parts.count == 2 else { throw AgentError("\(path):\(n + 1): expected 'name value', got '\(trimmed)'") }
            var name = String(parts[0])
            if name.hasPrefix("--") { name.removeFirst(2) }
            let value = String(parts[1].trimmingSpaces().drop(while: { $0 == "=" }).trimmingSpaces())
            guard name != "config" else { throw AgentError("\(path):\(n + 1): a config file cannot include another") }
            try set(name, value, source: "\(path):\(n + 1)")
        }
    }

    mutating func set(_ name: String, _ v: String, source: String) throws(AgentError) {
        func number() throws(AgentError) -> Double {
            // At most ten years: every duration becomes nanoseconds in a UInt64, which holds 584 years.
            guard let d = Double(v), d.isFinite, d >= 0, d <= 315_360_000 else {
                throw AgentError("\(source) wants a number of seconds from 0 to 315360000, not '\(v)'")
            }
            return d
        }
        func size() throws(AgentError) -> UInt64 {
            var digits = Substring(v)
            var unit: UInt64 = 1
            switch v.last {
            case "K", "k": unit = 1 << 10; digits = digits.dropLast()
            case "M", "m": unit = 1 << 20; digits = digits.dropLast()
            case "G", "g": unit = 1 << 30; digits = digits.dropLast()
            default: break
            }
            // At most 1 PiB: sizes are added up in the spool quota, and must not overflow there.
            guard let n = UInt64(digits), n > 0, n <= (1 << 50) / unit else {
                throw AgentError("\(source) wants a positive size such as 1048576 or 1M, not '\(v)'")
            }
            return n * unit
        }
        switch name {
        case "backend":
            guard v == "auto" || BackendRegistry.named(v) != nil else {
                throw AgentError(
                    "\(source): backend is auto or one of \(BackendRegistry.identifiers.joined(separator: ", ")), not '\(v)'")
            }
            backend = v
        case "proc-root": procRoot = v
        case "sys-root": sysRoot = v
        case "interval":
            interval = try number()
            guard interval >= 0.1 else { throw AgentError("\(source): the interval must be at least 0.1 seconds") }
        case "duration": duration = try number()
        case "spool": spool = v
        case "bundle-seconds":
            bundleSeconds = try number()
            guard bundleSeconds >= 1 else { throw AgentError("\(source): bundles must last at least 1 second") }
        case "bundle-bytes": bundleBytes = try size()
        case "spool-max-bytes": spoolMaxBytes = try size()
        case "pid":
            guard let p = Int32(v), p > 0 else { throw AgentError("\(source) wants a process id, not '\(v)'") }
            pids.append(p)
        case "match":
            var why = ""
            guard POSIXRegex(v, error: &why) != nil else {
                throw AgentError("\(source): '\(v)' is not a valid POSIX extended regular expression (\(why))")
            }
            match = v
        case "device-id":
            guard SafeName.isSafe(v) else {
                throw AgentError("\(source): a device id is 1-128 of A-Z a-z 0-9 . _ - and does not start with a dot, not '\(v)'")
            }
            deviceID = v
        case "upload":
            guard let scheme = ["http://", "https://"].first(where: { v.hasPrefix($0) }), v.count > scheme.count else {
                throw AgentError("\(source) wants a collector URL starting with http:// or https://, not '\(v)'")
            }
            upload = v
        case "token-file": tokenFile = v
        case "ca-file": caFile = v
        case "copy-to": copyTo = v
        case "trace-samples": traceSamples = v
        case "connect-timeout", "stall-timeout", "retry-min", "retry-max", "final-upload-seconds":
            let d = try number()
            guard d > 0 || name == "final-upload-seconds" else { throw AgentError("\(source) must be more than 0") }
            guard d <= 86_400 else { throw AgentError("\(source) must be at most 86400 seconds (a day)") }
            switch name {
            case "connect-timeout": connectTimeout = d
            case "stall-timeout": stallTimeout = d
            case "retry-min": retryMin = d
            case "retry-max": retryMax = d
            default: finalUploadSeconds = d
            }
        case "deep-every":
            guard let n = UInt32(v), n > 0 else { throw AgentError("\(source) wants a positive whole number, not '\(v)'") }
            deepEvery = n
        case "fsync":
            switch v {
            case "never": fsync = .never
            case "close": fsync = .close
            case "sample": fsync = .sample
            default: throw AgentError("\(source): fsync is never, close or sample, not '\(v)'")
            }
        default:
            throw AgentError("unknown option '\(name)' in \(source) (see --help)")
        }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return s
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
