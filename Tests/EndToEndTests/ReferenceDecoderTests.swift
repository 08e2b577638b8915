import FieldBundle
import FieldModel
import Foundation
import Testing

/// The Python reference decoder (tools/fieldbundle.py, written from docs/bundle-format.md) and `fieldctl decode`
/// must print the same bytes and exit the same way, on intact and damaged bundles alike.
@Suite(.serialized) struct ReferenceDecoderTests {
    static let python = "python3"

    func compare(_ paths: [String], _ label: String, options: [String] = []) throws {
        let swift = try Harness.fieldctl(["decode", "--format", "jsonl"] + options + paths)
        let py = try Harness.run(Self.python, [Harness.root + "/tools/fieldbundle.py"] + options + paths)
        #expect(py.stderr.isEmpty || !py.stderr.contains("Traceback"), "python failed on \(label): \(py.stderr)")
        #expect(swift.stdout == py.stdout, "\(label): outputs differ\n\(firstDifference(swift.text, py.text))")
        #expect(swift.status == py.status, "\(label): exit \(swift.status) vs \(py.status)")
    }

    func firstDifference(_ a: String, _ b: String) -> String {
        let la = a.split(separator: "\n", omittingEmptySubsequences: false)
        let lb = b.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(la.count, lb.count) {
            let x = i < la.count ? String(la[i].prefix(300)) : "<none>"
            let y = i < lb.count ? String(lb[i].prefix(300)) : "<none>"
            if x != y { return "line \(i + 1):\n swift:  \(x)\n python: \(y)" }
        }
        return "(same lines; lengths \(a.utf8.count) vs \(b.utf8.count))"
    }

    @Test func pythonModulesAreInstalled() throws {
        let r = try Harness.run(Self.python, ["-c", "import cbor2, zstandard, crc32c"])
        #expect(r.status == 0, "install them: pip install cbor2 zstandard crc32c (\(r.stderr))")
    }

    /// The decoder's two CRC-32C paths (the `crc32c` package in C, the table loop without it) agree, at every
    /// length up to 300 bytes and on the standard check value.
    @Test func bothChecksumPathsOfThePythonDecoderAgree() throws {
        let script = """
            import os, sys
            sys.path.insert(0, "\(Harness.root)/tools")
            import fieldbundle as f
            assert f._crc32c_native is not None, "crc32c package missing"
            assert f._crc32c_python(b"123456789") == 0xE3069283 == f._crc32c_native(b"123456789")
            data = os.urandom(300)
            for n in range(301):
                assert f._crc32c_python(data[:n]) == f._crc32c_native(data[:n]), n
            """
        let r = try Harness.run(Self.python, ["-c", script])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func intactAndDamagedBundlesDecodeIdentically() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A real bundle from this machine, plus one with awkward content written through the library. Long enough for
        // several samples (entries stored as references need a second one) when the first takes 0.4 s on a busy machine.
        let run = try Harness.fieldagent(["--interval", "0.1", "--duration", "1.5", "--spool", dir, "--device-id", "ref"])
        #expect(run.status == 0, "\(run.stderr)")
        let real = try #require(try Harness.files(in: dir, suffix: ".zst").first)
        let awkward = try writeAwkwardBundle(dir + "/awkward.zst")
        try compare([real], "real bundle")
        try compare([awkward], "awkward bundle")
        try compare([real, awkward], "two bundles at once")
        // Format 1.1: entries stored as "same" print as stored, or with --resolve as the capture they refer to.
        for path in [real, awkward] {
            let raw = try Harness.fieldctl(["decode", path]).text
            #expect(raw.contains("\"status\":\"same\""), "\(path) has entries stored as references")
            let resolved = try Harness.fieldctl(["decode", "--resolve", path]).text
            #expect(!resolved.contains("\"status\":\"same\""), "\(path): every reference resolves")
        }
        try compare([real, awkward], "two bundles, resolved", options: ["--resolve"])

        let bytes = try Data(contentsOf: URL(fileURLWithPath: awkward))
        var cases: [(String, Data)] = [("empty", Data()), ("garbage", Data("not a bundle\n".utf8))]
        for cut in [1, 7, bytes.count / 3, bytes.count / 2, bytes.count - 5, bytes.count - 1] {
            cases.append(("cut-\(cut)", bytes.prefix(cut)))
        }
        var rng = SystemRandomNumberGenerator()
        var positions = [20, bytes.count / 2, bytes.count - 2]
        for _ in 0..<12 { positions.append(Int.random(in: 0..<bytes.count, using: &rng)) }
        for pos in positions {
            var d = bytes
            d[pos] ^= 0x5A
            cases.append(("flip-\(pos)", d))
        }
        for (name, data) in cases {
            let path = dir + "/\(name).zst"
            try data.write(to: URL(fileURLWithPath: path))
            try compare([path], name)
        }
    }

    /// Unknown record types, unknown fields, non-UTF-8 bytes, control characters and a malformed payload.
    func writeAwkwardBundle(_ path: String) throws -> String {
        let header = BundleHeader(
            agent: "fieldagent \"quoted\"\t\\", backend: "linux", osIdentity: [0xFF, 0xFE, 0x00, 0x41],
            deviceID: "dev ü 😀", bootID: nil, wallNanos: -5, monoNanos: 0, intervalNanos: 100_000_000,
            procRoot: "/tmp/fixture root", sequence: 7,
            plan: [.init(path: "/proc/[pid]/maps", scope: .process, tier: .deep, every: 10)])
        let w = try BundleWriter(path: path, header: header)
        try w.append(Sample(sequence: 0, wallNanos: 1, monoNanos: 2, files: [
            .init(path: "/proc/1/comm", bytes: Array("a\u{01}b\u{7F}\u{2028}\n".utf8)),
            .init(path: "/proc/1/environ", bytes: [0x41, 0x00, 0x42, 0xC3]),
            .init(path: "/proc/2/status", status: .missing, errno: 2),
            .init(path: "/proc/1/task", kind: .directory, bytes: Array("1\n2\n".utf8)),
        ]))
        // The same comm again, the environ changed, the listing again: two entries stored as references.
        try w.append(Sample(sequence: 1, wallNanos: 2, monoNanos: 3, files: [
            .init(path: "/proc/1/comm", bytes: Array("a\u{01}b\u{7F}\u{2028}\n".utf8)),
            .init(path: "/proc/1/environ", bytes: [0x41]),
            .init(path: "/proc/1/task", kind: .directory, bytes: Array("1\n2\n".utf8)),
        ]))
        try w.append(EventBatch(wallNanos: 3, monoNanos: 4, source: "/dev/kmsg", lines: [Array("6,1,2,-;Out of memory: Killed process 42 (a b)".utf8), [0xFF]]))
        var e = CBOREncoder()
        e.beginMap(3)
        e.encode("k"); e.encode(Int64(-18))
        e.encode("k"); e.encode("repeated key keeps its first place and last value")
        e.encode("n"); e.beginArray(2); e.encode(UInt64.max); e.encode(Int64.min)
        try w.write(RecordType(rawValue: 200), payload: e.bytes, flush: true)
        try w.write(RecordType(rawValue: 201), payload: [0xA1, 0x01, 0x02], flush: true)  // integer key: malformed
        try w.append(AgentStats(wallNanos: 5, monoNanos: 6, rssBytes: 4_000_000))
        return try w.close(reason: "rotation", wallNanos: 7, monoNanos: 8)
    }
}
