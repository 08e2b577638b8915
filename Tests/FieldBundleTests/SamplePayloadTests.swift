@testable import FieldBundle
import FieldModel
import Testing

/// The direct sample decoder (no tree of values) and the general one agree on every payload: the writer's layouts
/// are read the direct way, and on damaged or unusual payloads the direct way either gives the general result or
/// steps aside.
@Suite struct SamplePayloadTests {
    static let sample = Sample(sequence: 7, wallNanos: -5, monoNanos: 1 << 40, files: [
        FileCapture(path: "/proc/meminfo", readNanos: 12_000, bytes: Array("MemTotal: 1 kB\n".utf8)),
        FileCapture(path: "/proc/12/fd", kind: .directory, readNanos: 3_000, bytes: Array("0\n1\n2\n".utf8)),
        FileCapture(path: "/proc/12/exe", kind: .link, bytes: Array("/usr/bin/x".utf8)),
        FileCapture(path: "/proc/13/status", status: .missing, errno: 2),
        FileCapture(path: "/proc/slabinfo", status: .denied, errno: 13),
        FileCapture(path: "/proc/14/maps", truncated: true, bytes: [UInt8](repeating: 0x41, count: 300)),
        FileCapture(path: "/proc/15/comm", bytes: [0xFF, 0xFE, 0x0A]),  // not UTF-8: bytes are bytes
        FileCapture(path: "/proc/16/task/16/comm", bytes: []),
        FileCapture(path: "/proc/é/stat", status: .busy, errno: 16),
    ])

    func both(_ payload: [UInt8], previous: [FileCapture] = []) -> (fast: Sample?, fastSame: [Int], general: Sample?, generalSame: [Int]) {
        var a: [Int] = [], b: [Int] = []
        let fast = SamplePayload.decode(payload, previous: previous, same: &a)
        let general = try? RecordCodec.decodeSample(payload, same: &b)
        return (fast, a, general, b)
    }

    @Test func theWritersLayoutIsReadTheDirectWayWithTheGeneralResult() throws {
        for same in [[], [false, true, false, false, false, true, false, true, false]] {
            let payload = RecordCodec.encode(Self.sample, same: same)
            let r = both(payload)
            let fast = try #require(r.fast, "the direct path stepped aside on the writer's own layout")
            #expect(fast == r.general)
            #expect(r.fastSame == r.generalSame)
        }
    }

    @Test func anEntryLikeThePreviousSamplesSharesItsStorage() throws {
        let payload = RecordCodec.encode(Self.sample)
        let first = try #require(both(payload).fast)
        var same: [Int] = []
        let second = try #require(SamplePayload.decode(payload, previous: first.files, same: &same))
        #expect(second == first)
        for (a, b) in zip(first.files, second.files) where !a.bytes.isEmpty {
            let shared = a.bytes.withUnsafeBufferPointer { x in b.bytes.withUnsafeBufferPointer { $0.baseAddress == x.baseAddress } }
            #expect(shared, "\(a.path)")
        }
        // A different content at the same path is its own.
        var changed = Self.sample
        changed.files[0].bytes = Array("MemTotal: 2 kB\n".utf8)
        let third = try #require(SamplePayload.decode(RecordCodec.encode(changed), previous: first.files, same: &same))
        #expect(third.files[0].bytes == changed.files[0].bytes)
    }

    /// 20,000 damaged payloads (bytes changed, cut, inserted): whenever the direct path answers, the general
    /// decoder gives the same sample; whenever the general decoder refuses, the direct path steps aside.
    @Test func damagedPayloadsNeverMakeTheTwoDisagree() {
        var rng = SeededRandom(seed: 42)
        let base = RecordCodec.encode(Self.sample, same: [false, true, false, false, false, false, false, false, false])
        var answered = 0
        for _ in 0..<20_000 {
            var p = base
            switch rng.next() % 3 {
            case 0:
                for _ in 0..<(1 + rng.next() % 3) { p[Int(rng.next() % UInt64(p.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            case 1:
                p.removeLast(Int(rng.next() % UInt64(p.count)))
            default:
                p.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(p.count)))
            }
            let r = both(p)
            if let fast = r.fast {
                answered += 1
                #expect(fast == r.general, "payload \(p)")
                #expect(r.fastSame == r.generalSame)
            }
        }
        #expect(answered > 1000, "the direct path answered only \(answered) of the mutations")
    }

    /// Through `SampleDecoder` (references resolved), a bundle's samples are the ones written.
    @Test func theDecoderResolvesReferencesOnTheDirectPath() throws {
        var decoder = SampleDecoder(window: 4)
        var s2 = Self.sample
        s2.sequence = 8
        let same = [true, false, true, false, false, true, false, false, false]
        let a = try decoder.decode(RecordCodec.encode(Self.sample))
        let b = try decoder.decode(RecordCodec.encode(s2, same: same))
        #expect(a == Self.sample)
        #expect(b.files.map(\.bytes) == s2.files.map(\.bytes))
        #expect(decoder.resolved == 3 && decoder.unresolved == 0)
    }
}
