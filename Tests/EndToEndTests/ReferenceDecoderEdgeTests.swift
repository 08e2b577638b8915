import FieldBundle
import FieldModel
import Foundation
import Testing

/// Hand-made streams at the edges of the format, where two independent decoders most easily part ways.
@Suite(.serialized) struct ReferenceDecoderEdgeTests {
    static func frame(_ type: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count)
        var f: [UInt8] = [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24), type] + payload
        let c = CRC32C.checksum(f)
        f += [UInt8(c & 0xFF), UInt8((c >> 8) & 0xFF), UInt8((c >> 16) & 0xFF), UInt8(c >> 24)]
        return f
    }

    static func hex(_ s: String) -> [UInt8] {
        let h = s.replacingOccurrences(of: " ", with: "")
        return stride(from: 0, to: h.count, by: 2).map { i in
            let a = h.index(h.startIndex, offsetBy: i)
            return UInt8(h[a..<h.index(a, offsetBy: 2)], radix: 16)!
        }
    }

    /// Writes `stream` compressed by the zstd tool (a different zstd producer than our writer).
    static func compress(_ stream: [UInt8], to path: String) throws {
        try Data(stream).write(to: URL(fileURLWithPath: path + ".raw"))
        let r = try Harness.run("zstd", ["-q", "-f", "--check", path + ".raw", "-o", path])
        #expect(r.status == 0, "\(r.stderr)")
    }

    func compare(_ path: String, _ label: String) throws {
        let swift = try Harness.fieldctl(["decode", path])
        let py = try Harness.run("python3", [Harness.root + "/tools/fieldbundle.py", path])
        #expect(!py.stderr.contains("Traceback"), "\(label): \(py.stderr)")
        #expect(swift.stdout == py.stdout, "\(label):\n swift:  \(swift.text.prefix(600))\n python: \(py.text.prefix(600))")
        #expect(swift.status == py.status, "\(label): exit \(swift.status) vs \(py.status)")
    }

    @Test func payloadEdgeCasesDecodeIdentically() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let preamble = Array("FIELDB".utf8) + [1, 0]
        var payloads: [(String, [UInt8])] = [
            ("tag99", Self.hex("a16161d8636178")), ("tag0-date-text", Self.hex("a16161c074323031332d30332d32315432303a30343a30305a")),
            ("tag1-epoch", Self.hex("a16161c11a514b67b0")), ("tag2-bignum", Self.hex("a16161c249010000000000000000")),
            ("simple16", Self.hex("a16161f0")), ("simple100", Self.hex("a16161f864")), ("simple-bad", Self.hex("a16161f814")),
            ("undefined", Self.hex("a16161f7")), ("duplicate-keys", Self.hex("a3616101616202616103")),
            ("indefinite-map", Self.hex("bf616101ff")), ("indefinite-bytes", Self.hex("a161615f42010243030405ff")),
            ("bad-utf8-text", Self.hex("a1616162c328")), ("integer-key", Self.hex("a10102")), ("not-a-map", Self.hex("01")),
            ("trailing-in-payload", Self.hex("a1616101ff")), ("huge-negative", Self.hex("a161613bffffffffffffffff")),
            ("control-chars", [0xA1, 0x61, 0x61, 0x66, 0x00, 0x1F, 0x7F, 0x22, 0x5C, 0x0A]),
            ("empty-map", [0xA0]),
        ]
        for d in [63, 64] {
            payloads.append(("depth\(d)-scalar", [0xA1, 0x61, 0x61] + [UInt8](repeating: 0x81, count: d) + [0x00]))
            payloads.append(("depth\(d)-empty", [0xA1, 0x61, 0x61] + [UInt8](repeating: 0x81, count: d) + [0x80]))
            payloads.append(("depth\(d)-tags", [0xA1, 0x61, 0x61] + Array([[UInt8]](repeating: [0xD8, 0x63], count: d).joined()) + [0x00]))
        }
        for (name, p) in payloads {
            let path = dir + "/\(name).zst"
            try Self.compress(preamble + Self.frame(77, p) + Self.frame(5, Self.hex("a0")), to: path)
            try compare(path, name)
        }
    }

    @Test func streamEdgeCasesDecodeIdentically() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let preamble = Array("FIELDB".utf8) + [1, 0]
        let end = Self.frame(5, Self.hex("a0"))
        let cases: [(String, [UInt8])] = [
            ("trailing-1", preamble + end + [0]), ("trailing-3", preamble + end + [1, 2, 3]),
            ("trailing-4", preamble + end + [0, 0, 0, 0]), ("trailing-frame", preamble + end + end),
            ("preamble-only", preamble), ("short-preamble", Array(preamble.prefix(5))), ("major-2", Array("FIELDB".utf8) + [2, 0] + end),
            ("minor-9", Array("FIELDB".utf8) + [1, 9] + end), ("bad-crc", preamble + Array(end.dropLast()) + [end.last! ^ 1]),
            ("length-past-end", preamble + [200, 0, 0, 0, 2, 0xA0]), ("length-over-limit", preamble + [0xFF, 0xFF, 0xFF, 0x7F, 2]),
            ("unknown-type-only", preamble + Self.frame(9, [0xA0])), ("no-end", preamble + Self.frame(2, Self.hex("a0"))),
        ]
        for (name, stream) in cases {
            let path = dir + "/\(name).zst"
            try Self.compress(stream, to: path)
            try compare(path, name)
        }
        // A window larger than both readers accept by default (2^28 > 2^27).
        let w = try BundleWriter(
            path: dir + "/window28.zst", header: BundleHeader(agent: "t", backend: "linux", osIdentity: [], deviceID: "d", bootID: nil,
                wallNanos: 0, monoNanos: 0, intervalNanos: 1, procRoot: "/proc", sequence: 0, plan: []),
            options: WriterOptions(windowLog: 28))
        try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        try compare(dir + "/window28.zst", "window 2^28")
        let limited = try Harness.fieldctl(["decode", dir + "/window28.zst"])
        #expect(limited.text.contains("\"kind\":\"limit\""))
        // A directory is not a bundle: both refuse to open it.
        let sw = try Harness.fieldctl(["decode", dir])
        let py = try Harness.run("python3", [Harness.root + "/tools/fieldbundle.py", dir])
        #expect(sw.status == 5 && py.status == 5)
        #expect(sw.stdout.isEmpty && py.stdout.isEmpty)
    }
}
