import FieldBundle
import Foundation
import Testing

/// A program running in the background for a test, its output going to files.
final class Background {
    let process = Process()
    let outPath: String
    let errPath: String

    init(_ program: String, _ args: [String], in directory: String, environment: [String: String] = [:]) throws {
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        outPath = directory + "/\(UUID().uuidString).out"
        errPath = outPath.replacingOccurrences(of: ".out", with: ".err")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        // A bare name (an emulator such as qemu-arm) is looked up on PATH.
        process.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : "/usr/bin/env")
        process.arguments = program.hasPrefix("/") ? args : [program] + args
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try process.run()
    }

    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Sends a signal and waits (at most `seconds`) for the exit; returns the exit status, nil if it did not exit.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, within seconds: Double = 20) -> Int32? {
        if process.isRunning { kill(process.processIdentifier, signal) }
        guard Harness.waitFor(seconds, { !process.isRunning }) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// A real `fieldctl serve` on loopback, with a tokens file of its own.
final class CollectorUnderTest {
    static let devices = ["devA", "devB", "crash", "rej", "off", "bench"]
    static func token(_ device: String) -> String { "token-of-\(device)-0123456789" }

    let dir: String
    let store: String
    let tokens: String
    private(set) var server: Background
    private(set) var address: String

    /// Starts a collector storing into `store` (default `dir/store`); `listen` may pin the port. With
    /// `descriptorLimit` it runs under `ulimit -n` of that many descriptors (soft and hard).
    init(
        dir: String, store: String? = nil, listen: String = "127.0.0.1:0", extra: [String] = [],
        descriptorLimit: Int? = nil, environment: [String: String] = [:]
    ) throws {
        self.environment = environment
        self.dir = dir
        self.store = store ?? dir + "/store"
        tls = extra.contains("--tls-cert")
        self.extra = extra
        tokens = dir + "/tokens"
        if !FileManager.default.fileExists(atPath: tokens) {
            let lines = Self.devices.map { "\($0) \(Self.token($0))" }.joined(separator: "\n") + "\n"
            _ = FileManager.default.createFile(
                atPath: tokens, contents: Data(lines.utf8), attributes: [.posixPermissions: 0o600])
        }
        (server, address) = try Self.launch(
            dir: dir, store: self.store, tokens: tokens, listen: listen, extra: extra, descriptorLimit: descriptorLimit,
            environment: environment)
    }

    private static func launch(
        dir: String, store: String, tokens: String, listen: String, extra: [String], descriptorLimit: Int? = nil,
        environment: [String: String] = [:]
    ) throws -> (Background, String) {
        let addressFile = dir + "/address-\(UUID().uuidString)"
        let command =
            [Harness.binDir + "/fieldctl"]
            + ["serve", "--listen", listen, "--store", store, "--tokens", tokens, "--address-file", addressFile] + extra
        // The shell sets the limit and then becomes the collector: the pid is the collector's.
        let server =
            try descriptorLimit.map { n in
                try Background(
                    "/bin/sh", ["-c", "ulimit -n \(n) && exec \"$0\" \"$@\""] + command, in: dir, environment: environment)
            } ?? Background(command[0], Array(command.dropFirst()), in: dir, environment: environment)
        guard Harness.waitFor(30, { FileManager.default.fileExists(atPath: addressFile) || !server.process.isRunning }),
            let text = try? String(contentsOfFile: addressFile, encoding: .utf8)
        else {
            server.stop(SIGKILL)
            throw HarnessError("the collector did not start: \(server.stderr) \(server.stdout)")
        }
        return (server, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// https when the collector was given `--tls-cert`.
    var url: String { (tls ? "https://" : "http://") + address }
    private var tls: Bool
    /// The collector's options beyond the store, tokens and address; a restart keeps them.
    let extra: [String]
    /// Variables for the collector beyond the test's own (an object store's credentials).
    let environment: [String: String]
    /// curl's options for every request (`--cacert` for a TLS collector).
    var curlOptions: [String] = []

    /// Kills the collector with SIGKILL and starts it again on the same port.
    func killAndRestart(pauseSeconds: Double) throws {
        server.stop(SIGKILL)
        usleep(UInt32(pauseSeconds * 1e6))
        (server, address) = try Self.launch(dir: dir, store: store, tokens: tokens, listen: address, extra: extra, environment: environment)
    }

    /// Writes a token file for the agent.
    func tokenFile(for device: String) -> String {
        let path = dir + "/\(device).token"
        _ = FileManager.default.createFile(
            atPath: path, contents: Data((Self.token(device) + "\n").utf8), attributes: [.posixPermissions: 0o600])
        return path
    }

    /// PUTs a file with curl; returns the status and the response body.
    func put(
        device: String, name: String, file: String?, token: String?, digest: String? = nil, path: String? = nil,
        extra: [String] = []
    ) throws -> (status: Int, body: String) {
        let bodyFile = dir + "/curl-\(UUID().uuidString).body"
        defer { try? FileManager.default.removeItem(atPath: bodyFile) }
        var args = ["-s", "--path-as-is", "-o", bodyFile, "-w", "%{http_code}", "-X", "PUT"]
        if let f = file {
            args += ["--data-binary", "@" + f]
            let d =
                try digest ?? ContentDigest.header(sha256: SHA256.hash(try Data(contentsOf: URL(fileURLWithPath: f))))
            args += ["-H", "Content-Digest: \(d)"]
        }
        if let t = token { args += ["-H", "Authorization: Bearer \(t)"] }
        args += curlOptions + extra
        args.append(url + (path ?? "/v1/devices/\(device)/bundles/\(name)"))
        let r = try Harness.run("/usr/bin/curl", args, timeout: 60)
        let body = (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? ""
        return (Int(r.text) ?? -1, body)
    }

    /// CPU time (user and system) the collector has used so far, seconds, from /proc/PID/stat.
    func cpuSeconds() throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/stat", encoding: .utf8)
        // The command name may hold spaces and parentheses: fields are counted after its closing one. utime and
        // stime are fields 14 and 15 of proc(5), in clock ticks.
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        let ticks = try #require(Double(fields[11])) + (try #require(Double(fields[12])))
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The answer of GET /v1/health.
    func health() throws -> String {
        try Harness.run("/usr/bin/curl", ["-s", "--max-time", "10"] + curlOptions + [url + "/v1/health"]).text
    }

    /// Bundle files stored for a device, by name.
    func stored(_ device: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: store + "/" + device)) ?? []).filter {
            $0.hasSuffix(".zst")
        }.sorted()
    }

    /// Every file under the store (relative paths), to prove nothing else was written.
    func allFiles() -> [String] {
        (FileManager.default.enumerator(atPath: store)?.allObjects as? [String] ?? []).sorted()
    }

    /// Lines of a device's index.
    func indexLines(_ device: String) -> [String] {
        ((try? String(contentsOfFile: store + "/\(device)/index.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
            .map(String.init)
    }
}

/// Makes real bundles with the real agent on this machine's /proc.
enum BundleMaker {
    /// Runs the agent for `seconds` into `dir/spool-<device>` and returns the closed bundle paths.
    static func make(in dir: String, device: String, seconds: Double = 0.3, extra: [String] = []) throws -> [String] {
        let spool = dir + "/made-\(device)-\(UUID().uuidString)"
        let r = try Harness.fieldagent(
            ["--interval", "0.1", "--duration", String(seconds), "--spool", spool, "--device-id", device] + extra)
        guard r.status == 0 else { throw HarnessError("agent failed: \(r.stderr)") }
        return try Harness.files(in: spool, suffix: ".zst")
    }
}
