@testable import FieldBundle
import Foundation
import Testing

/// Runs `/usr/bin/sha256sum` on files and returns the hex digest of each, in order.
private func sha256sum(_ paths: [String]) throws -> [String] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    p.arguments = ["--"] + paths
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0)
    // Each line is "HEX  PATH".
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map { String($0.prefix(64)) }
}

/// The digest by `sha256sum` of `buffers`, each written to its own temporary file.
private func referenceDigests(_ buffers: [[UInt8]]) throws -> [String] {
    let dir = makeTempDirectory("fieldsha")
    defer { removeTree(dir) }
    var paths: [String] = []
    for (i, b) in buffers.enumerated() {
        let path = dir + "/b\(i)"
        try Data(b).write(to: URL(fileURLWithPath: path))
        paths.append(path)
    }
    let got = try sha256sum(paths)
    try #require(got.count == buffers.count)
    return got
}

/// Feeds `bytes` in pieces cut at `cuts` (sorted offsets), alternating the two `update` overloads.
private func chunkedDigest(_ bytes: [UInt8], cuts: [Int]) -> [UInt8] {
    var h = SHA256()
    var start = 0
    for (n, cut) in (cuts + [bytes.count]).enumerated() {
        let piece = Array(bytes[start..<cut])
        if n % 2 == 0 {
            h.update(piece)
        } else {
            piece.withUnsafeBytes { h.update($0) }
        }
        start = cut
    }
    return h.finish()
}

private func randomCuts(_ count: Int, _ rng: inout SeededRandom) -> [Int] {
    guard count > 0 else { return [] }
    let n = Int.random(in: 0...6, using: &rng)
    return (0..<n).map { _ in Int.random(in: 0...count, using: &rng) }.sorted()
}

@Suite struct SHA256Tests {
    /// FIPS 180-4 examples and the NIST long-message vectors.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
    ])
    func nistVectors(message: String, expected: String) {
        #expect(ContentDigest.hex(SHA256.hash(Array(message.utf8))) == expected)
        // Any sequence of bytes, not only arrays.
        #expect(ContentDigest.hex(SHA256.hash(message.utf8)) == expected)
        // One byte at a time crosses every block boundary through the buffered path.
        var h = SHA256()
        for b in message.utf8 { h.update([b]) }
        #expect(ContentDigest.hex(h.finish()) == expected)
    }

    @Test func oneMillionA() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        let a = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(ContentDigest.hex(SHA256.hash(a)) == expected)
        // In 1000-byte pieces, which are not a multiple of the block size.
        var h = SHA256()
        for start in stride(from: 0, to: a.count, by: 1000) { h.update(Array(a[start..<start + 1000])) }
        #expect(ContentDigest.hex(h.finish()) == expected)
    }

    @Test func digestIs32Bytes() {
        #expect(SHA256.hash([]).count == 32)
        #expect(SHA256.hash([UInt8](repeating: 7, count: 1000)).count == 32)
    }

    /// Every length around the padding boundaries (55/56, 63/64, 119/120...), against sha256sum, whole and in
    /// random pieces.
    @Test func everyLengthUpTo200MatchesSha256sumAndChunking() throws {
        var rng = SeededRandom(seed: 256)
        let buffers = (0...200).map { randomBytes($0, &rng, text: false) }
        let reference = try referenceDigests(buffers)
        for (len, bytes) in buffers.enumerated() {
            let whole = SHA256.hash(bytes)
            #expect(ContentDigest.hex(whole) == reference[len], "length \(len)")
            for _ in 0..<4 {
                let cuts = randomCuts(len, &rng)
                #expect(chunkedDigest(bytes, cuts: cuts) == whole, "length \(len), cuts \(cuts)")
            }
            // Empty updates change nothing.
            var h = SHA256()
            h.update([])
            h.update(bytes)
            h.update([])
            #expect(h.finish() == whole, "length \(len) with empty updates")
        }
    }

    @Test func randomBuffersAtBoundaryLengthsMatchSha256sum() throws {
        var rng = SeededRandom(seed: 1804)
        let lengths = [55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4095, 65_537, 1 << 20]
        let buffers = lengths.map { randomBytes($0, &rng, text: false) }
        let reference = try referenceDigests(buffers)
        for (i, bytes) in buffers.enumerated() {
            #expect(ContentDigest.hex(SHA256.hash(bytes)) == reference[i], "length \(bytes.count)")
            let cuts = randomCuts(bytes.count, &rng)
            #expect(ContentDigest.hex(chunkedDigest(bytes, cuts: cuts)) == reference[i], "length \(bytes.count), cuts \(cuts)")
        }
    }

    @Test func differentInputsGiveDifferentDigests() {
        var rng = SeededRandom(seed: 3)
        let base = randomBytes(100, &rng, text: false)
        var flipped = base
        flipped[99] ^= 1
        #expect(SHA256.hash(base) != SHA256.hash(flipped))
        // A trailing zero byte is data, not padding.
        #expect(SHA256.hash(base) != SHA256.hash(base + [0]))
    }
}

