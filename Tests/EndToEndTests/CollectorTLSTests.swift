import Foundation
import Testing

/// A test CA and the certificates it signs, made with openssl for each test.
struct TestCA {
    let dir: String
    let caCert: String
    private let caKey: String

    /// A new CA named `name`, in `dir`.
    init(in dir: String, name: String = "ca") throws {
        self.dir = dir
        caCert = dir + "/\(name).pem"
        caKey = dir + "/\(name).key"
        try Self.openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", caCert, "-days", "2",
            "-subj", "/CN=field test CA \(name)",
        ])
    }

    /// A server certificate signed by this CA for `altNames` (such as `DNS:localhost,IP:127.0.0.1`); returns the
    /// certificate's and the key's paths.
    func issue(_ name: String, altNames: String) throws -> (cert: String, key: String) {
        let (cert, key, csr, ext) = (dir + "/\(name).pem", dir + "/\(name).key", dir + "/\(name).csr", dir + "/\(name).ext")
        try Self.openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=\(name)"])
        try "subjectAltName=\(altNames)\n".write(toFile: ext, atomically: true, encoding: .utf8)
        try Self.openssl([
            "x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2",
            "-extfile", ext,
        ])
        return (cert, key)
    }

    private static func openssl(_ args: [String]) throws {
        let r = try Harness.run("/usr/bin/openssl", args)
        guard r.status == 0 else { throw HarnessError("openssl \(args.first ?? ""): \(r.stderr)") }
    }
}

/// `fieldctl serve --tls-cert --tls-key` and the real agent uploading to it over https: the agent verifies the
/// collector's certificate (by the IP address in its URL) against `--ca-file` or the system's CAs.
@Suite struct UploadTLSTests {
    static func agentRun(_ c: CollectorUnderTest, spool: String, _ extra: [String]) throws -> Harness.Result {
        try Harness.fieldagent(
            [
                "--interval", "0.1", "--duration", "0.5", "--pid", "1", "--device-id", "devA", "--upload", c.url,
                "--token-file", c.tokenFile(for: "devA"), "--final-upload-seconds", "3", "--spool", spool,
            ] + extra)
    }

    @Test func theAgentUploadsOnlyToACollectorItCanVerify() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try TestCA(in: dir)
        let other = try TestCA(in: dir, name: "other-ca")
        let server = try ca.issue("collector", altNames: "DNS:localhost,IP:127.0.0.1")
        let c = try CollectorUnderTest(dir: dir, extra: ["--tls-cert", server.cert, "--tls-key", server.key])
        c.curlOptions = ["--cacert", ca.caCert]
        #expect(c.url.hasPrefix("https://127.0.0.1:"))
        #expect(c.server.stdout.contains("TLS 1.2 and later") && !c.server.stdout.contains("WARNING"), "\(c.server.stdout)")
        let spool = dir + "/spool"

        // Not trusted: the system's CAs, then a CA that did not sign it. The bundle waits in the spool.
        for extra in [[], ["--ca-file", other.caCert]] {
            let r = try Self.agentRun(c, spool: spool, extra)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.lowercased().contains("certificate"), "\(extra): \(r.stderr)")
        }
        #expect(try Harness.files(in: spool, suffix: ".zst").count == 2)
        #expect(c.stored("devA").isEmpty)

        // The CA that signed it: both waiting bundles and the new one go, and are stored.
        let trusted = try Self.agentRun(c, spool: spool, ["--ca-file", ca.caCert])
        #expect(trusted.status == 0)
        #expect(try Harness.files(in: spool, suffix: ".zst").isEmpty, "\(trusted.stderr)")
        #expect(c.stored("devA").count == 3, "\(trusted.stderr) \(c.server.stdout)")
        #expect(c.server.stdout.components(separatedBy: " 201 ").count - 1 == 3, "\(c.server.stdout)")

        // Signed by the trusted CA, for another name: refused as well.
        #expect(c.server.stop() == 0)
        let misnamed = try ca.issue("elsewhere", altNames: "DNS:collector.example")
        let m = try CollectorUnderTest(
            dir: dir, store: dir + "/store2", extra: ["--tls-cert", misnamed.cert, "--tls-key", misnamed.key])
        let r = try Self.agentRun(m, spool: dir + "/spool2", ["--ca-file", ca.caCert])
        #expect(r.status == 0)
        #expect(try Harness.files(in: dir + "/spool2", suffix: ".zst").count == 1, "\(r.stderr)")
        #expect(m.stored("devA").isEmpty, "\(r.stderr)")
        #expect(m.server.stop() == 0)
    }
}

