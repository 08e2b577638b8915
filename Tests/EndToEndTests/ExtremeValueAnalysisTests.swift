import FieldBundle
import FieldModel
import FieldTestKit
import Foundation
import Testing

/// Captured files with numbers at the edges of every type (u64 max and one more, 2^63, i64 min, 40 digits, 1e308,
/// inf, NaN, negatives where the kernel prints unsigned) through the real `fieldctl analyze` and `compare`, and
/// through the real agent: the normal exit code, no trap, and the values that could not be used are named.
@Suite(.serialized) struct ExtremeValueAnalysisTests {
    static func header(_ backend: String, _ device: String) -> BundleHeader {
        BundleHeader(agent: "t", backend: backend, osIdentity: [], deviceID: device, bootID: "b", wallNanos: 0, monoNanos: 0,
            intervalNanos: 1_000_000_000, procRoot: "/proc", sequence: 0, plan: [])
    }

    /// One bundle per backend: 30 samples with random extremes in `percent` % of the fields, then five samples whose
    /// resident size is `VmRSS: 18446744073709551615 kB` (Linux) or whose pool total is `-9223372036854775808`
    /// (SylixOS), values every report must name (with `percent` 0, the first values of their kinds).
    static func writeBundles(_ dir: String, name: String, seed: UInt64, percent: UInt64) throws {
        var x = ExtremeCaptures(seed: seed, percent: percent)
        for backend in ["linux", "sylixos"] {
            let w = try BundleWriter(path: dir + "/\(backend)-\(name).zst", header: header(backend, "\(backend)-\(name)"))
            for i in 0..<35 {
                var files = backend == "linux" ? x.linux(i, pids: [100, 200]) : x.sylixos(i, pids: [3, 4])
                if i >= 30 {
                    files = files.map { f in
                        if f.path == "/proc/100/status" {
                            return FileCapture(path: f.path, bytes: Array("Name:\tw\nThreads:\t3\nVmRSS:\t18446744073709551615 kB\n".utf8))
                        }
                        if f.path == "/proc/kernel/objects" {
                            return FileCapture(path: f.path, bytes: Array("object      total    used     max-used\nthread      -9223372036854775808 20 21\n".utf8))
                        }
                        return f
                    }
                }
                let wall = 1_700_000_000_000_000_000 + Int64(i) * 1_000_000_000
                try w.append(Sample(sequence: UInt64(i), wallNanos: wall, monoNanos: UInt64(i), files: files))
                if backend == "linux" && i % 5 == 4 {
                    try w.append(EventBatch(wallNanos: wall, monoNanos: UInt64(i), source: "/dev/kmsg", lines: x.kernelLog(i)))
                }
            }
            try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        }
    }

    /// A run ended by a signal reports it as its status on Linux (SIGILL is 4); a normal exit here is 0 or 1.
    func expectNormalExit(_ r: Harness.Result, _ what: String, allowed: Set<Int32> = [0]) {
        #expect(allowed.contains(r.status), "\(what) exited with \(r.status): \(r.stderr.prefix(2000))")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Crash"), "\(what): \(r.stderr.prefix(2000))")
    }

    @Test func analyzeAndCompareNameTheValuesTheyLeaveOut() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (seed, percent) in [(1, 40), (2, 100), (3, 5)] as [(UInt64, UInt64)] {
            try Self.writeBundles(dir, name: "\(seed)", seed: seed, percent: percent)
        }
        try Self.writeBundles(dir, name: "fixed", seed: 4, percent: 0)
        // Clocks and interval at the ends of their types.
        var x = ExtremeCaptures(seed: 5, percent: 50)
        var h = Self.header("linux", "clock-board")
        h.intervalNanos = .max
        let w = try BundleWriter(path: dir + "/clocks.zst", header: h)
        for (i, wall) in [Int64.min, Int64.min + 1, -1, 0, 1, Int64.max / 2, Int64.max - 1, Int64.max].enumerated() {
            try w.append(Sample(sequence: UInt64(i), wallNanos: wall, monoNanos: .max, files: x.linux(i, pids: [100])))
        }
        try w.close(reason: "shutdown", wallNanos: .max, monoNanos: .max)
        let bundles = try Harness.files(in: dir, suffix: ".zst")
        expectNormalExit(try Harness.fieldctl(["decode", "--format", "summary"] + bundles), "decode --format summary")
        expectNormalExit(try Harness.fieldctl(["decode"] + bundles), "decode")

