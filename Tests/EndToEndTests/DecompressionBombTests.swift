import FieldBundle
import FieldModel
import Foundation
import Testing

/// A decompression bomb: a valid bundle of well under 1 MB whose samples decompress to 2 GiB. `decode`, `analyze`
/// and `compare` stop at the stream limit, whose default follows the bundle's size, and say so.
@Suite(.serialized) struct DecompressionBombTests {
    /// The bomb: a header, 128 samples each holding 16 MiB of one letter, an end record; compressed by the zstd tool.
    static func writeBomb(_ dir: String) throws -> String {
        let one = try BundleWriter(path: dir + "/one.zst", header: BundleHeader(agent: "bomb", backend: "linux", osIdentity: [],
            deviceID: "bomb", bootID: nil, wallNanos: 0, monoNanos: 0, intervalNanos: 1_000_000_000, procRoot: "/proc", sequence: 0, plan: []))
        try one.append(Sample(sequence: 0, wallNanos: 1, monoNanos: 1, files: [FileCapture(path: "/proc/1/maps", bytes: [UInt8](repeating: 0x41, count: 16 << 20))]))
        let reader = try BundleReader(path: try one.close(reason: "shutdown", wallNanos: 2, monoNanos: 2))
        var records: [RawRecord] = []
        while let r = reader.next() { records.append(r) }
        try #require(records.map(\.type) == [.header, .sample, .end])
        let path = dir + "/bomb/bomb.zst"
        try FileManager.default.createDirectory(atPath: dir + "/bomb", withIntermediateDirectories: true)
        let zstd = Process()
        zstd.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        zstd.arguments = ["zstd", "-q", "-1", "-c", "-o", path]
        let pipe = Pipe()
        zstd.standardInput = pipe
        try zstd.run()
        let sample = Data(ReferenceDecoderEdgeTests.frame(records[1].type.rawValue, records[1].payload))
        pipe.fileHandleForWriting.write(Data(Array("FIELDB".utf8) + [1, 1] + ReferenceDecoderEdgeTests.frame(1, records[0].payload)))
        for _ in 0..<128 { pipe.fileHandleForWriting.write(sample) }
        pipe.fileHandleForWriting.write(Data(ReferenceDecoderEdgeTests.frame(5, records[2].payload)))
        try pipe.fileHandleForWriting.close()
        zstd.waitUntilExit()
        try #require(zstd.terminationStatus == 0)
        return path
    }

    @Test func aBombStopsAtTheStreamLimitAndSaysSo() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bomb = try Self.writeBomb(dir)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: bomb)[.size] as? Int)
        #expect(size < 1 << 20, "the bomb is \(size) bytes")

        // decode: at most the default limit (4096 times the bomb's size, 64 MiB at least, against 2 GiB in it),
        // damage kind limit, exit 4; the Python reference decoder stops at the same record.
        let limit = max(64 << 20, 4096 * size)
        let started = Date()
        let decode = try Harness.fieldctl(["decode", bomb])
        #expect(decode.status == 4, "\(decode.stderr)")
        #expect(decode.stdout.count < limit + (1 << 20), "decode wrote \(decode.stdout.count) bytes")
        #expect(decode.text.contains("\"damage\":{\"kind\":\"limit\""))
        #expect(decode.stderr.contains("limit") && decode.stderr.contains("decompression bomb") && decode.stderr.contains("--max-stream-bytes"),
                "\(decode.stderr)")
        #expect(Date().timeIntervalSince(started) < 60)
        let py = try Harness.run("python3", [Harness.root + "/tools/fieldbundle.py", bomb])
        #expect(py.status == 4 && py.stdout == decode.stdout, "python: \(py.status) \(py.stderr.prefix(500))")

        // An explicit limit replaces the default.
        let small = try Harness.fieldctl(["decode", "--max-stream-bytes", "20000000", bomb])
        #expect(small.status == 4 && small.stdout.count < 30_000_000 && small.text.contains("\"records\":2,"), "\(small.stderr)")
        let pySmall = try Harness.run("python3", [Harness.root + "/tools/fieldbundle.py", "--max-stream-bytes", "20000000", bomb])
        #expect(pySmall.stdout == small.stdout && pySmall.status == 4)

        // analyze and compare: the same bound on the work, the damage in their reports.
        let analyzeStarted = Date()
        let text = try Harness.fieldctl(["analyze", dir + "/bomb"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.text.contains("limit: the stream exceeds") && text.text.contains("decompression bomb"), "\(text.text.prefix(2000))")
        #expect(Date().timeIntervalSince(analyzeStarted) < 60)
        let json = try Harness.fieldctl(["analyze", "--format", "json", dir + "/bomb"])
        let doc = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        let damaged = try #require(doc["damaged"] as? [[String: Any]])
        #expect(damaged.count == 1 && damaged.first?["kind"] as? String == "limit" && damaged.first?["bundle"] as? String == bomb)
        let compare = try Harness.fieldctl(["compare", dir + "/bomb"])
        #expect(compare.status == 0 && compare.text.contains("limit: the stream exceeds"), "\(compare.text)")

        // The exit code is documented.
        let help = try Harness.fieldctl(["--help"])
        #expect(help.text.contains("4 a bundle is damaged") && help.text.contains("--max-stream-bytes"))
    }
}
