import FieldBundle
import FieldModel
import Glibc
import Testing

/// A small bundle and the compressed offset at which each record became readable.
private struct SmallBundle {
    var bytes: [UInt8]
    var records: [RawRecord]
    /// `readableAt[i]`: compressed bytes needed before record i can be decoded.
    var readableAt: [UInt64]

    static func make(close: Bool = true, samples: Int = 4) throws -> SmallBundle {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var rng = SeededRandom(seed: 99)
        var written: [Written] = []
        for i in 0..<samples {
            written.append(.sample(randomSample(UInt64(i), &rng)))
            if i == 1 { written.append(.event(EventBatch(wallNanos: 1, monoNanos: 2, source: "/dev/kmsg", lines: [Array("Out of memory".utf8)]))) }
        }
        var offsets: [UInt64] = []
        let path = try writeBundle(dir + "/s.zst", written, close: close, flushOffsets: &offsets)
        let bytes = readAll(path)
        let all = readRecords(BundleReader(bytes: bytes))
        // Header at offsets[0], record i+1 at offsets[i+1]; the end record is in the last block, which only the
        // frame's 4-byte content checksum follows.
        var readableAt = offsets
        if close { readableAt.append(UInt64(bytes.count - 4)) }
        return SmallBundle(bytes: bytes, records: all, readableAt: readableAt)
    }
}

@Suite struct DamageTests {
    /// Every cut of a closed bundle yields exactly the records that were fully flushed before the cut.
    @Test func everyTruncationYieldsThePrefixOfIntactRecords() throws {
        let b = try SmallBundle.make()
        #expect(b.records.count == b.readableAt.count)
        for cut in 0...b.bytes.count {
            let reader = BundleReader(bytes: Array(b.bytes[0..<cut]))
            let got = readRecords(reader)
            let expected = b.readableAt.filter { $0 <= UInt64(cut) }.count
            #expect(got.count == expected, "cut at \(cut) of \(b.bytes.count)")
            #expect(got == Array(b.records.prefix(got.count)), "cut at \(cut): a record differs from the original")
            if cut == b.bytes.count {
                #expect(reader.damage == nil && reader.isComplete)
            } else {
                let kind = reader.damage?.kind
                #expect(kind == .truncated || kind == .incomplete, "cut at \(cut): \(String(describing: reader.damage))")
                #expect(reader.damage?.records == got.count)
                #expect(!reader.isComplete)
            }
        }
    }

    /// A bundle left `.open` by a crash reads fully and is reported incomplete, not damaged.
    @Test func crashedBundleIsIncompleteWithEveryFlushedRecord() throws {
        let b = try SmallBundle.make(close: false)
        let reader = BundleReader(bytes: b.bytes)
        let got = readRecords(reader)
        #expect(got.count == 6)  // header, 4 samples, 1 event
        #expect(reader.damage?.kind == .incomplete)
        #expect(reader.damage?.discardedBytes == 0)
    }

