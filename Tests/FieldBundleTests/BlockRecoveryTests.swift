import CZstd
import FieldBundle
import FieldModel
import Glibc
import Testing

/// A damaged bundle yields every record zstd can decode before the damage. The reader must agree with a reference
/// that feeds zstd one byte per call (each block then comes out of the call that completes it, and the error out of
/// a call of its own) and frames records from what came out.
@Suite struct BlockRecoveryTests {
    /// Intact records in what a byte-per-call decode of `bundle` produces.
    static func referenceCount(_ bundle: [UInt8], maxRecordBytes: Int = ReadLimits.default.maxRecordBytes) -> Int {
        let dctx = ZSTD_createDCtx()!
        defer { ZSTD_freeDCtx(dctx) }
        _ = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, ReadLimits.default.maxWindowLog)
        var stream: [UInt8] = []
        var out = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        bytes: for i in 0..<bundle.count {
            // The byte, then calls without input for as long as the output buffer comes back full.
            var fed = 0, full = true
            while fed == 0 || full {
                let (rc, produced, consumed) = bundle.withUnsafeBytes { src in
                    out.withUnsafeMutableBytes { dst in
                        var inBuf = ZSTD_inBuffer(src: src.baseAddress! + i, size: 1, pos: fed)
                        var outBuf = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                        let rc = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
                        return (rc, outBuf.pos, inBuf.pos)
                    }
                }
                if ZSTD_isError(rc) != 0 { break bytes }
                stream += out[0..<produced]
                full = produced == out.count
                if consumed == 0 && produced == 0 { break bytes }  // the byte refused: the decoder is stuck
                fed = consumed
            }
        }
        guard stream.count >= 8, stream.starts(with: Array("FIELDB".utf8)), stream[6] == 1 else { return 0 }
        var at = 8, count = 0
        while at + 5 <= stream.count {
            let length = Int(stream[at]) | Int(stream[at + 1]) << 8 | Int(stream[at + 2]) << 16 | Int(stream[at + 3]) << 24
            guard length <= maxRecordBytes, at + 9 + length <= stream.count else { break }
            let end = at + 5 + length
            let stored = UInt32(stream[end]) | UInt32(stream[end + 1]) << 8 | UInt32(stream[end + 2]) << 16 | UInt32(stream[end + 3]) << 24
            guard CRC32C.checksum(Array(stream[at..<end])) == stored else { break }
            count += 1
            if stream[at + 4] == RecordType.end.rawValue { break }
            at = end + 4
        }
        return count
    }

    /// Many small samples (a zstd block per flush) and a few large ones (blocks of a full 128 KiB).
    static func bundle(_ dir: String) throws -> [UInt8] {
        var rng = SeededRandom(seed: 77)
        var records: [Written] = []
        for i in 0..<80 {
            var files = [FileCapture(path: "/proc/1/status", bytes: Array("VmRSS:\t\(UInt32.random(in: 0...99_999, using: &rng)) kB\n".utf8))]
            if i % 20 == 19 {
                let line = randomBytes(3_000, &rng, text: true)
                files.append(FileCapture(path: "/proc/1/maps", bytes: Array([[UInt8]](repeating: line, count: 100).joined())))
            }
            records.append(.sample(Sample(sequence: UInt64(i), wallNanos: Int64(i), monoNanos: UInt64(i), files: files)))
        }
        var offsets: [UInt64] = []
        return readAll(try writeBundle(dir + "/b.zst", records, flushOffsets: &offsets))
    }

    @Test func damagedBundlesYieldEveryBlockBeforeTheDamage() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let intact = try Self.bundle(dir)
        var rng = SeededRandom(seed: 4242)
        var short: [String] = []
        for n in 0..<300 {
            var d = intact
            let at = Int.random(in: 0..<d.count, using: &rng)
            switch n % 3 {
            case 0: d[at] ^= 1 << UInt8.random(in: 0...7, using: &rng)
            case 1: d.insert(contentsOf: randomBytes(Int.random(in: 1...40, using: &rng), &rng, text: false), at: at)
            default: d.removeSubrange(at..<min(d.count, at + Int.random(in: 1...40, using: &rng)))
            }
            let expected = Self.referenceCount(d)
            let memory = BundleReader(bytes: d)
            let fromMemory = readRecords(memory).count
            let path = dir + "/d.zst"
            let f = fopen(path, "wb")!
            fwrite(d, 1, d.count, f)
            fclose(f)
            let file = try BundleReader(path: path)
            let fromFile = readRecords(file).count
            if fromMemory != expected || fromFile != expected {
                short.append("case \(n) (damage at \(at)): \(expected) intact, read \(fromMemory) from memory, \(fromFile) from the file")
            }
            // Whatever it read, the reader says why it stopped (a flipped bit zstd does not notice may leave it whole).
            #expect(memory.damage != nil || memory.isComplete)
        }
        #expect(short.isEmpty, "\(short.count) of 300 damaged bundles lost intact records:\n\(short.prefix(8).joined(separator: "\n"))")
    }

    /// The stream limit delivers every record that ends within it, then says the limit stopped it.
    @Test func streamLimitDeliversEveryRecordWithinIt() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let intact = try Self.bundle(dir)
        let all = readRecords(BundleReader(bytes: intact))
        let total = all.last.map { $0.offset + UInt64($0.payload.count) + 9 } ?? 0
        for limit: UInt64 in [8, 100, total / 7, total / 3, total / 2, total - 1] {
            let reader = BundleReader(bytes: intact, limits: ReadLimits(maxStreamBytes: limit))
            let got = readRecords(reader)
            let within = all.filter { $0.offset + UInt64($0.payload.count) + 9 <= limit }
            #expect(got == within, "limit \(limit): \(got.count) records, \(within.count) end within it")
            #expect(reader.damage?.kind == .limit, "limit \(limit): \(String(describing: reader.damage))")
            #expect(reader.streamBytes == limit)
        }
    }
}
