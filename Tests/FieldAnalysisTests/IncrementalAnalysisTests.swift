import FieldAnalysis
import FieldBundle
import FieldModel
import FieldSoak
import Foundation
import Testing

/// A device's analysis carried from bundle to bundle (`DeviceAnalysisState`, what the collector's metrics keep in
/// the store) equals one analysis of all its bundles: the same findings, quotas and timeline, with the state
/// encoded and decoded between every two bundles as a restarted collector would read it.
@Suite struct IncrementalAnalysisTests {
    /// The scenario's samples as bundles of `perBundle` samples each, in `dir`.
    static func bundles(_ s: Scenario, perBundle: Int, in dir: String) throws -> [String] {
        let r = SoakRenderer(s)
        let runs = r.runs
        let h = r.header()
        var paths: [String] = []
        var i = 0
        while i < s.sampleCount {
            let header = BundleHeader(agent: "fieldsoak", backend: h.backend, osIdentity: [], deviceID: h.device,
                bootID: "soak-boot", wallNanos: h.wallNanos, monoNanos: 0, intervalNanos: h.intervalNanos, procRoot: "/proc",
                sequence: UInt64(paths.count), plan: [])
            let w = try BundleWriter(path: dir + "/" + String(format: "%@-%04d.zst", s.device, paths.count), header: header)
            for k in i..<min(s.sampleCount, i + perBundle) { try w.append(r.sample(k, runs: runs)) }
            paths.append(try w.close(reason: "rotation", wallNanos: 0, monoNanos: 0))
            i += perBundle
        }
        return paths
    }

    static func full(_ paths: [String]) throws -> DeviceTimeline {
        var b = TimelineBuilder()
        for p in paths { b.add(try BundleReader(path: p)) }
        b.finish()
        return try #require(b.devices.values.first)
    }

    static func incremental(_ paths: [String], device: String, batch: Int = 1) throws -> (DeviceTimeline, Int) {
        var state = DeviceAnalysisState(device: device)
        var largest = 0
        var i = 0
        while i < paths.count {
            let bytes = try state.encoded()
            largest = max(largest, bytes.count)
            state = try DeviceAnalysisState.decode(bytes)
            let names = paths.map { URL(fileURLWithPath: $0).lastPathComponent }
            let todo = Array(state.unfolded(names).prefix(batch))
            let dir = URL(fileURLWithPath: paths[0]).deletingLastPathComponent().path
            let failed = state.add(todo.map { (name: $0, path: dir + "/" + $0) }, priming: state.primingNames.map { dir + "/" + $0 })
            #expect(failed.isEmpty)
            i += todo.count
        }
        #expect(state.unfolded(paths.map { URL(fileURLWithPath: $0).lastPathComponent }).isEmpty)
        return (try #require(state.finished), largest)
    }

    /// What the reports say, as text that can be compared.
    static func verdict(_ d: DeviceTimeline) throws -> String {
        let a = Analyzer().analyze([d])
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(a.findings), as: UTF8.self) + "\n" + String(decoding: try e.encode(a.quotas), as: UTF8.self)
    }

    /// Per process, its history as JSON (the dictionary's order is not part of the comparison).
    static func histories(_ d: DeviceTimeline) throws -> [String: String] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var out: [String: String] = [:]
        for (k, p) in d.processes { out["\(k.pid)/\(k.startToken)"] = String(decoding: try e.encode(p), as: UTF8.self) }
        return out
    }

    @Test(arguments: ["leaks", "twins"])
    func bundleByBundleEqualsAllAtOnce(_ which: String) throws {
        let dir = NSTemporaryDirectory() + "incremental-\(which)-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Six hours at 20 s: the reservoirs fill and halve, short-lived workers are folded, deep files every 6.
        let s = which == "leaks" ? SoakTests.slowLeaks(hours: 6, interval: 20) : SoakTests.twins(hours: 6, interval: 20)
        let paths = try Self.bundles(s, perBundle: 90, in: dir)
        let all = try Self.full(paths)
        for batch in [1, 4] {
            let (one, largest) = try Self.incremental(paths, device: s.device, batch: batch)
            #expect(try Self.verdict(one) == Self.verdict(all), "batch \(batch)")
            let h1 = try Self.histories(one), h2 = try Self.histories(all)
            #expect(h1.keys.sorted() == h2.keys.sorted(), "batch \(batch)")
            for k in h1.keys.sorted() where h1[k] != h2[k] {
                let a: [UInt8] = Array(h1[k]!.utf8)
                let b: [UInt8] = Array((h2[k] ?? "").utf8)
                var at = 0
                while at < min(a.count, b.count) && a[at] == b[at] { at += 1 }
                Issue.record("batch \(batch) process \(k) differs at \(at): \(String(decoding: a[max(0, at - 150)..<min(a.count, at + 150)], as: UTF8.self)) VS \(String(decoding: b[max(0, at - 150)..<min(b.count, at + 150)], as: UTF8.self))")
                break
            }
            #expect(one.retired.mapValues(\.count) == all.retired.mapValues(\.count))
            #expect(one.sampleTimes == all.sampleTimes)
            #expect(one.bundles.map(\.path) == all.bundles.map(\.path))
            // Bounded: the state of a six-hour device stays small.
            #expect(largest < 4 << 20, "a state of \(largest) bytes")
            print("incremental \(which) batch \(batch): \(paths.count) bundles, largest state \(largest) bytes")
        }
        // The scenario's leaks are named (the comparison is not between two empty reports).
        if which == "leaks" { #expect(!Analyzer().analyze([all]).findings.isEmpty) }
    }

    @Test func aDamagedOrForeignStateIsRefusedWithAReason() throws {
        let state = DeviceAnalysisState(device: "d")
        var bytes = try state.encoded()
        #expect(try DeviceAnalysisState.decode(bytes).device == "d")
        bytes[bytes.count / 2] ^= 0xFF
        #expect(throws: AnalysisStateError.self) { try DeviceAnalysisState.decode(bytes) }
        #expect(throws: AnalysisStateError.self) { try DeviceAnalysisState.decode(Array("not zstd".utf8)) }
        // Another version is started afresh, with the reason.
        let other = try DeviceAnalysisState.encodedJSON(#"{"version": 99, "device": "d"}"#)
        do {
            _ = try DeviceAnalysisState.decode(other)
            Issue.record("a state of version 99 was accepted")
        } catch {
            #expect(error.message.contains("version 99"))
        }
    }
}

extension DeviceAnalysisState {
    /// `json` compressed as a state is stored (for states the current code would not write).
    static func encodedJSON(_ json: String) throws -> [UInt8] {
        let p = Pipe()
        let z = Process()
        z.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
        z.arguments = ["-q", "-c"]
        let input = Pipe()
        z.standardInput = input
        z.standardOutput = p
        try z.run()
        input.fileHandleForWriting.write(Data(json.utf8))
        try input.fileHandleForWriting.close()
        let out = p.fileHandleForReading.readDataToEndOfFile()
        z.waitUntilExit()
        return Array(out)
    }
}
