import Foundation
import Testing

/// Hand-made soak logs, written by the kind of shell loop engineers already run, beside the leak workloads and
/// their healthy twins: `fieldctl import` reads each style, and analyze names the workloads' leaks and nothing in
/// the twins. A log cut mid-file, and one with a file missing in some iterations and a pause, import with the
/// loss and the gap reported.
@Suite(.serialized) struct HandLogImportTests {
    /// The three styles of loop, for `sh -c` with the pids as $1 (heap leak), $2 (growing threads), $3 and $4
    /// (twins: steady, a cache that warms up then stays); each runs `n` iterations one second apart.
    static func loops(_ n: Int, in dir: String) -> [String: String] {
        [
            // cat only, no times: the interval is given at import.
            "cat": """
                i=0; while [ $i -lt \(n) ]; do cat /proc/meminfo
                for p in "$@"; do cat /proc/$p/status; cat /proc/$p/maps; done
                cat /proc/slabinfo; sleep 1; i=$((i+1)); done >> "\(dir)/cat.log"
                """,
            // A date first in each iteration, the files in one cat.
            "date": """
                i=0; while [ $i -lt \(n) ]; do date; cat /proc/meminfo /proc/loadavg
                for p in "$@"; do cat /proc/$p/status /proc/$p/maps; done
                sleep 1; i=$((i+1)); done >> "\(dir)/date.log"
                """,
            // top, free and status, as in a burn-in watched by eye.
            "top": """
                i=0; while [ $i -lt \(n) ]; do top -b -n 1 | head -60; free
                for p in "$@"; do cat /proc/$p/status; done
                sleep 1; i=$((i+1)); done >> "\(dir)/top.log"
                """,
        ]
    }

