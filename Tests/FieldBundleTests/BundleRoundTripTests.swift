import FieldBundle
import FieldModel
import Glibc
import Testing

@Suite struct BundleRoundTripTests {
    /// Random record sequences come back exactly, typed and raw.
    @Test(arguments: 0..<40)
    func randomSequencesRoundTrip(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) &* 7919 &+ 1)
        var written: [Written] = []
        for i in 0..<Int.random(in: 0...12, using: &rng) {
            switch Int.random(in: 0...3, using: &rng) {
            case 0, 1: written.append(.sample(randomSample(UInt64(i), &rng)))
            case 2:
                written.append(
                    .event(EventBatch(wallNanos: Int64(i), monoNanos: UInt64(i), source: "/dev/kmsg",
                        lines: (0..<Int.random(in: 0...4, using: &rng)).map { _ in randomBytes(Int.random(in: 0...200, using: &rng), &rng, text: true) })))
            default:
                if Bool.random(using: &rng) {
                    written.append(.stats(AgentStats(wallNanos: Int64(i), monoNanos: UInt64(i), rssBytes: UInt64.random(in: 0...1 << 40, using: &rng), samples: UInt64(i))))
                } else {
                    // A record type this version does not know, with a CBOR map payload: readers must skip it.
                    var e = CBOREncoder()
                    e.beginMap(1); e.encode("future"); e.encode(bytes: randomBytes(50, &rng, text: false))
                    written.append(.raw(UInt8.random(in: 7...255, using: &rng), e.bytes))
                }
            }
        }
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var offsets: [UInt64] = []
        let path = try writeBundle(dir + "/b.zst", written, flushOffsets: &offsets)
        #expect(access(dir + "/b.zst.open", F_OK) != 0, "the .open name is gone after close")

        let reader = try BundleReader(path: path)
        let records = readRecords(reader)
        #expect(reader.damage == nil)
        #expect(reader.isComplete)
        #expect(records.count == written.count + 2)
        #expect(records.first?.type == .header)
        var header = testHeader()
        header.sameWindow = WriterOptions.device.sameWindow
        #expect(try RecordCodec.decodeHeader(records[0].payload) == header)
        var samples = SampleDecoder(header: header)
        for (r, w) in zip(records.dropFirst(), written) {
            switch w {
            case .sample(let s): #expect(try samples.decode(r.payload) == s)
            case .event(let e): #expect(try RecordCodec.decodeEvent(r.payload) == e)
            case .stats(let s): #expect(try RecordCodec.decodeStats(r.payload) == s)
            case .raw(let t, let p):
                #expect(r.type.rawValue == t)
                #expect(r.payload == p)
            }
        }
        let end = try RecordCodec.decodeEnd(records.last!.payload)
        #expect(records.last?.type == .end)
        #expect(end.reason == "shutdown")
        #expect(end.counts.reduce(0) { $0 + $1.count } == UInt64(written.count + 1))
        // Offsets are contiguous frames after the 8-byte preamble.
        var expected: UInt64 = 8
        for r in records {
            #expect(r.offset == expected)
            expected += UInt64(9 + r.payload.count)
        }
    }

    /// Unknown fields in known records are ignored; a v1.x header still decodes.
    @Test func unknownFieldsAreIgnored() throws {
        var e = CBOREncoder()
        e.beginMap(7)
        e.encode("format"); e.encode(UInt64(1))
        e.encode("agent"); e.encode("fieldagent 1.7")
        e.encode("backend"); e.encode("qnx")
        e.encode("device"); e.encode("d1")
        e.encode("wall_ns"); e.encode(Int64(-1))
        e.encode("mono_ns"); e.encode(UInt64(9))
        e.encode("new_field"); e.beginArray(2); e.encode(true); e.encodeNull()
        let h = try RecordCodec.decodeHeader(e.bytes)
        #expect(h.backend == "qnx")
        #expect(h.wallNanos == -1)
        #expect(h.plan.isEmpty)
    }

    @Test func missingRequiredFieldIsASchemaError() {
        var e = CBOREncoder()
        e.beginMap(1); e.encode("seq"); e.encode(UInt64(1))
        #expect(throws: BundleError.self) { try RecordCodec.decodeSample(e.bytes) }
    }

    @Test func closedBundleIsAValidZstdFrame() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var rng = SeededRandom(seed: 3)
        var offsets: [UInt64] = []
        let path = try writeBundle(dir + "/z.zst", [.sample(randomSample(0, &rng))], flushOffsets: &offsets)
        let bytes = readAll(path)
        // zstd frame magic 0xFD2FB528, little endian.
        #expect(Array(bytes.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])
        #expect(system("zstd -tq '\(path)'") == 0)
        #expect(system("zstd -dc '\(path)' | head -c 6 | grep -q FIELDB") == 0)
    }

    /// Closing never replaces an existing bundle of the same name: the new data stays in its `.open` file.
    @Test func closeNeverReplacesAnExistingBundle() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var offsets: [UInt64] = []
        var rng = SeededRandom(seed: 21)
        let first = try writeBundle(dir + "/same.zst", [.sample(randomSample(0, &rng))], flushOffsets: &offsets)
        let before = readAll(first)
        let w = try BundleWriter(path: dir + "/same.zst", header: testHeader())
        #expect(throws: BundleError.self) { try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0) }
        #expect(readAll(first) == before)
        #expect(access(dir + "/same.zst.open", F_OK) == 0)
    }

    @Test func writerRefusesToOverwriteAnOpenBundle() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let w = try BundleWriter(path: dir + "/x.zst", header: testHeader())
        #expect(throws: BundleError.self) { try BundleWriter(path: dir + "/x.zst", header: testHeader()) }
        _ = w
    }

    @Test func unwritableDirectoryGivesAClearError() {
        do {
            _ = try BundleWriter(path: "/nonexistent-dir/x.zst", header: testHeader())
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .io)
            #expect(error.message.contains("/nonexistent-dir/x.zst.open"))
        }
    }

    @Test(arguments: FsyncPolicy.allCases)
    func everyFsyncPolicyProducesTheSameRecords(policy: FsyncPolicy) throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var rng = SeededRandom(seed: 11)
        let samples = (0..<3).map { Written.sample(randomSample(UInt64($0), &rng)) }
        var offsets: [UInt64] = []
        let path = try writeBundle(dir + "/p.zst", samples, options: WriterOptions(fsync: policy), flushOffsets: &offsets)
        let reader = try BundleReader(path: path)
        #expect(readRecords(reader).count == 5)
        #expect(reader.isComplete)
    }

    /// A record over the limit is refused (a sample is split instead: SamplePartsTests), and the writer goes on.
    @Test func oversizeRecordIsRefusedByTheWriter() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let w = try BundleWriter(path: dir + "/o.zst", header: testHeader(), options: WriterOptions(maxRecordBytes: 4096))
        #expect(throws: BundleError.self) {
            try w.append(EventBatch(wallNanos: 0, monoNanos: 0, source: "/dev/kmsg", lines: [[UInt8](repeating: 1, count: 5000)]))
        }
        // A sample entry whose path alone passes the limit cannot be cut to fit.
        #expect(throws: BundleError.self) {
            try w.append(Sample(sequence: 0, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/" + String(repeating: "p", count: 5000))]))
        }
        try w.append(Sample(sequence: 1, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/big", bytes: [UInt8](repeating: 1, count: 5000))]))
        try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        let r = try BundleReader(path: dir + "/o.zst")
        #expect(readRecords(r).map(\.type) == [.header, .sample, .end])
    }
}
