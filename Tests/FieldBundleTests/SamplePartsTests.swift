@testable import FieldBundle
import FieldModel
import Testing

/// Samples too large for one record (format 1.2): written in parts within the limit, joined back into exactly the
/// sample that was taken, and never handed on half.
@Suite struct SamplePartsTests {
    /// An instant of `processes` processes with a `maps` of about `mapsBytes` each, varying with `seq`.
    static func bigSample(_ seq: UInt64, processes: Int, mapsBytes: Int) -> Sample {
        var files = [FileCapture(path: "/proc/meminfo", bytes: Array("MemFree: \(1000 - seq) kB\n".utf8))]
        for pid in 1...processes {
            let line = "7f00\(pid)000-7f00\(pid)fff r-xp 00000000 08:01 \(pid) /usr/lib/libexample-\(pid).so\n"
            var maps = Array(String(repeating: line, count: max(1, mapsBytes / line.utf8.count)).utf8)
            if pid % 3 == Int(seq % 3) { maps += Array("dead0000-dead1000 rw-p 00000000 00:00 0 [seq \(seq)]\n".utf8) }
            files.append(FileCapture(path: "/proc/\(pid)/stat", bytes: Array("\(pid) (w\(pid)) S 1 \(seq)\n".utf8)))
            files.append(FileCapture(path: "/proc/\(pid)/maps", bytes: maps))
        }
        return Sample(sequence: seq, wallNanos: Int64(seq) * 1_000_000_000, monoNanos: seq * 1_000_000_000, files: files)
    }

    /// Writes `samples` with a record limit of `limit` bytes and reads them back: the records' sizes and the
    /// samples as `SampleDecoder` and `SampleAssembler` give them.
    static func roundTrip(_ samples: [Sample], limit: Int) throws -> (records: [Int], back: [Sample], joined: Int) {
        let dir = makeTempDirectory("parts")
        defer { removeTree(dir) }
        let path = dir + "/b.zst"
        var options = WriterOptions.device
        options.maxRecordBytes = limit
        let w = try BundleWriter(path: path, header: testHeader(), options: options)
        for s in samples { try w.append(s) }
        try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        let r = try BundleReader(path: path, limits: ReadLimits(maxRecordBytes: limit))
        var decoder = SampleDecoder(window: 0)
        var parts = SampleAssembler()
        var sizes: [Int] = []
        var back: [Sample] = []
        while let rec = r.next() {
            if rec.type == .header { decoder = SampleDecoder(header: try RecordCodec.decodeHeader(rec.payload)) }
            guard rec.type == .sample else { continue }
            sizes.append(rec.payload.count)
            if let whole = parts.add(try decoder.decode(rec.payload)) { back.append(whole) }
        }
        #expect(r.isComplete)
        parts.finish()
        #expect(parts.incomplete == 0)
        return (sizes, back, parts.joined)
    }

    /// A campaign's finding: past the record limit (about 3,900 ordinary processes) the agent dropped the whole
    /// sample and abandoned the bundle, at every deep sample. Here 300 processes with 8 KiB maps pass a 512 KiB
    /// limit; every instant comes back whole and equal, its records within the limit, references included.
    @Test func aSampleLargerThanTheRecordLimitIsWrittenInPartsAndReadWhole() throws {
        let samples = (0..<4).map { Self.bigSample($0, processes: 300, mapsBytes: 8 << 10) }
        let limit = 512 << 10
        #expect(RecordCodec.encode(samples[0]).count > 4 * limit)
        let r = try Self.roundTrip(samples, limit: limit)
        #expect(r.back == samples)
        #expect(r.joined == 4)
        #expect(r.records.count >= 4 * 5, "\(r.records)")
        #expect(r.records.allSatisfy { $0 <= limit })
        // Small samples in between are written whole, as before.
        let mixed = [samples[0], Self.bigSample(9, processes: 2, mapsBytes: 100), samples[1]]
        let m = try Self.roundTrip(mixed, limit: limit)
        #expect(m.back == mixed)
        #expect(m.joined == 2)
    }

    /// One entry larger than a record by itself (only with a limit below the agent's per-file limit) is cut to
    /// fit and marked truncated; the rest of the instant is kept.
    @Test func anEntryLargerThanARecordIsCutAndMarked() throws {
        var s = Self.bigSample(0, processes: 3, mapsBytes: 1000)
        s.files[2].bytes = [UInt8](repeating: 0x41, count: 200_000)
        let r = try Self.roundTrip([s], limit: 64 << 10)
        let back = try #require(r.back.first)
        #expect(back.files.count == s.files.count)
        #expect(back.files[2].truncated && back.files[2].bytes.count < 64 << 10 && back.files[2].bytes.count > 60_000)
        #expect(back.files.enumerated().allSatisfy { $0.offset == 2 || $0.element == s.files[$0.offset] })
    }

    /// A missing part (the writer stopped inside an instant, or a damaged record) leaves the instant out: half of
    /// it would look like processes that exited.
    @Test func anInstantWithAMissingPartIsLeftOutAndCounted() {
        func part(_ seq: UInt64, _ i: UInt32, more: Bool) -> Sample {
            Sample(sequence: seq, wallNanos: 0, monoNanos: seq, files: [FileCapture(path: "/proc/\(i)/stat")],
                part: SamplePart(index: i, more: more))
        }
        let whole = Sample(sequence: 9, wallNanos: 0, monoNanos: 9, files: [])
        var a = SampleAssembler()
        #expect(a.add(part(1, 0, more: true)) == nil)
        #expect(a.add(part(1, 2, more: false)) == nil)  // part 1 missing
        #expect(a.add(part(2, 1, more: true)) == nil)  // no beginning
        #expect(a.add(part(2, 2, more: false)) == nil)  // same instant: counted once
        #expect(a.add(part(3, 0, more: true)) == nil)
        #expect(a.add(whole) == whole)  // instant 3 never ended
        #expect(a.add(part(4, 0, more: true)) == nil)
        let four = a.add(part(4, 1, more: false))
        #expect(four?.files.count == 2 && four?.part == nil)
        #expect(a.add(part(5, 0, more: true)) == nil)
        a.finish()  // the bundle ended inside instant 5
        #expect(a.incomplete == 4)
        #expect(a.joined == 1)
    }

    /// Both decoders read the part fields alike, and agree where they are odd.
    @Test func bothDecodersReadParts() throws {
        var s = Self.bigSample(1, processes: 2, mapsBytes: 200)
        s.part = SamplePart(index: 3, more: true)
        let payload = RecordCodec.encode(s)
        var a: [Int] = [], b: [Int] = []
        let fast = try #require(SamplePayload.decode(payload, previous: [], same: &a))
        #expect(fast == s)
        #expect(try RecordCodec.decodeSample(payload, same: &b) == s)
        // `part` of the wrong type: the direct path steps aside and the general one refuses.
        var odd = payload
        let key = Array("part".utf8)
        let at = try #require((0..<(odd.count - key.count)).first { Array(odd[$0..<($0 + key.count)]) == key })
        odd[at + key.count] = 0x60  // an empty text string instead of the uint 3
        #expect(SamplePayload.decode(odd, previous: [], same: &a) == nil)
        #expect(throws: BundleError.self) { try RecordCodec.decodeSample(odd) }
    }
}