@Suite struct ContentDigestTests {
    @Test func hexIsLowerCaseTwoDigitsPerByte() {
        #expect(ContentDigest.hex([]) == "")
        #expect(ContentDigest.hex([0x00, 0x0F, 0xA0, 0xFF, 0x5C]) == "000fa0ff5c")
    }

    /// RFC 9530's example: the digest of `{"hello": "world"}`.
    @Test func headerMatchesTheRFCExample() {
        let digest = SHA256.hash(Array(#"{"hello": "world"}"#.utf8))
        #expect(ContentDigest.header(sha256: digest) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:")
        #expect(
            ContentDigest.header(sha256: SHA256.hash(Array("abc".utf8)))
                == "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:")
    }

    @Test func headerRoundTrips() {
        var rng = SeededRandom(seed: 9530)
        for _ in 0..<200 {
            let digest = randomBytes(32, &rng, text: false)
            let header = ContentDigest.header(sha256: digest)
            #expect(header.hasPrefix("sha-256=:") && header.hasSuffix(":"))
            #expect(ContentDigest.sha256(fromHeader: header) == digest, "\(header)")
        }
    }

    @Test func otherMembersAreSkipped() {
        var rng = SeededRandom(seed: 512)
        let d256 = randomBytes(32, &rng, text: false)
        let d512 = randomBytes(64, &rng, text: false)
        let m256 = ContentDigest.header(sha256: d256)
        let m512 = "sha-512=:" + Data(d512).base64EncodedString() + ":"
        #expect(ContentDigest.sha256(fromHeader: m512 + ", " + m256) == d256)
        #expect(ContentDigest.sha256(fromHeader: m512 + "," + m256) == d256)
        #expect(ContentDigest.sha256(fromHeader: m256 + ", " + m512) == d256)
        #expect(ContentDigest.sha256(fromHeader: "md5=:AAAAAAAAAAAAAAAAAAAAAA==:,   " + m256) == d256)
        // Only other algorithms: no SHA-256 digest.
        #expect(ContentDigest.sha256(fromHeader: m512) == nil)
        // A member whose name only starts like ours is another algorithm.
        #expect(ContentDigest.sha256(fromHeader: "sha-2560=:" + Data(d256).base64EncodedString() + ":") == nil)
    }

    @Test func algorithmNameIsCaseInsensitive() {
        var rng = SeededRandom(seed: 1)
        let d = randomBytes(32, &rng, text: false)
        let b64 = Data(d).base64EncodedString()
        #expect(ContentDigest.sha256(fromHeader: "SHA-256=:" + b64 + ":") == d)
        #expect(ContentDigest.sha256(fromHeader: "Sha-256=:" + b64 + ":") == d)
    }

    @Test(arguments: [
        "",
        "sha-256",
        "sha-256=",
        "sha-256=::",
        "sha-256=:!!!!:",
        "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0:",  // padding missing: 43 characters
        "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAF=a0:",  // padding in the middle
        "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0===:",  // too much padding
        "sha-256=:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=:",  // base64url, not base64
        "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",  // closing colon missing
        "sha-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:",  // opening colon missing
        "sha-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",  // both missing
        "sha-256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:",  // no '='
    ])
    func malformedHeadersGiveNil(header: String) {
        #expect(ContentDigest.sha256(fromHeader: header) == nil, "\(header)")
    }

    @Test func base64MatchesFoundation() {
        var rng = SeededRandom(seed: 64)
        for len in 0...70 {
            for _ in 0..<3 {
                let bytes = randomBytes(len, &rng, text: false)
                let ours = ContentDigest.base64(bytes)
                #expect(ours == Data(bytes).base64EncodedString(), "length \(len)")
                #expect(ContentDigest.decodeBase64(ours) == bytes, "length \(len)")
                // And ours decodes what Foundation wrote.
                #expect(ContentDigest.decodeBase64(Data(bytes).base64EncodedString()) == bytes, "length \(len)")
            }
        }
        // Every byte value passes through, which exercises every alphabet entry.
        let all = (0...255).map { UInt8($0) }
        #expect(ContentDigest.base64(all) == Data(all).base64EncodedString())
        #expect(ContentDigest.decodeBase64(Data(all).base64EncodedString()) == all)
    }

    @Test(arguments: ["A", "AB", "ABC", "ABCDE", "A===", "====", "AB=C", "AB\nCD==", "AB C", "ABC*"])
    func decodeBase64RefusesMalformedText(text: String) {
        #expect(ContentDigest.decodeBase64(text) == nil, "\(text)")
    }
}

@Suite struct SHA256FileTests {
    /// Hashing a file (through its path, or a descriptor whose offset stays put) equals hashing its bytes.
    @Test(arguments: [0, 1, 65_535, 65_536, 65_537, 300_000])
    func fileDigestEqualsBytesDigest(_ size: Int) throws {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let byPath = try #require(SHA256.hash(filePath: path))
        #expect(byPath.digest == SHA256.hash(bytes))
        #expect(byPath.bytes == UInt64(size))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        #expect(SHA256.hash(fileDescriptor: fd)?.digest == SHA256.hash(bytes))
        #expect(lseek(fd, 0, SEEK_CUR) == 0)
        #expect(SHA256.hash(filePath: path + ".missing") == nil)
    }
}