    /// Every single flipped byte is either reported, or harmless (the records read are exactly the originals).
    /// Never is a wrong record delivered.
    @Test func flippedBytesAreDetected() throws {
        let b = try SmallBundle.make()
        var harmless: [Int] = []
        var trials = 0
        for pos in 0..<b.bytes.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = b.bytes
                damaged[pos] ^= mask
                trials += 1
                let reader = BundleReader(bytes: damaged)
                let got = readRecords(reader)
                let intact = got == Array(b.records.prefix(got.count))
                #expect(intact, "flip \(mask) at \(pos) delivered a wrong record")
                if reader.damage == nil {
                    #expect(got.count == b.records.count && reader.isComplete, "flip \(mask) at \(pos) lost records silently")
                    harmless.append(pos)
                }
            }
        }
        // A flip goes unreported only when the data still decodes to the very same stream, which zstd's XXH64 content
        // checksum confirms at the frame's end: bits zstd never reads (bitstream padding, the window size when the
        // data fits either way). Those are redundancy, not damage; they stay rare.
        #expect(harmless.count * 100 < trials, "\(harmless.count) of \(trials) flips changed nothing: \(harmless)")
    }

    @Test func garbageAndEmptyInputAreReportedNotCrashed() {
        for input: [UInt8] in [[], [0x28, 0xB5, 0x2F], Array("hello, not a bundle at all".utf8), [UInt8](repeating: 0, count: 10_000)] {
            let reader = BundleReader(bytes: input)
            #expect(reader.next() == nil)
            #expect(reader.damage != nil)
        }
    }

    @Test func wrongMagicIsCorrupt() throws {
        let b = try SmallBundle.make()
        // Rewrite the stream with a different magic and recompress with the zstd tool.
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let f = fopen(dir + "/s.zst", "wb")!
        fwrite(b.bytes, 1, b.bytes.count, f)
        fclose(f)
        #expect(system("zstd -dc \(dir)/s.zst | sed '1s/^FIELDB/FIELDX/' | zstd -q -c > \(dir)/x.zst") == 0)
        let reader = try BundleReader(path: dir + "/x.zst")
        #expect(reader.next() == nil)
        #expect(reader.damage?.kind == .corrupt)
    }

    @Test func recordLimitStopsWithALimitDamage() throws {
        let b = try SmallBundle.make()
        let biggest = b.records.map(\.payload.count).max()!
        let reader = BundleReader(bytes: b.bytes, limits: ReadLimits(maxRecordBytes: biggest - 1))
        let got = readRecords(reader)
        #expect(reader.damage?.kind == .limit)
        #expect(got.allSatisfy { $0.payload.count < biggest })
    }

    @Test func streamLimitStopsADecompressionBomb() throws {
        // 1 GiB of zeros compresses to a few KiB; the reader must stop at its stream limit, not allocate.
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        #expect(system("(printf 'FIELDB\\001\\000'; head -c 1073741824 /dev/zero) | zstd -q -1 -c > \(dir)/bomb.zst") == 0)
        let reader = try BundleReader(path: dir + "/bomb.zst", limits: ReadLimits(maxRecordBytes: 1 << 20, maxStreamBytes: 32 << 20))
        #expect(reader.next() == nil)
        // The zero length prefix makes a stream of empty records with bad checksums; either stop is acceptable
        // as long as the reader stopped early and said why.
        #expect(reader.damage != nil)
        #expect(reader.streamBytes <= 32 << 20)
    }

    @Test func windowLargerThanTheLimitIsRefused() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var offsets: [UInt64] = []
        var rng = SeededRandom(seed: 5)
        // A window of 2^24 with content larger than 2^20, read with a 2^20 limit.
        let big = Sample(sequence: 0, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/x", bytes: randomBytes(3 << 20, &rng, text: true))])
        let path = try writeBundle(dir + "/w.zst", [.sample(big)], options: WriterOptions(windowLog: 24), flushOffsets: &offsets)
        let reader = try BundleReader(path: path, limits: ReadLimits(maxWindowLog: 20))
        _ = readRecords(reader)
        #expect(reader.damage?.kind == .limit)
    }

    @Test func dataAfterTheEndRecordIsReported() throws {
        let b = try SmallBundle.make()
        // Two closed bundles concatenated: a valid zstd stream, but records after an end record.
        let reader = BundleReader(bytes: b.bytes + b.bytes)
        let got = readRecords(reader)
        #expect(got == b.records)
        #expect(reader.damage?.kind == .corrupt)
    }

    /// Memory stays bounded by the largest record, not the bundle: many records through a small window.
    @Test func readerMemoryIsBoundedByRecordSize() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var rng = SeededRandom(seed: 8)
        // Every sample stored whole (no references to the previous capture): the stream itself must be large.
        let w = try BundleWriter(path: dir + "/m.zst", header: testHeader(), options: WriterOptions(sameWindow: 0))
        let content = randomBytes(60_000, &rng, text: true)
        for i in 0..<2000 {
            try w.append(Sample(sequence: UInt64(i), wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/p", bytes: content)]))
        }
        try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        let reader = try BundleReader(path: dir + "/m.zst")
        var n = 0
        while reader.next() != nil { n += 1 }
        #expect(n == 2002)
        #expect(reader.streamBytes > 100_000_000)
        #expect(reader.peakBufferedBytes < 1 << 20, "buffered \(reader.peakBufferedBytes) bytes")
    }
}

@Suite struct ReaderDrainTests {
    /// The last input chunk may decompress to much more than one output buffer: zstd holds the rest internally and
    /// the reader must drain it at end of input instead of reporting the bundle short.
    @Test(arguments: [1, 3, 8])
    func highlyCompressibleTailIsReadCompletely(megabytes: Int) throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let text = Array(String(repeating: "VmSize:\t  123456 kB\n", count: megabytes * 52_429).utf8)
        let w = try BundleWriter(path: dir + "/t.zst", header: testHeader())
        try w.append(Sample(sequence: 0, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/proc/1/status", bytes: text)]))
        try w.append(Sample(sequence: 1, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/proc/1/status", bytes: text)]))
        let path = try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        for reader in [try BundleReader(path: path), BundleReader(bytes: readAll(path))] {
            let got = readRecords(reader)
            #expect(got.count == 4, "damage: \(String(describing: reader.damage))")
            #expect(reader.isComplete)
        }
        // A crash-like file (no end) must also give both samples.
        let w2 = try BundleWriter(path: dir + "/u.zst", header: testHeader())
        try w2.append(Sample(sequence: 0, wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/proc/1/status", bytes: text)]))
        let open = BundleReader(bytes: readAll(w2.openPath))
        #expect(readRecords(open).count == 2)
        #expect(open.damage?.kind == .incomplete)
    }
}

extension ReaderDrainTests {
    /// Uneven sample sizes make uneven zstd blocks, so the final block often arrives while the output buffer is
    /// partly full. Every record must still come out, from a file, from memory, closed or not.
    @Test(arguments: 0..<6)
    func unevenBlocksAreDrainedAtEndOfInput(seed: Int) throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var rng = SeededRandom(seed: UInt64(seed) + 1000)
        let w = try BundleWriter(path: dir + "/v.zst", header: testHeader())
        let n = 12
        for i in 0..<n {
            // Text-like content: compressible, but not trivially.
            let words = (0..<Int.random(in: 5_000...40_000, using: &rng)).map { _ in "w\(UInt16.random(in: 0...300, using: &rng)) " }
            try w.append(Sample(sequence: UInt64(i), wallNanos: 0, monoNanos: 0, files: [FileCapture(path: "/x", bytes: Array(words.joined().utf8))]))
        }
        let open = readAll(w.openPath)
        let path = try w.close(reason: "shutdown", wallNanos: 0, monoNanos: 0)
        for reader in [try BundleReader(path: path), BundleReader(bytes: readAll(path))] {
            #expect(readRecords(reader).count == n + 2, "closed: \(String(describing: reader.damage))")
            #expect(reader.isComplete, "closed: \(String(describing: reader.damage))")
        }
        let crashed = BundleReader(bytes: open)
        #expect(readRecords(crashed).count == n + 1, "open: \(String(describing: crashed.damage))")
    }
}
