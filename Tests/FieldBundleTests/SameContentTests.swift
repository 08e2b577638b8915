import CFieldCRC
import CZstd
import FieldBundle
import FieldModel
import Testing

/// Format 1.1: entries identical to their previous capture are stored as references and read back whole.
@Suite struct SameContentTests {
    /// Reads every sample of a bundle through a `SampleDecoder`; also counts the entries stored as `same`.
    func readBack(_ path: String) throws -> (samples: [Sample], stored: Int, decoder: SampleDecoder) {
        let reader = try BundleReader(path: path)
        var decoder = SampleDecoder(window: 0)
        var samples: [Sample] = []
        var stored = 0
        while let r = reader.next() {
            if r.type == .header { decoder = SampleDecoder(header: try RecordCodec.decodeHeader(r.payload)) }
            if r.type == .sample {
                let raw = try CBORDecoder.decode(r.payload)
                stored += (raw["files"]?.arrayValue ?? []).filter { $0["status"]?.string == "same" }.count
                samples.append(try decoder.decode(r.payload))
            }
        }
        #expect(reader.damage == nil)
        return (samples, stored, decoder)
    }

    func write(_ path: String, _ samples: [Sample], options: WriterOptions = .device) throws -> BundleWriter {
        let w = try BundleWriter(path: path, header: testHeader(), options: options)
        for s in samples { try w.append(s) }
        try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        return w
    }

