import FieldBundle
import FieldModel
import Foundation
import Testing

/// The real agent under the faults an independent campaign found it did not survive: a kill while it recovers a
/// crashed bundle, a second agent on its spool, a kill right after a quota drop, a FIFO in its proc tree.
@Suite(.serialized) struct AgentFaultTests {
    /// An agent started in the background, its standard error going to a file that can be read while it runs.
    struct Running {
        let process: Process
        let stderrPath: String
        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

        init(_ args: [String]) throws {
            process = Process()
            Harness.configureAgent(process, args)
            stderrPath = FileManager.default.temporaryDirectory.appendingPathComponent("field-agent-\(UUID().uuidString).err").path
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
            process.standardOutput = FileHandle.nullDevice
            try process.run()
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func remove() { try? FileManager.default.removeItem(atPath: stderrPath) }
    }

    /// Samples in one bundle file (closed or not), read to its end or its damage.
    static func sampleCount(_ path: String) throws -> Int {
        let r = try BundleReader(path: path)
        var n = 0
        while let rec = r.next() { if rec.type == .sample { n += 1 } }
        return n
    }

    /// A kill -9 while the agent recovers the bundle an earlier kill left open must not lose that bundle's
    /// samples: before, the next start renamed the recovery's partial output over the complete copy (16 samples
    /// became 1). Here the recovery is killed at instants spread over its whole length, twice in a row per
    /// round, and a final start must still recover every sample.
    @Test func killsDuringRecoveryLoseNothing() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seed = dir + "/seed"
        // A big leftover: deep files every sample, at 0.1 s.
        let first = try Running(["--interval", "0.1", "--deep-every", "1", "--spool", seed, "--device-id", "rec"])
        defer { first.remove() }
        #expect(Harness.waitFor(20) { ((try? Harness.files(in: seed, suffix: ".zst.open")) ?? []).count == 1 })
        // Ten samples or more, however busy the machine (a sample reads every deep file).
        _ = Harness.waitFor(60) {
            guard let path = try? Harness.files(in: seed, suffix: ".zst.open").first else { return false }
            return ((try? Self.sampleCount(path)) ?? 0) >= 10
        }
        first.kill9()
        let open = try #require(try Harness.files(in: seed, suffix: ".zst.open").first)
        let name = (String(open.dropLast(".open".count)) as NSString).lastPathComponent
        let written = try Self.sampleCount(open)
        #expect(written >= 10, "only \(written) samples in the leftover")

        // How long an uninterrupted recovery takes, to spread the kills over it.
        let timing = dir + "/timing"
        try FileManager.default.copyItem(atPath: seed, toPath: timing)
        let t0 = Date()
        let whole = try Harness.fieldagent(["--interval", "10", "--duration", "0", "--spool", timing, "--device-id", "rec"])
        let recoverySeconds = Date().timeIntervalSince(t0)
        #expect(whole.stderr.contains("recovered \(name): \(written) samples"), "\(whole.stderr)")

        var rounds = 0
        for step in 0..<12 {
            let spool = dir + "/round\(step)"
            try FileManager.default.copyItem(atPath: seed, toPath: spool)
            for kill in 0..<2 {
                let delay = recoverySeconds * Double(step * 2 + kill + 1) / 25
                let agent = try Running(["--interval", "10", "--spool", spool, "--device-id", "rec"])
                usleep(useconds_t(delay * 1e6))
                agent.kill9()
                agent.remove()
            }
            let last = try Harness.fieldagent(["--interval", "10", "--duration", "0", "--spool", spool, "--device-id", "rec"])
            #expect(last.status == 0, "\(last.stderr)")
            let recovered = spool + "/" + name
            #expect(FileManager.default.fileExists(atPath: recovered), "round \(step): \(last.stderr)")
            if FileManager.default.fileExists(atPath: recovered) {
                #expect(try Self.sampleCount(recovered) == written, "round \(step): \(last.stderr)")
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: spool).filter {
                $0.hasSuffix(".open") || $0.hasSuffix(".crashed") || $0.hasSuffix(".recovering")
            }
            #expect(leftovers.allSatisfy { !$0.hasPrefix(name) }, "round \(step): \(leftovers)")
            rounds += 1
        }
        #expect(rounds == 12)
    }

