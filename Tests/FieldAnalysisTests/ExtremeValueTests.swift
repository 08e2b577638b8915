import FieldAnalysis
import FieldBackends
import FieldBundle
import FieldModel
import FieldTestKit
import Foundation
import Testing

/// Captured numbers at the edges of every type (`UInt64.max`, 2^63, `Int64.min`, 40 digits, 1e308, inf, NaN,
/// negatives where the kernel prints unsigned) go through each backend's parsers and interpreter, the timeline, the
/// detectors and every report without stopping them: a value that cannot be used is skipped and counted.
@Suite(.serialized) struct ExtremeValueTests {
    static func header(_ backend: String, _ device: String, interval: UInt64 = 1_000_000_000) -> BundleHeader {
        BundleHeader(agent: "t", backend: backend, osIdentity: [], deviceID: device, bootID: "b", wallNanos: 0, monoNanos: 0,
            intervalNanos: interval, procRoot: "/proc", sequence: 0, plan: [])
    }

    /// A ToyOS sample whose pools and task carry extremes as Swift's `Double` parser reads them (inf, nan, 1e308).
    static func toy(_ i: Int, _ x: inout ExtremeCaptures) -> [FileCapture] {
        let n = UInt64(i)
        let pools = "thread \(x.value(64)) \(x.value(10 + n)) \(x.value(12 + n))\nmailbox \(x.value(400)) \(x.value(100 + 2 * n)) \(x.value(100 + 2 * n))\n"
        return [FileCapture(path: "/proc/toy/pools", bytes: Array(pools.utf8)),
                FileCapture(path: "/proc/7/toytask", bytes: Array("logger \(x.value(3 + n)) \(x.value(1_000_000 + 65536 * n))\n".utf8))]
    }