    /// The leak kinds analyze gives each pid of a directory's bundles.
    static func leaks(in dir: String) throws -> [Int: Set<String>] {
        let a = try Harness.fieldctl(["analyze", "--format", "json", dir])
        #expect(a.status == 0 || a.status == 1 || a.status == 2, "\(a.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: a.stdout) as? [String: Any])
        var out: [Int: Set<String>] = [:]
        for f in try #require(doc["findings"] as? [[String: Any]]) {
            guard let pid = f["pid"] as? Int, let k = f["kind"] as? String, !k.hasPrefix("quota.") else { continue }
            out[pid, default: []].insert(k)
        }
        return out
    }

    static func startWorkloads() throws -> [Process] {
        // Leaking (or warm) for the whole of the loops' 25 s, and past it.
        let paced = ["--count", "200", "--interval-ms", "200", "--hold-seconds", "5"]
        let procs = try ["leak-heap", "leak-growing", "ok-steady", "ok-cache"].map { try AccuracyMatrixTests.start($0, paced) }
        Thread.sleep(forTimeInterval: 0.3)
        return procs
    }

    @Test func threeHandMadeStylesGetTheWorkloadsLeaks() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let procs = try Self.startWorkloads()
        defer { for p in procs where p.isRunning { p.terminate() } }
        let pids = procs.map { String($0.processIdentifier) }
        let loops = try Self.loops(25, in: dir).map { name, script in
            (name, try Background("/bin/sh", ["-c", script, "sh"] + pids, in: dir))
        }
        for (name, loop) in loops { #expect(loop.stop(0, within: 90) == 0, "\(name): \(loop.stderr)") }
        let (heap, growing, steady, cache) = (Int(pids[0])!, Int(pids[1])!, Int(pids[2])!, Int(pids[3])!)
        let allRunning = procs.allSatisfy { $0.isRunning }
        #expect(allRunning, "a workload ended before the loops")

        // No times in it: --interval says how far apart the iterations are.
        let noInterval = try Harness.fieldctl(["import", dir + "/cat.log", "--out", dir + "/refused"])
        #expect(noInterval.status == 64 && noInterval.stderr.contains("give --interval"), "\(noInterval.stderr)")
        let cat = try Harness.fieldctl(["import", dir + "/cat.log", "--out", dir + "/cat", "--interval", "1", "--device-id", "cat"])
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(cat.text.contains("imported 25 samples of cat"), "\(cat.text) \(cat.stderr)")
        #expect(cat.stderr.contains("no times in it") && cat.stderr.contains("placed at the file's modification time"), "\(cat.stderr)")

        let date = try Harness.fieldctl(["import", dir + "/date.log", "--out", dir + "/date"])
        #expect(date.status == 0, "\(date.stderr)")
        #expect(date.text.contains("imported 25 samples of date"), "\(date.text) \(date.stderr)")
        #expect(date.stderr.contains("marked by date lines (each starts one)") && date.stderr.contains("interval 1 s (inferred)"), "\(date.stderr)")

        let top = try Harness.fieldctl(["import", dir + "/top.log", "--out", dir + "/top"])
        #expect(top.status == 0, "\(top.stderr)")
        #expect(top.text.contains("imported 25 samples of top"), "\(top.text) \(top.stderr)")
        #expect(top.stderr.contains("marked by top's clock"), "\(top.stderr)")

        // With maps (cat, date): the heap by name; with top and status only: resident memory, said to be unsplit.
        for (name, heapKind) in [("cat", "heap-leak"), ("date", "heap-leak"), ("top", "rss-growth")] {
            let found = try Self.leaks(in: dir + "/" + name)
            #expect(found[heap] == [heapKind], "\(name): \(found)")
            #expect(found[growing] == ["thread-leak.growing"], "\(name): \(found)")
            #expect(found[steady] == nil && found[cache] == nil, "\(name): a healthy twin flagged: \(found)")
        }
        let report = try Harness.fieldctl(["analyze", dir + "/top"])
        #expect(report.text.contains("no memory map of this process was captured"), "\(report.text)")
    }

    @Test func aCutLogAndAMissingFileImportWithTheGapReported() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let procs = try Self.startWorkloads()
        defer { for p in procs where p.isRunning { p.terminate() } }
        let pids = procs.prefix(2).map { String($0.processIdentifier) }
        // meminfo left out of every fourth iteration, and a pause of 6 s after the eighth.
        let script = """
            i=0; while [ $i -lt 16 ]; do date -u '+%Y-%m-%d %H:%M:%S'
            if [ $((i % 4)) -ne 3 ]; then cat /proc/meminfo; fi
            for p in "$@"; do cat /proc/$p/status /proc/$p/maps; done
            [ $i -eq 8 ] && sleep 6; sleep 1; i=$((i+1)); done >> "\(dir)/gaps.log"
            """
        let run = try Harness.run("/bin/sh", ["-c", script, "sh"] + pids, timeout: 90, in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let imported = try Harness.fieldctl(["import", dir + "/gaps.log", "--out", dir + "/gaps"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.text.contains("imported 16 samples of gaps"), "\(imported.text)")
        #expect(imported.stderr.contains("/proc/meminfo is absent from 4 iteration(s)"), "\(imported.stderr)")
        let report = try Harness.fieldctl(["analyze", dir + "/gaps"])
        #expect(report.text.contains("4 run(s) of iterations of the imported log without one of its files (log-file-missing): /proc/meminfo from "),
                "\(report.text)")
        #expect(report.text.contains("1 gap(s) in the sampling"), "\(report.text)")

        // Cut inside the last iteration's last maps, mid-line: every whole iteration before it is imported.
        try Harness.cutCopy(of: dir + "/gaps.log", to: dir + "/cut.log", afterLast: "[heap]", offset: 3)
        let cut = try Harness.fieldctl(["import", dir + "/cut.log", "--out", dir + "/cut"])
        #expect(cut.status == 0, "\(cut.stderr)")
        #expect(cut.text.contains("imported 15 samples of cut"), "\(cut.text)")
        #expect(cut.stderr.contains("is left out: the log ends inside it (cut mid-file)"), "\(cut.stderr)")
        let cutReport = try Harness.fieldctl(["analyze", dir + "/cut"])
        #expect(cutReport.text.contains("1 sample(s) of the imported capture cut short and left out"), "\(cutReport.text)")

        // Nothing recognisable: refused with the reason, nothing written.
        try "hello\nworld\n".write(toFile: dir + "/junk.log", atomically: true, encoding: .utf8)
        let junk = try Harness.fieldctl(["import", dir + "/junk.log", "--out", dir + "/junk"])
        #expect(junk.status == 1 && junk.stderr.contains("neither a capture"), "\(junk.stderr)")
    }
}