/// What a TLS collector does with clients that do not speak TLS, or nothing at all; what plain HTTP says; what a
/// bad certificate or key file does to the start.
@Suite struct CollectorTLSTests {
    @Test func plainRequestsAndSilentClientsGetNothingFromATLSPort() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try TestCA(in: dir)
        let server = try ca.issue("collector", altNames: "IP:127.0.0.1")
        let c = try CollectorUnderTest(
            dir: dir, extra: ["--tls-cert", server.cert, "--tls-key", server.key, "--header-timeout", "1"])
        c.curlOptions = ["--cacert", ca.caCert]

        // Plain HTTP to the TLS port: no HTTP answer (curl: 52 empty reply or 56 receive failure), nothing stored.
        let plain = try Harness.run(
            "/usr/bin/curl", ["-s", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "http://\(c.address)/v1/health"])
        #expect([52, 56].contains(plain.status) && plain.text == "000", "curl exit \(plain.status), \(plain.text)")

        // A client that connects and never starts its handshake is closed at the header timeout.
        let silent = try Harness.run(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, sys, time
                host, port = sys.argv[1].rsplit(":", 1)
                s = socket.create_connection((host, int(port))); s.settimeout(15); t = time.time()
                print("closed" if s.recv(1) == b"" else "data", round(time.time() - t, 1))
                """,
                c.address,
            ])
        let words = silent.text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
        #expect(words.first == "closed", "\(silent.text) \(silent.stderr)")
        #expect((Double(words.last ?? "") ?? 99) < 6, "\(silent.text)")
        let health = try c.health()
        #expect(health.contains("1 for the header timeout"), "\(health)")
        #expect(c.server.stop() == 0)
    }

    @Test func plainHTTPIsServedWithAWarning() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try CollectorUnderTest(dir: dir)
        #expect(c.url.hasPrefix("http://"))
        #expect(try c.health().contains("\"status\":\"ok"))
        #expect(c.server.stdout.contains("WARNING: plain HTTP"), "\(c.server.stdout)")
        #expect(c.server.stop() == 0)
    }

    @Test func aBadCertificateOrKeyStopsTheStartAndNamesTheFile() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try TestCA(in: dir)
        let server = try ca.issue("collector", altNames: "IP:127.0.0.1")
        try "devA token-of-devA-0123456789\n".write(toFile: dir + "/tokens", atomically: true, encoding: .utf8)
        chmod(dir + "/tokens", 0o600)
        let cases: [(args: [String], says: String)] = [
            (["--tls-cert", server.cert], "--tls-cert needs --tls-key"),
            (["--tls-key", server.key], "--tls-key needs --tls-cert"),
            (["--tls-cert", server.cert, "--tls-key", dir + "/absent.key"], "--tls-key \(dir)/absent.key: no such file"),
            (["--tls-cert", dir + "/tokens", "--tls-key", server.key], "not a PEM certificate chain"),
            (["--tls-cert", server.cert, "--tls-key", server.cert], "not an unencrypted PEM private key"),
            // The CA's key, not the certificate's.
            (["--tls-cert", server.cert, "--tls-key", dir + "/ca.key"], "is the key the certificate's?"),
        ]
        for (args, says) in cases {
            let store = dir + "/store-\(UUID().uuidString)"
            let r = try Harness.run(
                Harness.binDir + "/fieldctl",
                ["serve", "--listen", "127.0.0.1:0", "--store", store, "--tokens", dir + "/tokens"] + args, timeout: 30)
            #expect(r.status != 0 && r.stderr.contains(says), "\(args): exit \(r.status), \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: store), "\(args): the store was created")
        }
    }
}
