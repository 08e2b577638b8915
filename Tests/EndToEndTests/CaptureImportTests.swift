import Foundation
import Testing

/// tools/fieldcapture.sh under BusyBox sh and dash beside the leak workloads and the real agent: imported with
/// `fieldctl import`, its bundles get the verdicts the agent's bundles of the same seconds get. A capture cut
/// mid-sample and one rotated by its size bound import with the loss recorded.
@Suite(.serialized) struct CaptureImportTests {
    static let script = Harness.root + "/tools/fieldcapture.sh"

    /// Leak kinds by pid in `fieldctl analyze --format json DIR`.
    static func leaks(in dir: String) throws -> [Int: Set<String>] {
        let a = try Harness.fieldctl(["analyze", "--format", "json", dir])
        #expect(a.status == 0, "\(a.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: a.stdout) as? [String: Any])
        var out: [Int: Set<String>] = [:]
        let kinds: Set<String> = ["thread-leak.unjoined", "thread-leak.growing", "heap-leak", "anon-growth", "shm-leak", "fd-leak"]
        for f in try #require(doc["findings"] as? [[String: Any]]) {
            guard let pid = f["pid"] as? Int, let k = f["kind"] as? String, kinds.contains(k) else { continue }
            out[pid, default: []].insert(k)
        }
        return out
    }

    @Test(arguments: ["/usr/bin/busybox sh", "/usr/bin/dash"])
    func theCaptureGetsTheAgentsVerdicts(_ shell: String) throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // About 20 s of leaking, as long as both watch.
        let paced = ["--count", "100", "--interval-ms", "200", "--hold-seconds", "3"]
        let procs = try ["leak-fd", "leak-heap", "ok-steady"].map { try AccuracyMatrixTests.start($0, paced) }
        defer { for p in procs where p.isRunning { p.terminate() } }
        let pids = procs.flatMap { ["--pid", String($0.processIdentifier)] }
        let words = shell.split(separator: " ").map(String.init)
        let capture = try Background(
            words[0], Array(words.dropFirst()) + [Self.script, "--interval", "1", "--duration", "20", "--deep-every", "2",
                "--out", dir + "/capture.txt", "--device-id", "captured"] + pids, in: dir)
        let agent = try Harness.fieldagent(
            ["--interval", "1", "--duration", "20", "--deep-every", "2", "--spool", dir + "/spool", "--device-id", "agent"] + pids)
        #expect(agent.status == 0, "\(agent.stderr)")
        #expect(capture.stop(0, within: 30) == 0, "\(capture.stderr)")
        #expect(capture.stderr.contains("samples in \(dir)/capture.txt"), "\(capture.stderr)")

        let imported = try Harness.fieldctl(["import", dir + "/capture.txt", "--out", dir + "/imported"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.text.contains("samples of captured (boot "), "\(imported.text)")
        let fromCapture = try Self.leaks(in: dir + "/imported")
        let fromAgent = try Self.leaks(in: dir + "/spool")
        let (fd, heap, steady) = (Int(procs[0].processIdentifier), Int(procs[1].processIdentifier), Int(procs[2].processIdentifier))
        #expect(fromAgent[fd] == ["fd-leak"] && fromAgent[heap] == ["heap-leak"] && fromAgent[steady] == nil, "agent: \(fromAgent)")
        #expect(fromCapture == fromAgent, "capture \(fromCapture), agent \(fromAgent)")
    }

    @Test func aCutOrRotatedCaptureImportsWithTheLossRecorded() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["60"]
        try sleeper.run()
        defer { sleeper.terminate() }
        let pid = String(sleeper.processIdentifier)
        // One process, deep files only in the first sample, in 64 KiB: segments of 32 KiB rotate every few
        // samples, and from the second rotation on each new segment records the one it dropped.
        let run = try Harness.run(
            "/usr/bin/dash",
            [Self.script, "--interval", "1", "--duration", "12", "--deep-every", "1000", "--out", dir + "/c.txt",
             "--max-bytes", "65536", "--pid", pid, "--device-id", "rot"], timeout: 60)
        #expect(run.status == 0, "\(run.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names.contains("c.txt") && (names.contains("c.txt.1.gz") || names.contains("c.txt.1")), "\(names)")
        let text = try String(contentsOfFile: dir + "/c.txt", encoding: .isoLatin1)
        #expect(text.contains("#@field lost segment of samples "), "no rotation recorded: \(names)")
        // Older segment given last: import orders them by time.
        let old = names.contains("c.txt.1.gz") ? "c.txt.1.gz" : "c.txt.1"
        let rotated = try Harness.fieldctl(["import", dir + "/c.txt", dir + "/" + old, "--out", dir + "/rot"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let report = try Harness.fieldctl(["analyze", dir + "/rot"])
        #expect(report.text.contains("segment(s) of ") && report.text.contains("KiB of the capture rotated out on the device (capture-rotated)"), "\(report.text)")

        // Cut in the middle of a sample: every whole sample before it is imported, the cut one is on record.
        let whole = try Harness.run(
            "/usr/bin/dash", [Self.script, "--interval", "1", "--duration", "3", "--out", dir + "/w.txt", "--pid", pid, "--device-id", "rot"],
            timeout: 60)
        #expect(whole.status == 0, "\(whole.stderr)")
        try Harness.cutCopy(of: dir + "/w.txt", to: dir + "/cut.txt", afterLast: "#@field sample ", atEnd: true, offset: 40)
        let cut = try Harness.fieldctl(["import", dir + "/cut.txt", "--out", dir + "/cut"])
        #expect(cut.status == 0, "\(cut.stderr)")
        #expect(cut.stderr.contains("is left out: the capture ends inside it"), "\(cut.stderr)")
        let wtext = try String(contentsOfFile: dir + "/w.txt", encoding: .utf8)
        let samples = wtext.components(separatedBy: "#@field sample-end ").count - 2
        #expect(cut.text.contains("imported \(samples) samples of rot"), "\(cut.text) (\(samples) whole samples)")
        let cutReport = try Harness.fieldctl(["analyze", dir + "/cut"])
        #expect(cutReport.text.contains("1 sample(s) of the imported capture cut short and left out"), "\(cutReport.text)")
        // Into a directory that holds them already: refused, nothing overwritten.
        let again = try Harness.fieldctl(["import", dir + "/cut.txt", "--out", dir + "/cut"])
        #expect(again.status == 5 && again.stderr.contains("not overwritten"), "\(again.stderr)")
    }
}
