import Foundation
import Testing

/// Slow, silent and too many clients: the collector closes them, and real uploads still get through.
extension CollectorRefusalTests {
    /// Opens many TCP connections to the collector, sends nothing, writes how many connected, and holds them.
    static let idleConnections = """
        import socket, sys, time
        host, port, wanted, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        held = []
        for _ in range(wanted):
            s = socket.socket()
            s.settimeout(5)
            try:
                s.connect((host, port))
            except OSError:
                break
            held.append(s)
        open(out, "w").write(str(len(held)))
        time.sleep(600)
        """

    /// Four clients at once, each timed until the collector closes its connection: one that sends nothing, one
    /// that sends its head a byte at a time, one whose upload stops half-way, one that keeps its connection
    /// alive for a second request and then goes quiet. Prints one JSON object.
    static let slowClients = """
        import json, select, socket, sys, threading, time
        host, port, token, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
        LIMIT = 30.0
        results = {}

        def until_closed(s, since):
            # Seconds from `since` until the collector closes s, None if it is still open after LIMIT.
            s.settimeout(max(0.1, since + LIMIT - time.monotonic()))
            try:
                while s.recv(65536):
                    pass
            except socket.timeout:
                return None
            except OSError:
                pass
            return round(time.monotonic() - since, 2)

        def response(s):
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                data += s.recv(65536)
            head, _, body = data.partition(b"\\r\\n\\r\\n")
            length = int([l for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
            while len(body) < length:
                body += s.recv(65536)
            return int(head.split(b" ")[1])

        def silent():
            s = socket.create_connection((host, port))
            results["silent"] = until_closed(s, time.monotonic())

        def byte_a_second():
            head = (b"PUT /v1/devices/devA/bundles/slow.zst HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer " + token.encode()
                    + b"\\r\\nContent-Length: 10\\r\\n\\r\\n")
            s = socket.create_connection((host, port))
            start = time.monotonic()
            sent = 0
            while sent < len(head) and time.monotonic() - start < LIMIT:
                try:
                    s.send(head[sent:sent + 1])
                except OSError:
                    break
                sent += 1
                readable, _, _ = select.select([s], [], [], 0.25)
                if readable:
                    break
            results["byte_a_second"] = until_closed(s, start)
            results["head_bytes_sent"] = sent
            results["head_bytes"] = len(head)

        def stops_half_way():
            s = socket.create_connection((host, port))
            s.sendall(b"PUT /v1/devices/devA/bundles/half.zst HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer " + token.encode()
                      + b"\\r\\nContent-Digest: sha-256=:" + b"A" * 43 + b"=:\\r\\nContent-Length: 200000\\r\\n\\r\\n" + b"\\0" * 50000)
            results["stops_half_way"] = until_closed(s, time.monotonic())

        def kept_alive():
            s = socket.create_connection((host, port))
            ask = b"GET /v1/health HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
            s.sendall(ask)
            first = response(s)
            time.sleep(pause)
            s.sendall(ask)
            results["kept_alive_statuses"] = [first, response(s)]
            results["kept_alive_then_idle"] = until_closed(s, time.monotonic())

        threads = [threading.Thread(target=f) for f in (silent, byte_a_second, stops_half_way, kept_alive)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(json.dumps(results))
        """

    /// The count just before `phrase` in the health answer ("closed 12 to make room": 12).
    static func tally(_ health: String, _ phrase: String) -> Int? {
        guard let r = health.range(of: " " + phrase) else { return nil }
        return health[..<r.lowerBound].split(separator: " ").last.flatMap { Int($0) }
    }

