import FieldBundle
import Foundation
import Testing

/// The real agent uploading to the real collector on loopback.
@Suite struct UploadTests {
    /// Every record of every bundle in a directory, with the bundle's header.
    static func read(_ dir: String) throws -> [(name: String, header: BundleHeader, records: [RawRecord])] {
        try Harness.files(in: dir, suffix: ".zst").map { path in
            let r = try BundleReader(path: path)
            var records: [RawRecord] = []
            while let rec = r.next() { records.append(rec) }
            #expect(r.isComplete, "\(path): \(String(describing: r.damage))")
            let header = try RecordCodec.decodeHeader(try #require(records.first).payload)
            return ((path as NSString).lastPathComponent, header, records)
        }
    }

    static func agent(_ args: [String], in dir: String) throws -> Background {
        try Background(Harness.agentCommand[0], Array(Harness.agentCommand.dropFirst()) + args, in: dir)
    }

    /// The collector is killed (-9) mid-run and comes back on the same port: every bundle arrives exactly once,
    /// sample sequences are whole, and the spool drains.
    @Test func collectorKilledAndRestartedMidRun() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try CollectorUnderTest(dir: dir)
        let spool = dir + "/spool"
        let agent = try Self.agent(
            [
                "--interval", "0.1", "--bundle-seconds", "1", "--spool", spool, "--device-id", "crash", "--upload",
                c.url,
                "--token-file", c.tokenFile(for: "crash"), "--retry-min", "0.2", "--retry-max", "1",
            ], in: dir)
        #expect(Harness.waitFor(20) { c.stored("crash").count >= 2 }, "\(agent.stderr)")
        try c.killAndRestart(pauseSeconds: 3)
        // Bundles closed while it was down wait in the spool, then go once it is back.
        #expect(Harness.waitFor(20) { c.stored("crash").count >= 7 }, "\(agent.stderr)")
        #expect(agent.stop() == 0)

        #expect(
            ((try? Harness.files(in: spool, suffix: ".zst")) ?? ["?"]).isEmpty,
            "the spool did not drain: \(agent.stderr)")
        let bundles = try Self.read(c.store + "/crash")
        let sequences = bundles.map(\.header.sequence).sorted()
        #expect(sequences == Array(0..<UInt64(bundles.count)), "bundle sequences \(sequences)")
        let samples = try bundles.flatMap { b in
            try b.records.filter { $0.type == .sample }.map { try RecordCodec.decodeSample($0.payload).sequence }
        }
        .sorted()
        #expect(samples == Array(0..<UInt64(samples.count)), "sample sequences have gaps or repeats")
        #expect(c.indexLines("crash").count == bundles.count)
        #expect(agent.stderr.contains("unreachable"), "the outage was not noticed: \(agent.stderr)")
        #expect(agent.stderr.contains("reachable again"))
        #expect(c.server.stop() == 0)
    }

    /// A damaged bundle in the spool is refused (422), kept aside as .rejected, reported in the next bundle's loss
    /// record, and not sent again; the good ones go.
    @Test func damagedBundleIsRefusedAndSetAside() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try CollectorUnderTest(dir: dir)
        let spool = dir + "/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let good = try #require(try BundleMaker.make(in: dir, device: "rej").first)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let damagedName = "rej-20200101T000000.000Z-0000.zst"
        var damaged = bytes
        damaged[bytes.count / 2] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: spool + "/" + damagedName))

        let r = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "2.5", "--bundle-seconds", "1", "--spool", spool, "--device-id", "rej",
            "--upload", c.url, "--token-file", c.tokenFile(for: "rej"),
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: spool + "/" + damagedName + ".rejected"))
        #expect(r.stderr.contains("refused \(damagedName): HTTP 422"), "\(r.stderr)")
        #expect(!c.stored("rej").contains(damagedName))
        #expect(try Harness.files(in: spool, suffix: ".zst").isEmpty)
        // Tried once only.
        #expect(c.server.stdout.components(separatedBy: damagedName).count - 1 == 1)
        let losses = try Self.read(c.store + "/rej").flatMap { $0.records }.filter { $0.type == .loss }
            .map { try RecordCodec.decodeLoss($0.payload) }
        #expect(losses.contains { $0.reason == "rejected-by-collector" && $0.names == [damagedName] }, "\(losses)")

        // A restart does not send it again.
        let again = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "0.3", "--spool", spool, "--device-id", "rej", "--upload", c.url,
            "--token-file", c.tokenFile(for: "rej"),
        ])
        #expect(again.status == 0)
        #expect(c.server.stdout.components(separatedBy: damagedName).count - 1 == 1)
        c.server.stop()
    }

    /// Offline: bundles wait, the quota drops the oldest and records it; a restart with the collector back resumes
    /// and drains everything, the loss record included.
    @Test func offlineQuotaThenResumeAfterRestart() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = dir + "/spool"
        let c = try CollectorUnderTest(dir: dir)
        let deadURL = "http://127.0.0.1:9"  // discard port: nothing listens
        let offline = try Harness.fieldagent([
            // Bundles of one second, each larger than 48K (the first sample reads every deep file, about 45K
            // compressed here): a quota of 48K could drop even the last one, and did under qemu-aarch64.
            "--interval", "0.1", "--duration", "5", "--bundle-seconds", "1", "--bundle-bytes", "64K",
            "--spool-max-bytes", "200K",
            "--spool", spool, "--device-id", "off", "--upload", deadURL, "--token-file", c.tokenFile(for: "off"),
            "--retry-min", "0.5", "--retry-max", "1",
        ])
        #expect(offline.status == 0)
        #expect(offline.stderr.contains("unreachable"))
        let waiting = try Harness.files(in: spool, suffix: ".zst")
        #expect(!waiting.isEmpty, "\(offline.stderr)")
        #expect(offline.stderr.contains("dropped"), "the quota never had to drop: \(offline.stderr)")

        let resumed = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "1", "--spool", spool, "--device-id", "off",
            "--upload", c.url, "--token-file", c.tokenFile(for: "off"),
        ])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Harness.files(in: spool, suffix: ".zst").isEmpty, "\(resumed.stderr)")
        let stored = Set(c.stored("off"))
        #expect(Set(waiting.map { ($0 as NSString).lastPathComponent }).isSubset(of: stored))
        let losses = try Self.read(c.store + "/off").flatMap { $0.records }.filter { $0.type == .loss }
            .map { try RecordCodec.decodeLoss($0.payload) }
        #expect(losses.contains { $0.reason == "spool-quota" && !$0.names.isEmpty }, "\(losses)")
        // Dropped bundles are not in the store, and nothing else is missing.
        let dropped = Set(losses.flatMap(\.names))
        #expect(dropped.isDisjoint(with: stored))
        // The analysis of the store says what is missing, and why.
        let report = try Harness.fieldctl(["analyze", c.store + "/off"])
        #expect(report.text.contains("dropped on the device (spool-quota)"), "\(report.text)")
        let json = try Harness.fieldctl(["analyze", "--format", "json", c.store + "/off"])
        let doc = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        let missing = try #require(doc["missing"] as? [[String: Any]])
        #expect(
            missing.contains {
                $0["reason"] as? String == "spool-quota" && ($0["names"] as? [String])?.isEmpty == false
            }, "\(missing)")
        c.server.stop()
    }

    /// A collector that accepts connections and never answers: sampling keeps its rhythm, attempts back off
    /// instead of spinning, and a stop returns within the last-attempt bound.
    @Test func aHangingCollectorDelaysNeitherSamplingNorTheStop() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A listener that counts connections and answers nothing.
        let script = """
            import socket, sys, threading, time
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0)); s.listen(64)
            open(sys.argv[1], "w").write(str(s.getsockname()[1]))
            held = []
            n = 0
            while True:
                conn, _ = s.accept(); held.append(conn); n += 1
                open(sys.argv[2], "w").write(str(n))
            """
        try script.write(toFile: dir + "/hang.py", atomically: true, encoding: .utf8)
        let listener = try Background(
            "/usr/bin/env", ["python3", dir + "/hang.py", dir + "/port", dir + "/count"], in: dir)
        defer { listener.stop(SIGKILL) }
        #expect(Harness.waitFor(10) { FileManager.default.fileExists(atPath: dir + "/port") })
        let port = try String(contentsOfFile: dir + "/port", encoding: .utf8)
        let tokenFile = dir + "/token"
        try "0123456789abcdef0123\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let spool = dir + "/spool"
        let agent = try Self.agent(
            [
                "--interval", "0.1", "--bundle-seconds", "1", "--spool", spool, "--device-id", "hang", "--pid", "1",
                "--upload", "http://127.0.0.1:\(port)", "--token-file", tokenFile, "--stall-timeout", "1",
                "--retry-min", "0.5",
                "--retry-max", "1", "--final-upload-seconds", "1",
            ], in: dir)
        usleep(5_000_000)
        let stopAsked = Date()
        #expect(agent.stop() == 0)
        let stopTook = Date().timeIntervalSince(stopAsked)
        #expect(stopTook < 2.5, "the stop took \(stopTook) s")
        let connections = Int((try? String(contentsOfFile: dir + "/count", encoding: .utf8)) ?? "0") ?? 0
        // 5 s of 1 s stalls and 0.5-1 s backoffs: a handful of attempts, not a spin.
        #expect((2...10).contains(connections), "\(connections) connections")
        let samples = try Self.read(spool).flatMap { $0.records }.filter { $0.type == .sample }.count
        #expect(samples >= 40, "only \(samples) samples in 5 s at 0.1 s: sampling waited for the network")
    }

    /// --copy-to: bundles land in DIR/<device-id>/ atomically and leave the spool; with DIR missing they wait.
    @Test func copyToAMountedDirectory() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = dir + "/spool"
        let missing = dir + "/usb-not-mounted"
        let r1 = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "2.2", "--bundle-seconds", "1", "--spool", spool, "--device-id", "devA",
            "--copy-to", missing, "--retry-min", "0.2", "--final-upload-seconds", "0.5",
        ])
        #expect(r1.status == 0)
        #expect(r1.stderr.contains("is the medium mounted"), "\(r1.stderr)")
        #expect(!FileManager.default.fileExists(atPath: missing))
        let waiting = try Harness.files(in: spool, suffix: ".zst").map { ($0 as NSString).lastPathComponent }
        #expect(waiting.count >= 2)

        try FileManager.default.createDirectory(atPath: missing, withIntermediateDirectories: false)
        let r2 = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "0.6", "--spool", spool, "--device-id", "devA", "--copy-to", missing,
        ])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(try Harness.files(in: spool, suffix: ".zst").isEmpty)
        let copied = try FileManager.default.contentsOfDirectory(atPath: missing + "/devA").sorted()
        #expect(Set(waiting).isSubset(of: Set(copied)))
        #expect(!copied.contains { $0.hasPrefix(".") }, "a partial copy was left: \(copied)")
        // The copies are whole bundles that analyze reads as they are.
        let a = try Harness.fieldctl(["analyze", "--format", "json", missing + "/devA"])
        #expect(a.status == 0, "\(a.stderr)")
    }
}
