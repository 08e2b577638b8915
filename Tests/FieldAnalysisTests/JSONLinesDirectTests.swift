import FieldAnalysis
import FieldBundle
import FieldModel
import Testing

/// `decode`'s direct path (CBOR bytes straight to JSON text) prints exactly what the general path (a tree of
/// values) prints, or steps aside.
@Suite struct JSONLinesDirectTests {
    static var payloads: [(RecordType, [UInt8])] {
        let header = BundleHeader(agent: "t", backend: "linux", osIdentity: Array("Linux \u{1}\"x\"\\".utf8), deviceID: "dev\ttab",
            bootID: "b", wallNanos: -1, monoNanos: 0, intervalNanos: 1_000_000_000, procRoot: "/proc", sequence: 3, plan: [],
            sameWindow: 16, agentPID: 42)
        let sample = Sample(sequence: 1, wallNanos: Int64.min + 1, monoNanos: UInt64.max, files: [
            FileCapture(path: "/proc/meminfo", bytes: Array("a\nb\r\u{8}\u{c}\u{1f}\u{7f}é😀".utf8)),
            FileCapture(path: "/proc/1/fd", kind: .directory, status: .error, errno: -3),
            FileCapture(path: "/proc/2/maps", truncated: true, bytes: [0xC3, 0x28, 0x00, 0xFF]),
        ])
        var e = CBOREncoder()
        e.beginMap(6)
        e.encode("simple"); e.encode(.simple(40))
        e.encode("small"); e.encode(.simple(5))
        e.encode("undef"); e.encode(.undefined)
        e.encode("null"); e.encodeNull()
        e.encode("tagged"); e.encode(.tagged(1, .negative(UInt64.max)))
        e.encode("nested"); e.encode(.array([.map([(.text("k"), .bool(false))]), .bytes([])]))
        return [(.header, RecordCodec.encode(header)), (.sample, RecordCodec.encode(sample)), (.sample, RecordCodec.encode(sample, same: [true])),
                (.stats, e.bytes)]
    }

    func general(_ r: RawRecord) -> [UInt8] { Array((JSONLines.recordLine(r) + "\n").utf8) }

    @Test func theDirectPathPrintsTheGeneralText() {
        for (i, (type, payload)) in Self.payloads.enumerated() {
            let r = RawRecord(index: i, offset: UInt64(i * 100), type: type, payload: payload)
            var out: [UInt8] = Array("before\n".utf8)
            #expect(JSONLines.appendRecordLine(r, to: &out), "record \(i) stepped aside")
            #expect(String(decoding: out.dropFirst(7), as: UTF8.self) == String(decoding: general(r), as: UTF8.self))
        }
    }

    @Test func itStepsAsideForWhatItDoesNotPrintItself() {
        // A repeated key (first position, last value), a float, an indefinite length, a malformed payload.
        var e = CBOREncoder()
        e.beginMap(2); e.encode("a"); e.encode(UInt64(1)); e.encode("a"); e.encode(UInt64(2))
        let cases: [[UInt8]] = [e.bytes, [0xFB, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0], [0x9F, 0x01, 0xFF], [0x62, 0x61], [0x01, 0x02]]
        for p in cases {
            var out: [UInt8] = [1, 2, 3]
            #expect(!JSONLines.appendRecordLine(RawRecord(index: 0, offset: 0, type: .stats, payload: p), to: &out))
            #expect(out == [1, 2, 3], "a refused record left output behind")
        }
    }

    /// Keys that are different bytes but equal Swift strings ("é" precomposed, and "e" with a combining accent) are
    /// two keys on both paths, as in the Python decoder's dictionary (a fuzzing finding: the tree path merged them).
    @Test func canonicallyEquivalentKeysStayTwoKeys() {
        let payload: [UInt8] = [0xA2, 0x62, 0xC3, 0xA9, 0x01, 0x63, 0x65, 0xCC, 0x81, 0x02]
        let r = RawRecord(index: 0, offset: 8, type: .stats, payload: payload)
        // Compared as bytes: String's == would call the two spellings equal.
        let expected = "{\"record\":0,\"offset\":8,\"type\":\"stats\",\"length\":10,"
            + "\"payload\":{\"\u{E9}\":1,\"e\u{301}\":2}}\n"
        #expect(general(r) == Array(expected.utf8), "\(String(decoding: general(r), as: UTF8.self))")
        var out: [UInt8] = []
        #expect(JSONLines.appendRecordLine(r, to: &out))
        #expect(out == general(r))
    }

    /// Damaged payloads: whenever the direct path prints, it prints the general text.
    @Test func damagedPayloadsPrintTheSameText() {
        var state: UInt64 = 9
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var printed = 0
        for k in 0..<10_000 {
            let (type, base) = Self.payloads[k % Self.payloads.count]
            var p = base
            for _ in 0..<(1 + next() % 2) { p[Int(next() % UInt64(p.count))] = UInt8(truncatingIfNeeded: next()) }
            let r = RawRecord(index: k, offset: 0, type: type, payload: p)
            var out: [UInt8] = []
            if JSONLines.appendRecordLine(r, to: &out) {
                printed += 1
                #expect(out == general(r), "payload \(p)")
            }
        }
        #expect(printed > 1000)
    }
}
