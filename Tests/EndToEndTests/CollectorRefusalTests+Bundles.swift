import FieldBundle
import FieldModel
import Foundation
import Testing

/// What a bundle is, as the collector sees it: its identity comes from inside it, and checking it costs work in
/// proportion to what was sent.
extension CollectorRefusalTests {
    /// The fault campaign stored one bundle four times under four names. The second name is answered 200 with
    /// the first, and nothing new is stored, before and after a restart.
    @Test func theSameBundleUnderAnotherNameIsStoredOnce() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = try CollectorUnderTest(dir: dir)
        let bundles = try BundleMaker.make(in: dir, device: "devA", seconds: 2.3, extra: ["--bundle-seconds", "1"])
        try #require(bundles.count >= 2)
        let bundle = bundles[0]
        let name = (bundle as NSString).lastPathComponent
        let token = CollectorUnderTest.token("devA")
        #expect(try c.put(device: "devA", name: name, file: bundle, token: token).status == 201)
        for copy in ["copy-1.zst", "copy-2.zst"] {
            let r = try c.put(device: "devA", name: copy, file: bundle, token: token)
            #expect(r.status == 200 && r.body.contains("already stored as \(name)"), "\(copy): \(r.status) \(r.body)")
        }
        // Another bundle of the same device under a name of its own is a bundle of its own.
        #expect(try c.put(device: "devA", name: "next.zst", file: bundles[1], token: token).status == 201)
        #expect(c.stored("devA") == [name, "next.zst"].sorted())
        #expect(c.indexLines("devA").count == 2)

        // The identity comes back from the index after a restart.
        #expect(c.server.stop() == 0)
        c = try CollectorUnderTest(dir: dir)
        let r = try c.put(device: "devA", name: "copy-3.zst", file: bundle, token: token)
        #expect(r.status == 200 && r.body.contains("already stored as \(name)"), "\(r.status) \(r.body)")
        #expect(c.stored("devA") == [name, "next.zst"].sorted())
        #expect(c.server.stop() == 0)
        #expect(c.server.stdout.contains("copy-3.zst 200"), "\(c.server.stdout)")
    }

    /// Writes a valid, closed bundle whose samples each hold `zeroBytes` zeros: zstd stores a run of zeros in
    /// about 4 bytes per 128 KiB block, so the file is some 30,000 times smaller than its stream.
    static func decompressionBomb(at path: String, device: String, samples: Int, zeroBytes: Int) throws -> String {
        let header = BundleHeader(
            agent: "fieldagent bomb", backend: "linux", osIdentity: Array("Linux version 6.1.0\n".utf8),
            deviceID: device, bootID: "5b1c6d0e-8f7a-4c3b-9d2e-1a0f3e4d5c6b", wallNanos: 1_700_000_000_000_000_000,
            monoNanos: 1, intervalNanos: 1_000_000_000, procRoot: "/proc", sequence: 0, plan: [])
        let writer = try BundleWriter(path: path, header: header, options: WriterOptions(level: 1, fsync: .never))
        let payload = RecordCodec.encode(
            Sample(
                sequence: 0, wallNanos: 1_700_000_000_000_000_000, monoNanos: 2,
                files: [FileCapture(path: "/proc/zero", bytes: [UInt8](repeating: 0, count: zeroBytes))]))
        for _ in 0..<samples { try writer.write(.sample, payload: payload, flush: false) }
        return try writer.close(reason: "shutdown", wallNanos: 1_700_000_001_000_000_000, monoNanos: 3)
    }

    /// A decompression bomb (a real bundle of some 40 KB whose stream is 1.2 GiB) is refused with 413 at the
    /// stream limit its size allows (the 64 MiB floor), and nothing is stored.
    ///
    /// That the reader stops decompressing at the limit is checked byte for byte in
    /// `DamageTests.streamLimitStopsADecompressionBomb`; here the collector must apply the limit for the upload's
    /// size. The collector's CPU is printed, not asserted: CI's shared cores made a ratio of CPU times fail once
    /// (0.43 s bounded, 0.9 s read through) where this machine measures 0.24 s and 2.0 s.
    @Test func aDecompressionBombIsRefusedAtItsLimit() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try CollectorUnderTest(dir: dir)
        let bomb = try Self.decompressionBomb(
            at: dir + "/bomb.zst", device: "devA", samples: 20, zeroBytes: 64 << 20 - 4096)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: bomb)[.size] as? Int)
        try #require(size < 128 << 10, "the bomb is \(size) bytes")

        let before = try c.cpuSeconds()
        let r = try c.put(device: "devA", name: "bomb.zst", file: bomb, token: CollectorUnderTest.token("devA"))
        let spent = try c.cpuSeconds() - before
        #expect(r.status == 413 && r.body.contains("--max-expansion"), "\(r.status) \(r.body)")
        #expect(r.body.contains("the stream exceeds the \(64 << 20)-byte limit"), "\(r.body)")
        #expect(c.stored("devA").isEmpty)
        print("decompression bomb: \(size) bytes, collector CPU \(spent) s, answer \(r.status)")

        // The limit is the operator's: raised, the same bundle is read through and stored, at the full cost.
        let roomyDir = dir + "/roomy"
        try FileManager.default.createDirectory(atPath: roomyDir, withIntermediateDirectories: false)
        let roomy = try CollectorUnderTest(dir: roomyDir, extra: ["--max-expansion", "100000"])
        let roomyBefore = try roomy.cpuSeconds()
        let stored = try roomy.put(
            device: "devA", name: "bomb.zst", file: bomb, token: CollectorUnderTest.token("devA"))
        let roomySpent = try roomy.cpuSeconds() - roomyBefore
        #expect(stored.status == 201, "\(stored.status) \(stored.body)")
        #expect(roomy.stored("devA") == ["bomb.zst"])
        print("decompression bomb read through with --max-expansion 100000: collector CPU \(roomySpent) s")
        #expect(c.server.stop() == 0)
        #expect(roomy.server.stop() == 0)
    }
}
