import Foundation
import Testing

/// The real agent against the SylixOS procfs simulator (tools/sylixos-sim): detection, capture, and analysis that
/// forecasts the thread pool's exhaustion within 50 % of the simulator's true time, then finds it exhausted.
@Suite(.serialized) struct SylixOSSimulatorTests {
    func startSimulator(_ root: String, _ args: [String]) throws -> (Process, [String: Any]) {
        let out = root + ".out"
        FileManager.default.createFile(atPath: out, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Harness.root + "/tools/sylixos-sim/sylixos_sim.py", "--root", root] + args
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardError = FileHandle.nullDevice
        try p.run()
        var info: [String: Any]?
        _ = Harness.waitFor(10) {
            guard let d = FileManager.default.contents(atPath: out), let line = d.split(separator: 0x0A).first else { return false }
            info = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
            return info != nil && FileManager.default.fileExists(atPath: root + "/kernel/objects")
        }
        return (p, info ?? [:])
    }

    @Test func threadLeakIsForecastThenFoundExhausted() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = dir + "/proc"
        let (sim, info) = try startSimulator(root, ["--scenario", "thread-leak", "--thread-total", "60", "--leak-interval", "0.25", "--tick", "0.1", "--duration", "30"])
        defer { sim.terminate() }
        let trueExhaustion = try #require(info["exhaustion_epoch"] as? Double)

        // Before the pool runs dry: sample, analyze, compare the forecast with the truth.
        let run = try Harness.fieldagent(["--proc-root", root, "--interval", "0.5", "--duration", "4", "--spool", dir + "/a", "--device-id", "plc"])
        #expect(run.status == 0, "\(run.stderr)")
        let analysis = try Harness.fieldctl(["analyze", "--format", "json", dir + "/a"])
        let doc = try #require(try JSONSerialization.jsonObject(with: analysis.stdout) as? [String: Any])
        let quotas = try #require(doc["quotas"] as? [[String: Any]])
        let thread = try #require(quotas.first { ($0["os"] as? String) == "sylixos" && ($0["resource"] as? String) == "thread" })
        let eta = try #require(thread["eta_seconds"] as? Double)
        let now = Date().timeIntervalSince1970
        let predicted = now + eta - 0.5  // the last sample was taken just before the agent stopped
        let remaining = trueExhaustion - now
        #expect(remaining > 0, "the pool ran dry before the analysis; the test's timing is off")
        #expect(abs(predicted - trueExhaustion) <= 0.5 * max(remaining, 1), "forecast \(eta) s, truth \(remaining) s from now")

        // After it ran dry: max-used == total is exhausted.
        _ = Harness.waitFor(30) { Date().timeIntervalSince1970 > trueExhaustion + 0.5 }
        let after = try Harness.fieldagent(["--proc-root", root, "--interval", "0.5", "--duration", "1", "--spool", dir + "/b", "--device-id", "plc"])
        #expect(after.status == 0)
        let exhausted = try Harness.fieldctl(["analyze", "--format", "json", dir + "/b"])
        let doc2 = try #require(try JSONSerialization.jsonObject(with: exhausted.stdout) as? [String: Any])
        let findings = try #require(doc2["findings"] as? [[String: Any]])
        #expect(findings.contains { ($0["kind"] as? String) == "quota.exhausted" && (($0["summary"] as? String) ?? "").contains("thread") })
    }

    @Test func poolThatRanDryBeforeSamplingIsExhausted() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = dir + "/proc"
        let (sim, _) = try startSimulator(root, ["--scenario", "exhausted-before", "--tick", "0.1", "--duration", "10"])
        defer { sim.terminate() }
        let run = try Harness.fieldagent(["--backend", "auto", "--proc-root", root, "--interval", "0.3", "--duration", "1", "--spool", dir + "/s"])
        #expect(run.status == 0, "\(run.stderr)")
        let text = try Harness.fieldctl(["analyze", dir + "/s"]).text
        #expect(text.contains("(sylixos)"))
        #expect(text.contains("quota.exhausted"))
        #expect(text.contains("ran dry at least once (the OS's own peak"), "\(text)")
    }
}

extension SylixOSSimulatorTests {
    /// The same thread leak on Linux (real workload, real agent) and SylixOS (simulator, real agent), compared.
    @Test func compareLinuxAndSylixOS() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (sim, _) = try startSimulator(dir + "/proc", ["--scenario", "thread-leak", "--thread-total", "200", "--leak-interval", "0.1", "--tick", "0.1", "--duration", "20"])
        defer { sim.terminate() }
        let leak = Process()
        leak.executableURL = URL(fileURLWithPath: WorkloadCaptureTests.workloads + "/leak-growing")
        leak.arguments = ["--count", "60", "--interval-ms", "100", "--hold-seconds", "3"]
        leak.standardOutput = FileHandle.nullDevice
        leak.standardError = FileHandle.nullDevice
        try leak.run()
        defer { leak.terminate() }
        let linux = try Harness.fieldagent(["--interval", "0.5", "--duration", "4", "--spool", dir + "/linux", "--device-id", "board", "--pid", String(leak.processIdentifier)])
        let sylix = try Harness.fieldagent(["--proc-root", dir + "/proc", "--interval", "0.5", "--duration", "3", "--spool", dir + "/sylix", "--device-id", "plc"])
        #expect(linux.status == 0 && sylix.status == 0)
        let text = try Harness.fieldctl(["compare", dir + "/linux", dir + "/sylix"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.text.hasPrefix("first to run out of threads: plc (sylixos)"), "\(text.text)")
        #expect(text.text.contains("board (linux)"))
        let json = try Harness.fieldctl(["compare", "--format", "json", dir + "/linux", dir + "/sylix"])
        let rows = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [[String: Any]])
        for key in ["device", "os", "resource", "limit", "peak", "used", "eta_seconds", "binding"] {
            #expect(rows.allSatisfy { $0[key] != nil }, "rows lack \(key)")
        }
        #expect(Set(rows.compactMap { $0["os"] as? String }) == ["linux", "sylixos"])
    }
}