    /// A watchdog that starts a second agent on the spool of one still running: the second must refuse with a
    /// clear message and leave the first's bundle alone (before, it "recovered" the live bundle and deleted it,
    /// and the first wrote on into a deleted file).
    @Test func aSecondAgentOnTheSpoolRefusesAndHarmsNothing() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try Running(["--interval", "0.1", "--spool", dir, "--device-id", "one"])
        defer { first.remove() }
        #expect(Harness.waitFor(20) { ((try? Harness.files(in: dir, suffix: ".zst.open")) ?? []).count == 1 })
        let open = try #require(try Harness.files(in: dir, suffix: ".zst.open").first)
        let second = try Harness.fieldagent(["--interval", "0.1", "--duration", "1", "--spool", dir, "--device-id", "one"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("is in use by fieldagent pid"), "\(second.stderr)")
        if !Harness.agentIsEmulated {
            #expect(second.stderr.contains("pid \(first.process.processIdentifier)"), "\(second.stderr)")
        }
        #expect(FileManager.default.fileExists(atPath: open), "the running agent's bundle was taken away")
        usleep(1_000_000)
        first.process.terminate()
        first.process.waitUntilExit()
        #expect(first.process.terminationStatus == 0, "\(first.stderr)")
        let closed = String(open.dropLast(".open".count))
        #expect(try Self.sampleCount(closed) >= 3)
        #expect(try Harness.files(in: dir, suffix: ".zst").count == 1)
    }

    /// A kill just after the quota dropped a bundle: the record of that loss must survive it (before, it lived in
    /// memory until the next bundle opened; 10 kills of 10 lost it).
    @Test func aKillRightAfterAQuotaDropKeepsTheLossRecord() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let agent = try Running([
            "--interval", "0.5", "--bundle-seconds", "1", "--bundle-bytes", "64K", "--spool-max-bytes", "96K",
            "--spool", dir, "--device-id", "drop",
        ])
        defer { agent.remove() }
        let dropped = Harness.waitFor(60) { agent.stderr.contains("dropped") }
        agent.kill9()
        try #require(dropped, "the quota never dropped: \(agent.stderr)")
        let line = try #require(agent.stderr.split(separator: "\n").first { $0.contains("dropped") })
        let names = line[line.range(of: "dropped ")!.upperBound...].split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        #expect(!names.isEmpty)
        let again = try Harness.fieldagent(["--interval", "0.5", "--duration", "0.4", "--spool", dir, "--device-id", "drop"])
        #expect(again.status == 0, "\(again.stderr)")
        var recorded: [String] = []
        for path in try Harness.files(in: dir, suffix: ".zst") {
            let r = try BundleReader(path: path)
            while let rec = r.next() {
                if rec.type == .loss { recorded += try RecordCodec.decodeLoss(rec.payload).names }
            }
        }
        for n in names { #expect(recorded.contains(n), "the drop of \(n) is on record nowhere: \(recorded)") }
    }