    /// Bundles of each backend under `dir`: 40 samples a second apart, Linux with kernel log lines; one more
    /// Linux bundle with extreme clocks and interval.
    static func bundles(_ dir: String, seed: UInt64, percent: UInt64) throws -> [String] {
        var x = ExtremeCaptures(seed: seed, percent: percent)
        var paths: [String] = []
        for backend in ["linux", "sylixos", "toyos"] {
            let w = try BundleWriter(path: dir + "/\(backend)-\(seed).zst", header: header(backend, "\(backend)-board"))
            for i in 0..<40 {
                let files: [FileCapture]
                switch backend {
                case "linux": files = x.linux(i, pids: [100, 200])
                case "sylixos": files = x.sylixos(i, pids: [3, 4])
                default: files = toy(i, &x)
                }
                let wall = 1_700_000_000_000_000_000 + Int64(i) * 1_000_000_000
                try w.append(Sample(sequence: UInt64(i), wallNanos: wall, monoNanos: UInt64(i), files: files))
                if backend == "linux" && i % 8 == 7 {
                    try w.append(EventBatch(wallNanos: wall, monoNanos: UInt64(i), source: "/dev/kmsg", lines: x.kernelLog(i)))
                }
            }
            paths.append(try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0))
        }
        // Clocks at the ends of their types: samples at Int64.min, 0 and Int64.max, an interval of UInt64.max.
        let w = try BundleWriter(path: dir + "/clocks-\(seed).zst", header: header("linux", "clock-board", interval: .max))
        for (i, wall) in [Int64.min, Int64.min + 1, -1, 0, 1, Int64.max / 2, Int64.max - 1, Int64.max].enumerated() {
            try w.append(Sample(sequence: UInt64(i), wallNanos: wall, monoNanos: .max, files: x.linux(i, pids: [100])))
        }
        paths.append(try w.close(reason: "shutdown", wallNanos: .max, monoNanos: .max))
        return paths
    }

    /// Everything `analyze` and `compare` render, for the bundles at `paths`.
    static func analyzeEverything(_ paths: [String]) throws -> (devices: [DeviceTimeline], text: String, json: String, html: String, compare: String) {
        var b = TimelineBuilder(backends: BackendRegistry.all + [ToyBackend()])
        for p in paths { b.add(try BundleReader(path: p)) }
        b.finish()
        let devices = Array(b.devices.values)
        let (findings, quotas) = Analyzer(horizonSeconds: 168 * 3600).analyze(devices)
        let text = Report.text(findings: findings, quotas: quotas, devices: devices, colour: false)
        let json = try Report.json(findings: findings, quotas: quotas, devices: devices)
        let html = HTMLReport.render(findings: findings, quotas: quotas, devices: devices)
        let rows = Comparison.rows(quotas)
        let compare = Comparison.text(rows) + Report.notes(devices).joined(separator: "\n")
        _ = try Report.encoder().encode(rows)
        return (devices, text, json, html, compare)
    }

    /// Random extremes in 30 % of the fields (and in every field, and in a few): nothing traps, every device says
    /// what it left out, and the JSON document stays valid.
    @Test(arguments: [(1, 30), (2, 30), (3, 30), (4, 30), (5, 30), (6, 100), (7, 100), (8, 3)] as [(UInt64, UInt64)])
    func extremeValuesNeverStopTheAnalysis(seed: UInt64, percent: UInt64) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("field-extreme-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Self.analyzeEverything(try Self.bundles(dir, seed: seed, percent: percent))
        #expect(r.devices.count == 4)
        for d in r.devices {
            #expect(!d.skipped.isEmpty, "\(d.device) left nothing out")
            #expect(r.text.contains("device \(d.device) ") && r.html.contains(d.device))
        }
        #expect(r.text.contains("could not be used and were left out"))
        #expect(r.compare.contains("could not be used"))
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as? [String: Any])
        let skipped = try #require(doc["skipped"] as? [[String: Any]])
        #expect(Set(skipped.compactMap { $0["device"] as? String }) == Set(r.devices.map(\.device)))
        #expect(skipped.allSatisfy { ($0["count"] as? Int ?? 0) > 0 && $0["file"] is String && $0["example_text"] is String })
    }

    /// Each kind of value the Linux backend cannot use, in its field: the report names the field and the value.
    @Test func eachUnusableLinuxValueIsNamed() throws {
        let cases: [(path: String, text: String, field: String, shown: String)] = [
            ("/proc/100/status", "Name:\tw\nThreads:\t9223372036854775808\nVmRSS:\t100 kB\n", "Threads", "9223372036854775808"),
            ("/proc/100/status", "Name:\tw\nThreads:\t3\nVmRSS:\t18446744073709551615 kB\n", "VmRSS", "18446744073709551615 kB"),
            ("/proc/100/status", "Name:\tw\nThreads:\t-1\nVmRSS:\t1e308 kB\n", "VmRSS", "1e308 kB"),
            ("/proc/meminfo", "MemTotal: 1234567890123456789012345678901234567890 kB\n", "line", "1234567890123456789012345678901234567890"),
            ("/proc/meminfo", "MemTotal: 9223372036854775807 kB\n", "line", "9223372036854775807 kB"),
            ("/proc/sys/kernel/threads-max", "4294967296\n", "value", "4294967296"),
            ("/proc/sys/kernel/pid_max", "nan\n", "value", "nan"),
            ("/proc/sys/vm/max_map_count", "-1\n", "value", "-1"),
            ("/proc/loadavg", "0.00 0.00 0.00 1/inf 12\n", "line", "1/inf"),
            ("/proc/sys/fs/file-nr", "18446744073709551616\t0\t100\n", "line", "18446744073709551616"),
            ("/proc/slabinfo", "kmalloc-64 18446744073709551615 18446744073709551615 64 64 1\n", "kmalloc-64 active_objs * objsize", "18446744073709551615 * 64"),
            ("/proc/100/limits", "Max open files            -5                   4096                 files     \n", "line", "-5"),
            ("/proc/100/maps", "0-ffffffffffffffff rw-p 00000000 00:00 0 \n0-ffffffffffffffff rw-p 00000000 00:00 0 \n", "mapping sizes", "2^64"),
            ("/proc/100/maps", "10000000000000000-20000000000000000 rw-p 00000000 00:00 0 \n", "line", "10000000000000000"),
        ]
        for c in cases {
            var files = [FileCapture(path: "/proc/100/stat", bytes: Array("100 (w) S 1 100 100 0 -1 0 0 0 0 0 1 1 0 0 20 0 3 0 1000 8000000 200 0\n".utf8))]
            if c.path != "/proc/100/stat" { files.append(FileCapture(path: c.path, bytes: Array(c.text.utf8))) }
            var b = TimelineBuilder()
            for i in 0..<3 { b.add(sample: Sample(sequence: UInt64(i), wallNanos: Int64(i) * 1_000_000_000, monoNanos: 0, files: files), header: Self.header("linux", "d")) }
            let d = try #require(b.devices["d"])
            let kind = d.skipped.kinds.first { $0.field == c.field }
            #expect(kind?.count == 3 && kind?.exampleText.contains(c.shown) == true, "\(c.path) \(c.field): \(d.skipped.kinds)")
            let text = Report.text(findings: [], quotas: [], devices: [d], colour: false)
            #expect(text.contains(c.shown), "\(c.path): \(text)")
        }
    }
}
