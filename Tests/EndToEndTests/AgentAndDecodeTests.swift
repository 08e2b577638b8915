import FieldBundle
import Foundation
import Testing

@Suite(.serialized) struct AgentAndDecodeTests {
    /// The real agent samples this machine's /proc into a closed bundle that zstd and fieldctl both accept.
    @Test func agentWritesADecodableBundleFromRealProc() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Harness.fieldagent(["--interval", "0.2", "--duration", "1.1", "--spool", dir, "--device-id", "e2e-host"])
        #expect(run.status == 0, "\(run.stderr)")
        let bundles = try Harness.files(in: dir, suffix: ".zst")
        #expect(bundles.count == 1)
        #expect(try Harness.files(in: dir, suffix: ".open").isEmpty)
        let bundle = try #require(bundles.first)
        #expect(try Harness.run("zstd", ["-tq", bundle]).status == 0)

        let decoded = try Harness.fieldctl(["decode", bundle])
        #expect(decoded.status == 0)
        let lines = decoded.text.split(separator: "\n").map(String.init)
        let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["record"] != nil }
        let types = records.compactMap { $0["type"] as? String }
        #expect(types.first == "header")
        #expect(types.last == "end")
        #expect(types.filter { $0 == "sample" }.count >= 5)
        let header = try #require(records.first?["payload"] as? [String: Any])
        #expect(header["device"] as? String == "e2e-host")
        #expect((header["os"] as? [String: Any])?["utf8"].map { "\($0)".hasPrefix("Linux version") } == true)

        // The first sample holds this machine's meminfo, and the status of the test process itself.
        let sample = try #require(records.first { $0["type"] as? String == "sample" }?["payload"] as? [String: Any])
        let files = try #require(sample["files"] as? [[String: Any]])
        let meminfo = try #require(files.first { $0["path"] as? String == "/proc/meminfo" })
        #expect(meminfo["status"] as? String == "ok")
        #expect(((meminfo["data"] as? [String: Any])?["utf8"] as? String)?.contains("MemTotal:") == true)
        let me = "/proc/\(getpid())/status"
        #expect(files.contains { $0["path"] as? String == me && $0["status"] as? String == "ok" })

        let summary = try Harness.fieldctl(["decode", "--format", "summary", bundle])
        #expect(summary.status == 0)
        #expect(summary.text.contains("intact, closed (shutdown)"))
        #expect(summary.text.contains("e2e-host"))
    }

    /// SIGTERM closes the bundle; kill -9 leaves a `.open` file that still holds every finished sample.
    @Test func sigtermClosesAndKillLeavesARecoverableOpenBundle() throws {
        for signal in [SIGTERM, SIGKILL] {
            let dir = try Harness.tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let p = Process()
            Harness.configureAgent(p, ["--interval", "0.1", "--spool", dir, "--device-id", "killed"])
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            // Wait until a few samples are on disk.
            #expect(Harness.waitFor(10) {
                guard let f = try? Harness.files(in: dir, suffix: ".open").first,
                      let r = try? BundleReader(path: f) else { return false }
                var n = 0
                while let rec = r.next() { if rec.type == .sample { n += 1 } }
                return n >= 3
            })
            let started = Date()
            kill(p.processIdentifier, signal)
            let exited = Harness.waitFor(5) { !p.isRunning }
            if !exited { kill(p.processIdentifier, SIGKILL) }
            #expect(exited, "the agent did not exit within 5 s of signal \(signal)")
            p.waitUntilExit()
            if signal == SIGTERM {
                #expect(p.terminationStatus == 0)
                #expect(Date().timeIntervalSince(started) < 2)
                let closed = try Harness.files(in: dir, suffix: ".zst")
                #expect(closed.count == 1)
                #expect(try Harness.fieldctl(["decode", "--format", "summary"] + closed).status == 0)
            } else {
                let open = try Harness.files(in: dir, suffix: ".zst.open")
                #expect(open.count == 1)
                let decoded = try Harness.fieldctl(["decode"] + open)
                #expect(decoded.status == 3, "an unclosed bundle 'ends early': \(decoded.stderr)")
                let samples = decoded.text.split(separator: "\n").filter { $0.contains("\"type\":\"sample\"") }
                #expect(samples.count >= 3)
                // Killed between samples the stream stops cleanly (incomplete); killed while a sample's output was
                // partly written, it stops inside that record (truncated). Either way nothing before it is lost.
                #expect(decoded.text.contains("\"kind\":\"incomplete\"") || decoded.text.contains("\"kind\":\"truncated\""))
            }
        }
    }

    @Test func decodeReportsUnreadableFilesAndBadUsage() throws {
        let missing = try Harness.fieldctl(["decode", "/nonexistent/bundle.zst"])
        #expect(missing.status == 5)
        #expect(missing.stderr.contains("/nonexistent/bundle.zst"))
        let usage = try Harness.fieldctl(["decode", "--format", "xml", "x.zst"])
        #expect(usage.status == 64)
        let help = try Harness.fieldctl(["decode", "--help"])
        #expect(help.status == 0)
        #expect(help.text.contains("jsonl"))
    }

    @Test func agentRejectsBadOptionsClearly() throws {
        let r = try Harness.fieldagent(["--interval", "0.01"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("at least 0.1"))
        let h = try Harness.fieldagent(["--help"])
        #expect(h.status == 0)
        #expect(h.text.contains("--proc-root"))
    }
}