    /// 300 silent connections to a collector allowed 128 descriptors (the 1,100 of the fault campaign against
    /// 1,024, scaled down): a real upload, and a real agent's, still get through at once, because a new connection
    /// closes the longest-waiting one that has no request in progress.
    @Test func silentConnectionsBeyondTheDescriptorLimitLeaveRoomForUploads() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try CollectorUnderTest(dir: dir, descriptorLimit: 128)
        try Self.idleConnections.write(toFile: dir + "/idle.py", atomically: true, encoding: .utf8)
        let port = String(try #require(c.address.split(separator: ":").last))
        let holder = try Background(
            "/usr/bin/env", ["python3", dir + "/idle.py", "127.0.0.1", port, "300", dir + "/held"], in: dir)
        defer { holder.stop(SIGKILL) }
        #expect(Harness.waitFor(30) { FileManager.default.fileExists(atPath: dir + "/held") })
        let held = Int((try? String(contentsOfFile: dir + "/held", encoding: .utf8)) ?? "") ?? 0
        #expect(held == 300, "only \(held) connections were made")

        // Well inside the header timeout (10 s): what frees room here is the cap, not the clock.
        let bundle = try #require(try BundleMaker.make(in: dir, device: "devA").first)
        let started = Date()
        let r = try c.put(
            device: "devA", name: (bundle as NSString).lastPathComponent, file: bundle,
            token: CollectorUnderTest.token("devA"), extra: ["--max-time", "20"])
        #expect(r.status == 201, "\(r.status) \(r.body)\n\(c.server.stdout)\n\(c.server.stderr)")
        #expect(Date().timeIntervalSince(started) < 5)

        let spool = dir + "/spool"
        let agent = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "1", "--spool", spool, "--device-id", "devB", "--upload", c.url,
            "--token-file", c.tokenFile(for: "devB"), "--final-upload-seconds", "10",
        ])
        #expect(agent.status == 0, "\(agent.stderr)")
        #expect(try Harness.files(in: spool, suffix: ".zst").isEmpty, "\(agent.stderr)")
        #expect(c.stored("devB").count == 1)

        #expect(c.server.stdout.contains("the descriptor limit is 128"), "\(c.server.stdout)")
        let health = try c.health()
        #expect(health.contains("of at most 32"), "\(health)")
        #expect((Self.tally(health, "to make room") ?? 0) >= 300 - 32, "\(health)")
        #expect(c.server.stop() == 0)
    }

    /// Each kind of slow client is closed once its timeout has passed, and a kept-alive connection serves a
    /// second request before its idle timeout.
    @Test func slowAndSilentClientsAreClosedAfterTheirTimeouts() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let timeout = 2.0
        let c = try CollectorUnderTest(
            dir: dir,
            extra: ["--header-timeout", "\(timeout)", "--body-timeout", "\(timeout)", "--idle-timeout", "\(timeout)"])
        try Self.slowClients.write(toFile: dir + "/slow.py", atomically: true, encoding: .utf8)
        let port = String(try #require(c.address.split(separator: ":").last))
        let r = try Harness.run(
            "/usr/bin/env",
            ["python3", dir + "/slow.py", "127.0.0.1", port, CollectorUnderTest.token("devA"), "\(timeout / 2)"],
            timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let results = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "\(r.text)")
        // Closed after the timeout, not before; the upper bound leaves room for a busy machine.
        for key in ["silent", "byte_a_second", "stops_half_way", "kept_alive_then_idle"] {
            let seconds = results[key] as? Double
            #expect(seconds.map { $0 >= timeout * 0.9 && $0 < timeout + 5 } == true, "\(key): \(results)")
        }
        let sent = try #require(results["head_bytes_sent"] as? Int)
        #expect(sent < (try #require(results["head_bytes"] as? Int)), "the slow head was let finish: \(results)")
        #expect(results["kept_alive_statuses"] as? [Int] == [200, 200], "\(results)")

        let health = try c.health()
        #expect(Self.tally(health, "for the header timeout") == 2, "\(health)")
        #expect(Self.tally(health, "for the idle timeout") == 1, "\(health)")
        #expect(Self.tally(health, "for the body timeout") == 1, "\(health)")
        #expect(c.server.stop() == 0)
        #expect(c.server.stdout.contains("half.zst 400"), "\(c.server.stdout)")
        // The upload cut off left nothing behind.
        #expect(!c.allFiles().contains { $0.hasSuffix(".part") || $0.hasSuffix(".zst") }, "\(c.allFiles())")
    }
}