        let text = try Harness.fieldctl(["analyze", dir])
        expectNormalExit(text, "analyze")
        #expect(text.text.contains("could not be used and were left out"))
        #expect(text.text.contains("/proc/PID/status VmRSS") && text.text.contains("18446744073709551615 kB"), "\(text.text.prefix(3000))")
        #expect(text.text.contains("/proc/kernel/objects line") && text.text.contains("-9223372036854775808"))
        let gate = try Harness.fieldctl(["analyze", "--fail-on", "warning", dir])
        expectNormalExit(gate, "analyze --fail-on", allowed: [0, 1])

        let json = try Harness.fieldctl(["analyze", "--format", "json", dir])
        expectNormalExit(json, "analyze --format json")
        let doc = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        let skipped = try #require(doc["skipped"] as? [[String: Any]])
        #expect(Set(skipped.compactMap { $0["device"] as? String }) == ["clock-board", "linux-1", "linux-2", "linux-3", "linux-fixed", "sylixos-1", "sylixos-2", "sylixos-3", "sylixos-fixed"])
        #expect(skipped.contains { ($0["field"] as? String) == "VmRSS" && ($0["file"] as? String) == "/proc/PID/status" })
        #expect(doc["findings"] is [Any] && doc["quotas"] is [Any] && doc["damaged"] is [Any])

        let html = try Harness.fieldctl(["analyze", "--format", "html", dir])
        expectNormalExit(html, "analyze --format html")
        #expect(html.text.contains("18446744073709551615 kB"))

        let compare = try Harness.fieldctl(["compare", dir])
        expectNormalExit(compare, "compare")
        #expect(compare.text.contains("could not be used"), "\(compare.text.prefix(3000))")
        let compareJSON = try Harness.fieldctl(["compare", "--format", "json", dir])
        expectNormalExit(compareJSON, "compare --format json")
        #expect(try JSONSerialization.jsonObject(with: compareJSON.stdout) is [Any])
        #expect(compareJSON.stderr.contains("could not be used"))
    }

    /// A fixture tree from the same generator, as files (directory captures become directories of entries).
    static func tree(_ files: [FileCapture], version: String) throws -> FixtureTree {
        var content: [String: String] = ["version": version]
        for f in files where f.path.hasPrefix("/proc/") {
            let rel = String(f.path.dropFirst(6))
            let text = String(decoding: f.bytes, as: UTF8.self)
            if f.kind == .directory {
                for name in text.split(separator: "\n") where content[rel + "/" + name] == nil && !rel.hasSuffix("task") { content[rel + "/" + name] = "" }
            } else {
                content[rel] = text
            }
        }
        return try FixtureTree(content)
    }

    /// The agent samples fixture trees full of extremes without trapping (its parsers are the backends'), and the
    /// analysis of what it wrote names what it left out.
    @Test func theAgentSamplesExtremeTreesAndTheAnalysisNamesWhatItLeftOut() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var x = ExtremeCaptures(seed: 9, percent: 100)
        let linux = try Self.tree(x.linux(3, pids: [100]), version: "Linux version 6.1.0 (fixture)\n")
        let sylix = try Self.tree(x.sylixos(3, pids: [3]), version: "SylixOS kernel version: 2.3.8 Code name: Enterprise\n")
        defer { linux.remove(); sylix.remove() }
        for (tree, backend) in [(linux, "linux"), (sylix, "sylixos")] {
            let run = try Harness.fieldagent(["--backend", backend, "--proc-root", tree.root, "--interval", "0.2", "--duration", "1",
                                              "--spool", dir + "/" + backend, "--device-id", "fixture-" + backend])
            expectNormalExit(run, "fieldagent on the \(backend) tree")
            let analysis = try Harness.fieldctl(["analyze", dir + "/" + backend])
            expectNormalExit(analysis, "analyze of the \(backend) agent's bundles")
            #expect(analysis.text.contains("could not be used"), "\(backend): \(analysis.text.prefix(2000))")
        }
        let compare = try Harness.fieldctl(["compare", dir])
        expectNormalExit(compare, "compare of both agents' bundles")
    }
}
