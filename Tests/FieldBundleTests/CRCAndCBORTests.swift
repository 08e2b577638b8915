import FieldBundle
import Testing

@Suite struct CRC32CTests {
    @Test func knownVectors() {
        // The check value of CRC-32C (RFC 3720 appendix B.4 and every CRC catalogue).
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        // RFC 3720 B.4: 32 bytes of zeros and of 0xFF.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    /// The CPU instruction (when present) and the tables agree on every length and alignment.
    @Test func hardwareAndSoftwareAgree() {
        var rng = SeededRandom(seed: 12)
        let data = randomBytes(5000, &rng, text: false)
        data.withUnsafeBytes { raw in
            for start in 0..<9 {
                for end in stride(from: start, through: raw.count, by: 61) {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                    var soft = CRC32C()
                    soft.updateInSoftware(slice)
                    var auto = CRC32C()
                    auto.update(slice)
                    #expect(soft.value == auto.value, "bytes \(start)..<\(end)")
                }
            }
        }
        var soft = CRC32C()
        Array("123456789".utf8).withUnsafeBytes { soft.updateInSoftware($0) }
        #expect(soft.value == 0xE306_9283)
    }

    @Test func incrementalEqualsOneShot() {
        var rng = SeededRandom(seed: 7)
        let data = randomBytes(10_000, &rng, text: false)
        for split in [0, 1, 7, 8, 9, 4095, 9999, 10_000] {
            var c = CRC32C()
            c.update(Array(data[..<split]))
            c.update(Array(data[split...]))
            #expect(c.value == CRC32C.checksum(data))
        }
    }
}

@Suite struct CBORTests {
    /// Examples from RFC 8949 appendix A.
    @Test(arguments: [
        ("00", CBORValue.unsigned(0)), ("17", .unsigned(23)), ("1818", .unsigned(24)), ("1903e8", .unsigned(1000)),
        ("1b000000e8d4a51000", .unsigned(1_000_000_000_000)), ("20", .negative(0)), ("3863", .negative(99)),
        ("40", .bytes([])), ("4401020304", .bytes([1, 2, 3, 4])), ("60", .text("")), ("6449455446", .text("IETF")),
        ("62c3bc", .text("\u{fc}")), ("80", .array([])), ("83010203", .array([.unsigned(1), .unsigned(2), .unsigned(3)])),
        ("f4", .bool(false)), ("f5", .bool(true)), ("f6", .null), ("f7", .undefined),
        ("a26161016162820203", .map([(.text("a"), .unsigned(1)), (.text("b"), .array([.unsigned(2), .unsigned(3)]))])),
        ("f93c00", .float(1.0)), ("fb3ff199999999999a", .float(1.1)),
        ("5f42010243030405ff", .bytes([1, 2, 3, 4, 5])), ("9f018202039f0405ffff",
            .array([.unsigned(1), .array([.unsigned(2), .unsigned(3)]), .array([.unsigned(4), .unsigned(5)])])),
        ("c11a514b67b0", .tagged(1, .unsigned(1_363_896_240))),
    ])
    func rfcExamples(hex: String, expected: CBORValue) throws {
        let bytes = stride(from: 0, to: hex.count, by: 2).map { i -> UInt8 in
            let s = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[s..<hex.index(s, offsetBy: 2)], radix: 16)!
        }
        #expect(try CBORDecoder.decode(bytes) == expected)
    }

    @Test func encoderUsesShortestForms() throws {
        for (v, len) in [(UInt64(23), 1), (24, 2), (255, 2), (256, 3), (65535, 3), (65536, 5), (1 << 32, 9)] {
            var e = CBOREncoder()
            e.encode(v)
            #expect(e.bytes.count == len)
            #expect(try CBORDecoder.decode(e.bytes) == .unsigned(v))
        }
        var e = CBOREncoder()
        e.encode(Int64.min)
        #expect(try CBORDecoder.decode(e.bytes).int64 == Int64.min)
    }

    @Test(arguments: [
        ("truncated argument", [0x19, 0x01]), ("length beyond payload", [0x45, 0x01]),
        ("invalid UTF-8", [0x62, 0xC3, 0x28]), ("integer map key", [0xA1, 0x01, 0x02]),
        ("trailing bytes", [0x01, 0x02]), ("reserved info", [0x1C]), ("lone break", [0xFF]),
        ("huge array count", [0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        ("unterminated indefinite", [0x9F, 0x01]), ("empty", []),
    ] as [(String, [UInt8])])
    func malformedInputIsAnError(name: String, bytes: [UInt8]) {
        #expect(throws: CBORError.self, "\(name)") { try CBORDecoder.decode(bytes) }
    }

    @Test func deepNestingIsRefused() {
        let bytes = [UInt8](repeating: 0x81, count: 100_000) + [0x00]
        #expect(throws: CBORError.self) { try CBORDecoder.decode(bytes) }
    }

    @Test func randomValuesRoundTrip() throws {
        var rng = SeededRandom(seed: 42)
        func value(_ depth: Int) -> CBORValue {
            switch Int.random(in: 0...(depth > 3 ? 5 : 8), using: &rng) {
            case 0: return .unsigned(UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng))
            case 1: return .negative(UInt64.random(in: 0...1000, using: &rng))
            case 2: return .bytes(randomBytes(Int.random(in: 0...300, using: &rng), &rng, text: false))
            case 3: return .text(String(decoding: randomBytes(Int.random(in: 0...40, using: &rng), &rng, text: true), as: UTF8.self))
            case 4: return .bool(Bool.random(using: &rng))
            case 5: return .null
            case 6: return .array((0..<Int.random(in: 0...5, using: &rng)).map { _ in value(depth + 1) })
            case 7: return .map((0..<Int.random(in: 0...5, using: &rng)).map { i in (.text("k\(i)"), value(depth + 1)) })
            default: return .tagged(UInt64.random(in: 0...100, using: &rng), value(depth + 1))
            }
        }
        for _ in 0..<500 {
            let v = value(0)
            var e = CBOREncoder()
            e.encode(v)
            #expect(try CBORDecoder.decode(e.bytes) == v)
        }
    }
}
