import Foundation
import Testing

/// The real agent samples every workload at once; analysis names each leak by kind and pid and flags no healthy
/// twin.
@Suite(.serialized) struct AccuracyMatrixTests {
    static let expected: [(workload: String, kind: String?)] = [
        ("leak-unjoined", "thread-leak.unjoined"), ("leak-unjoined-small", "thread-leak.unjoined"),
        ("leak-growing", "thread-leak.growing"), ("leak-heap", "heap-leak"), ("leak-anon", "anon-growth"),
        ("leak-shm", "shm-leak"), ("leak-fd", "fd-leak"),
        ("ok-joined", nil), ("ok-detached", nil), ("ok-pool", nil), ("ok-steady", nil),
    ]

    /// Starts every workload of the matrix (80 steps, 150 ms apart, then held 3 s: they leak through the agent's
    /// 8 s), by name.
    static func startWorkloads() throws -> [String: Process] {
        let bin = WorkloadCaptureTests.workloads
        var procs: [String: Process] = [:]
        for (w, _) in expected {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin + "/" + w)
            p.arguments = ["--count", "80", "--interval-ms", "150", "--hold-seconds", "3"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            procs[w] = p
        }
        return procs
    }

    @Test func everyLeakIsNamedAndNoHealthyWorkloadIsFlagged() throws {
        let procs = try Self.startWorkloads()
        defer { for p in procs.values where p.isRunning { p.terminate() } }
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Harness.fieldagent(["--interval", "0.5", "--duration", "8", "--spool", dir, "--match", "^(leak|ok)-", "--deep-every", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let analysis = try Harness.fieldctl(["analyze", "--format", "json", dir])
        #expect(analysis.status == 0, "\(analysis.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: analysis.stdout) as? [String: Any])
        let findings = try #require(doc["findings"] as? [[String: Any]])
        let leakKinds = Set(Self.expected.compactMap(\.kind))
        for (w, kind) in Self.expected {
            let pid = Int(procs[w]!.processIdentifier)
            let mine = findings.filter { ($0["pid"] as? Int) == pid }.compactMap { $0["kind"] as? String }.filter { leakKinds.contains($0) }
            if let k = kind {
                #expect(mine.contains(k), "\(w) (pid \(pid)): expected \(k), got \(mine)")
            } else {
                #expect(mine.isEmpty, "\(w) (pid \(pid)) is healthy but was flagged: \(mine)")
            }
        }
        // Nothing on this machine has run out of anything: an exhausted quota would be a false alarm.
        let exhausted = findings.filter { ($0["kind"] as? String) == "quota.exhausted" }.map { "\($0["process"] ?? "?"): \($0["summary"] ?? "")" }
        #expect(exhausted.isEmpty, "\(exhausted)")
        // The unjoined leak's thread slots include its never-joined stacks.
        let quotas = try #require(doc["quotas"] as? [[String: Any]])
        let unjoinedPID = Int(procs["leak-unjoined"]!.processIdentifier)
        let slots = quotas.first { ($0["pid"] as? Int) == unjoinedPID && ($0["resource"] as? String) == "thread" }
        #expect((slots?["used"] as? Double ?? 0) >= 30, "\(String(describing: slots))")
        // The HTML report: one file, a chart set for every flagged process.
        let html = dir + "/report.html"
        let h = try Harness.fieldctl(["analyze", "--format", "html", "--output", html, dir])
        #expect(h.status == 0)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("pid \(unjoinedPID) (leak-unjoined)"))
        #expect(page.components(separatedBy: "<svg").count - 1 >= 3 * 7)
        // Text and the CI gate.
        let gate = try Harness.fieldctl(["analyze", "--fail-on", "warning", dir])
        #expect(gate.status == 1)
        #expect(gate.text.contains("thread-leak.unjoined"))
    }
}