    /// Under lasting quota pressure the bundle that recorded a drop is dropped in turn: the records it held are
    /// carried into the next bundle, so every bundle ever dropped is still named by a loss record of a bundle the
    /// spool keeps (before, only the last drop's record survived; the older ones went with the bundles holding them).
    @Test func aChainOfQuotaDropsKeepsEveryRecord() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Harness.fieldagent([
            "--interval", "0.5", "--duration", "8", "--bundle-seconds", "1", "--bundle-bytes", "64K", "--spool-max-bytes", "96K",
            "--spool", dir, "--device-id", "chain",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let dropped = run.stderr.split(separator: "\n").filter { $0.contains("dropped") }.flatMap { line in
            line[line.range(of: "dropped ")!.upperBound...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        try #require(dropped.count >= 3, "too few drops for a chain: \(run.stderr)")
        var inBundles = Set<String>()
        for path in try Harness.files(in: dir, suffix: ".zst") {
            let r = try BundleReader(path: path)
            while let rec = r.next() {
                if rec.type == .loss { inBundles.formUnion(try RecordCodec.decodeLoss(rec.payload).names) }
            }
        }
        // The last drop may still wait for the next start's first bundle.
        let pending = (try? String(contentsOfFile: dir + "/pending-losses", encoding: .utf8)) ?? ""
        let recorded = inBundles.union(pending.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        let unrecorded = dropped.filter { !recorded.contains($0) }
        #expect(unrecorded.isEmpty, "\(unrecorded.count) of \(dropped.count) drops are on record nowhere: \(unrecorded)")
        // And analysis counts each once.
        let json = try Harness.fieldctl(["analyze", "--format", "json", dir])
        let doc = try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any]
        let missing = (doc?["missing"] as? [[String: Any]]) ?? []
        let quota = missing.first { $0["reason"] as? String == "spool-quota" }
        #expect(quota?["bundles"] as? Int == inBundles.count, "\(String(describing: quota)) for \(inBundles.count) names")
    }

    /// A FIFO where a proc file should be: the agent must neither hang on it (before: open blocked for ever, and
    /// neither --duration, SIGTERM nor SIGINT ended it) nor lose the other files.
    @Test func aFifoInTheProcTreeCostsThatFileOnly() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = dir + "/proc"
        for d in ["", "/7", "/7/task", "/7/task/7", "/7/fd"] {
            try FileManager.default.createDirectory(atPath: root + d, withIntermediateDirectories: true)
        }
        let files = [
            "/version": "Linux version 6.1.0 (test)\n", "/uptime": "100.00 200.00\n",
            "/loadavg": "0.10 0.20 0.30 1/100 7\n",
            "/7/stat": "7 (worker) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 1000 10\n",
            "/7/comm": "worker\n",
        ]
        for (p, text) in files { try text.write(toFile: root + p, atomically: false, encoding: .utf8) }
        for p in ["/meminfo", "/7/status"] { #expect(mkfifo(root + p, 0o644) == 0) }

        let t0 = Date()
        let run = try Harness.run(
            Harness.agentCommand[0],
            Array(Harness.agentCommand.dropFirst()) + [
                "--backend", "linux", "--proc-root", root, "--interval", "0.2", "--duration", "1", "--spool", dir + "/s",
            ], timeout: 30)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(Date().timeIntervalSince(t0) < 20)
        let bundle = try #require(try Harness.files(in: dir + "/s", suffix: ".zst").first)
        let r = try BundleReader(path: bundle)
        var decoder = SampleDecoder(window: 0)
        var samples: [Sample] = []
        while let rec = r.next() {
            if rec.type == .header { decoder = SampleDecoder(header: try RecordCodec.decodeHeader(rec.payload)) }
            if rec.type == .sample { samples.append(try decoder.decode(rec.payload)) }
        }
        let firstSample = try #require(samples.first)
        let meminfo = try #require(firstSample.files.first { $0.path == "/proc/meminfo" })
        #expect(meminfo.status == .error && meminfo.errno == EAGAIN)
        #expect(firstSample.files.contains { $0.path == "/proc/loadavg" && $0.status == .ok })
        #expect(firstSample.files.contains { $0.path == "/proc/7/stat" && $0.status == .ok })

        // And SIGTERM still stops it promptly.
        let agent = try Running(["--backend", "linux", "--proc-root", root, "--interval", "0.2", "--spool", dir + "/t"])
        defer { agent.remove() }
        usleep(600_000)
        agent.process.terminate()
        #expect(Harness.waitFor(10) { !agent.process.isRunning }, "SIGTERM did not stop the agent")
        if agent.process.isRunning { agent.kill9() }
    }

    /// A system whose deep sample passes the 64 MiB record limit (the campaign's: about 3,900 ordinary processes;
    /// here 170 processes with 460 KB maps each): before, each such sample was dropped whole and its bundle
    /// abandoned as `.open`, at every deep sample, recorded nowhere. Now every instant is written in parts and
    /// read back whole.
    @Test func aSampleAboveTheRecordLimitIsKeptWhole() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = dir + "/proc"
        let processes = 170
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "MemTotal: 1000 kB\nMemAvailable: 500 kB\n".write(toFile: root + "/meminfo", atomically: false, encoding: .utf8)
        // About 460 KB of maps per process, 78 MB per instant.
        let libraries = (0..<7000).map { m in
            String(format: "%08x-%08x r-xp 00000000 08:01 %d /usr/lib/libexample-%d.so\n", (m + 16) << 12, (m + 17) << 12, m, m)
        }.joined()
        for pid in 1...processes {
            let d = root + "/\(pid)"
            for sub in ["", "/task", "/task/\(pid)", "/fd"] {
                try FileManager.default.createDirectory(atPath: d + sub, withIntermediateDirectories: true)
            }
            try "\(pid) (w\(pid)) S 1 \(pid) \(pid) 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 1000 10\n"
                .write(toFile: d + "/stat", atomically: false, encoding: .utf8)
            try "Name:\tw\(pid)\nThreads:\t1\nVmRSS:\t100 kB\n".write(toFile: d + "/status", atomically: false, encoding: .utf8)
            try ("00001000-00002000 r--p 00000000 08:01 \(pid) /usr/bin/w\(pid)\n" + libraries)
                .write(toFile: d + "/maps", atomically: false, encoding: .utf8)
        }
        let run = try Harness.run(
            Harness.agentCommand[0],
            Array(Harness.agentCommand.dropFirst()) + [
                "--backend", "linux", "--proc-root", root, "--interval", "2", "--duration", "3", "--deep-every", "1",
                "--spool", dir + "/s", "--device-id", "big",
            ], timeout: 120)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.stderr.contains("record limit"), "\(run.stderr)")
        let spool = try FileManager.default.contentsOfDirectory(atPath: dir + "/s")
        #expect(!spool.contains { $0.hasSuffix(".open") || $0.hasSuffix(".crashed") }, "\(spool)")
        let bundles = try Harness.files(in: dir + "/s", suffix: ".zst")
        #expect(bundles.count == 1)
        var instants: [Sample] = []
        var records = 0
        for path in bundles {
            let r = try BundleReader(path: path)
            var decoder = SampleDecoder(window: 0)
            var parts = SampleAssembler()
            while let rec = r.next() {
                if rec.type == .header { decoder = SampleDecoder(header: try RecordCodec.decodeHeader(rec.payload)) }
                guard rec.type == .sample else { continue }
                records += 1
                #expect(rec.payload.count <= 64 << 20)
                if let whole = parts.add(try decoder.decode(rec.payload)) { instants.append(whole) }
            }
            #expect(r.isComplete, "\(path): \(String(describing: r.damage))")
            parts.finish()
            #expect(parts.incomplete == 0)
        }
        #expect(instants.count == 2, "\(instants.count) instants in \(records) records")
        #expect(records > instants.count)
        for s in instants {
            let maps = s.files.filter { $0.path.hasSuffix("/maps") }
            #expect(maps.count == processes && maps.allSatisfy { $0.status == .ok && !$0.truncated && $0.bytes.count > 390_000 })
        }
        // The summary counts instants, not records.
        let summary = try Harness.fieldctl(["decode", "--format", "summary", bundles[0]])
        #expect(summary.text.contains("instants      2 sampled instants"), "\(summary.text)")
        // Analysis sees every process of the split instants.
        let json = try Harness.fieldctl(["analyze", "--format", "json", dir + "/s"])
        #expect(json.status == 0, "\(json.stderr)")
    }
}