    /// Paths whose content mostly repeats, sometimes changes, fails, disappears for a while or is cut at the size
    /// limit: every sample reads back exactly as written, and the repeats cost almost nothing.
    @Test func evolvingSamplesReadBackExactly() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var rng = SeededRandom(seed: 11)
        let paths = (0..<40).map { "/proc/\($0 / 4 + 100)/f\($0 % 4)" }
        let kinds = paths.map { _ in EntryKind.allCases.randomElement(using: &rng)! }
        var current = paths.map { _ in randomBytes(Int.random(in: 0...2000, using: &rng), &rng, text: true) }
        var samples: [Sample] = []
        for seq in 0..<200 {
            var files: [FileCapture] = []
            for (i, p) in paths.enumerated() {
                let roll = Int.random(in: 0..<100, using: &rng)
                if roll < 5 { continue }  // not read this time (deep tier, or the process is between lives)
                if roll < 10 {
                    files.append(FileCapture(path: p, kind: kinds[i], status: .missing, errno: 2))
                    continue
                }
                if roll < 30 { current[i] = randomBytes(Int.random(in: 0...2000, using: &rng), &rng, text: true) }
                files.append(FileCapture(path: p, kind: kinds[i], readNanos: UInt64(seq) * 1000, truncated: i % 7 == 0, bytes: current[i]))
            }
            samples.append(Sample(sequence: UInt64(seq), wallNanos: Int64(seq), monoNanos: UInt64(seq), files: files))
        }
        let with = try write(dir + "/same.zst", samples)
        let without = try write(dir + "/whole.zst", samples, options: WriterOptions(sameWindow: 0))
        let (back, stored, decoder) = try readBack(dir + "/same.zst")
        #expect(back == samples)
        #expect(decoder.unresolved == 0)
        #expect(stored > 200 * 40 / 2, "\(stored) entries stored as references")
        #expect(decoder.resolved == stored)
        #expect(with.streamBytes * 2 < without.streamBytes, "\(with.streamBytes) against \(without.streamBytes) stream bytes")
        let (whole, none, _) = try readBack(dir + "/whole.zst")
        #expect(whole == samples)
        #expect(none == 0)
    }

    /// A reference reaches back at most `same_window` sample records: older content is stored whole again.
    @Test func contentOlderThanTheWindowIsStoredWhole() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let file = FileCapture(path: "/proc/1/maps", bytes: Array("00400000-00401000 r-xp\n".utf8))
        let other = FileCapture(path: "/proc/meminfo", bytes: Array("MemFree: 1 kB\n".utf8))
        // The maps file is read in samples 0, 4 (4 back: beyond a window of 3) and 7 (3 back: within).
        let samples = (0..<8).map { i in
            Sample(sequence: UInt64(i), wallNanos: 0, monoNanos: 0, files: [0, 4, 7].contains(i) ? [other, file] : [other])
        }
        _ = try write(dir + "/w.zst", samples, options: WriterOptions(sameWindow: 3))
        let reader = try BundleReader(path: dir + "/w.zst")
        var statuses: [[String]] = []
        while let r = reader.next() {
            guard r.type == .sample else { continue }
            statuses.append((try CBORDecoder.decode(r.payload)["files"]?.arrayValue ?? []).map { $0["status"]?.string ?? "?" })
        }
        #expect(statuses[0] == ["ok", "ok"])
        #expect(statuses[1] == ["same"])
        #expect(statuses[4] == ["same", "ok"])
        #expect(statuses[7] == ["same", "same"])
        #expect(try readBack(dir + "/w.zst").samples == samples)
    }

    /// A sample the writer refused (an entry whose path alone passes the record limit, so that even a share of
    /// one entry cannot fit) leaves nothing behind: the next sample cannot refer to content that never reached
    /// the bundle.
    @Test func aRefusedSampleLeavesNoReference() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let w = try BundleWriter(path: dir + "/r.zst", header: testHeader(), options: WriterOptions(maxRecordBytes: 4096))
        let a = Sample(sequence: 0, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/p", bytes: Array("first".utf8))])
        let big = Sample(sequence: 1, wallNanos: 0, monoNanos: 0, files: [
            FileCapture(path: "/" + String(repeating: "q", count: 5000), bytes: [UInt8](repeating: 0x41, count: 8000)),
            FileCapture(path: "/p", bytes: Array("second".utf8)),
        ])
        let c = Sample(sequence: 2, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/p", bytes: Array("second".utf8))])
        try w.append(a)
        #expect(throws: BundleError.self) { try w.append(big) }
        try w.append(c)
        try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        #expect(try readBack(dir + "/r.zst").samples == [a, c])
    }

    /// On its own a sample payload cannot resolve its references: they read as failed reads, as in a 1.0 reader,
    /// never as empty content. A reference to nothing is counted and read the same way.
    @Test func referencesWithoutTheirCaptureReadAsErrors() throws {
        let s = Sample(sequence: 0, wallNanos: 0, monoNanos: 0, files: [
            FileCapture(path: "/proc/loadavg", bytes: Array("0.1\n".utf8)), FileCapture(path: "/proc/1/fd", kind: .directory, bytes: Array("0\n".utf8)),
        ])
        let payload = RecordCodec.encode(s, same: [true, true])
        let alone = try RecordCodec.decodeSample(payload)
        #expect(alone.files.map(\.status) == [.error, .error])
        #expect(alone.files.allSatisfy { $0.bytes.isEmpty })
        #expect(alone.files[1].kind == .directory)
        var decoder = SampleDecoder(window: 16)
        let resolved = try decoder.decode(payload)
        #expect(resolved.files.map(\.status) == [.error, .error])
        #expect(decoder.unresolved == 2)
        // A capture of another kind is not the same entry.
        var d2 = SampleDecoder(window: 16)
        _ = try d2.decode(RecordCodec.encode(Sample(sequence: 0, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/proc/1/fd", bytes: [0x30])])))
        let other = try d2.decode(RecordCodec.encode(Sample(sequence: 1, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/proc/1/fd", kind: .directory)]), same: [true]))
        #expect(other.files[0].status == .error)
        #expect(d2.unresolved == 1)
    }

    /// The fingerprint is XXH64: its low 32 bits are what zstd writes as a frame's content checksum (seed 0).
    @Test func fingerprintIsXXH64() throws {
        var rng = SeededRandom(seed: 5)
        let lengths = Array(0...70) + [127, 128, 129, 1000, 4096, 65_537, 300_001]
        guard let cctx = ZSTD_createCCtx() else { Issue.record("no zstd context"); return }
        defer { ZSTD_freeCCtx(cctx) }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        for n in lengths {
            let data = randomBytes(n, &rng, text: false)
            var out = [UInt8](repeating: 0, count: ZSTD_compressBound(n))
            let size = data.withUnsafeBytes { src in out.withUnsafeMutableBytes { dst in
                ZSTD_compress2(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count)
            } }
            #expect(ZSTD_isError(size) == 0)
            let checksum = UInt32(out[size - 4]) | UInt32(out[size - 3]) << 8 | UInt32(out[size - 2]) << 16 | UInt32(out[size - 1]) << 24
            let hash = data.withUnsafeBytes { field_hash64($0.baseAddress, $0.count, 0) }
            #expect(UInt32(truncatingIfNeeded: hash) == checksum, "length \(n)")
        }
        // Known value of the specification: the empty input with seed 0.
        #expect(field_hash64(nil, 0, 0) == 0xEF46_DB37_51D8_E999)
    }
}
