import CFieldPlatform
import CZstd

/// Bounds a reader holds to, whatever the input claims: protection against decompression bombs and garbage.
public struct ReadLimits: Sendable, Hashable {
    /// Largest record payload accepted, bytes.
    public var maxRecordBytes: Int
    /// Largest decompressed stream accepted, bytes.
    public var maxStreamBytes: UInt64
    /// Largest zstd window accepted (log2); a frame asking for more is refused before any allocation.
    public var maxWindowLog: Int32

    /// 64 MiB records, 64 GiB streams, 128 MiB windows (zstd's own default limit).
    public static let `default` = ReadLimits()

    /// Creates limits.
    public init(maxRecordBytes: Int = 64 << 20, maxStreamBytes: UInt64 = 64 << 30, maxWindowLog: Int32 = 27) {
        // Headroom for the frame around a record, so that header + payload + trailer never overflows an Int.
        self.maxRecordBytes = min(maxRecordBytes, Int.max - 64)
        self.maxStreamBytes = maxStreamBytes
        self.maxWindowLog = maxWindowLog
    }
}

/// One framed record as read: type, payload, and where it sat in the decompressed stream.
public struct RawRecord: Sendable, Hashable {
    /// Index of the record in the bundle, from 0.
    public var index: Int
    /// Offset of the frame's first byte in the decompressed stream.
    public var offset: UInt64
    /// The type byte.
    public var type: RecordType
    /// The CBOR payload, checksum verified.
    public var payload: [UInt8]

    /// Creates a record (readers make these; tests and tools may too).
    public init(index: Int, offset: UInt64, type: RecordType, payload: [UInt8]) {
        self.index = index
        self.offset = offset
        self.type = type
        self.payload = payload
    }
}

/// What stopped a reader before a clean end, and what it cost.
public struct Damage: Sendable, Hashable, CustomStringConvertible {
    /// Broad classes, stable in JSON output.
    public enum Kind: String, Sendable, Hashable {
        /// The input ends early: inside a record, or after the last record but before the zstd frame's end.
        case truncated
        /// Bytes are wrong: zstd error, checksum mismatch, bad magic, malformed payload, data after the end record.
        case corrupt
        /// A configured limit (record size, stream size, window) was exceeded.
        case limit
        /// The stream stopped cleanly between records but has no end record: a bundle that was never closed
        /// (agent killed or power lost); everything written up to the last flush was read.
        case incomplete
    }

    /// Class of the damage.
    public var kind: Kind
    /// Human explanation.
    public var reason: String
    /// Intact records delivered before the damage (the index of the first record lost).
    public var records: Int
    /// Decompressed offset of the first byte not delivered as part of an intact record.
    public var offset: UInt64
    /// Decompressed bytes after `offset` that were decoded but not usable.
    public var discardedBytes: UInt64
    /// Compressed bytes consumed when reading stopped.
    public var compressedOffset: UInt64
    /// Size of the compressed input, when known (a regular file).
    public var compressedSize: UInt64?

    /// Creates a damage report.
    public init(
        kind: Kind, reason: String, records: Int, offset: UInt64, discardedBytes: UInt64, compressedOffset: UInt64,
        compressedSize: UInt64?
    ) {
        self.kind = kind
        self.reason = reason
        self.records = records
        self.offset = offset
        self.discardedBytes = discardedBytes
        self.compressedOffset = compressedOffset
        self.compressedSize = compressedSize
    }

    /// Compressed bytes that could not be used at all, when the input size is known.
    public var unreadCompressedBytes: UInt64? { compressedSize.map { $0 > compressedOffset ? $0 - compressedOffset : 0 } }

    public var description: String {
        var s = "\(kind.rawValue): \(reason); \(records) intact records up to stream byte \(offset)"
        if discardedBytes > 0 { s += ", \(discardedBytes) decoded bytes after it discarded" }
        if let u = unreadCompressedBytes, u > 0 { s += ", \(u) compressed bytes unread" }
        return s
    }
}

/// Reads a bundle record by record, in bounded memory, delivering every intact record before any damage.
///
/// Memory stays under the largest record plus the zstd window plus two 128 KiB buffers whatever the bundle's
/// size. `next()` returns nil at the end of the stream or at the first damage; `damage` then says which.
/// It never traps on input: every failure is a `Damage`.
public final class BundleReader {
    /// Name used in messages.
    public let name: String
    /// Limits in force.
    public let limits: ReadLimits
    /// Stream format version, known once the magic was read.
    public private(set) var format: FormatVersion?
    /// Why reading stopped early, if it did.
    public private(set) var damage: Damage?
    /// True after the end record was read and the zstd frame ended cleanly.
    public private(set) var isComplete = false
    /// Intact records delivered so far.
    public private(set) var recordCount = 0
    /// Decompressed bytes produced so far.
    public private(set) var streamBytes: UInt64 = 0
    /// Compressed bytes consumed so far.
    public private(set) var compressedBytes: UInt64 = 0
    /// Size of the input, when known.
    public let compressedSize: UInt64?
    /// Most decompressed bytes held at once (the bounded-memory promise, observable).
    public private(set) var peakBufferedBytes = 0

    private let source: Source
    private let dctx: OpaquePointer
    private var input: [UInt8]
    private var inputPos = 0
    private var inputEnd = 0
    private var sourceDone = false
    /// zstd returned 0: a frame ended and no partial frame is pending.
    private var frameEnded = false
    /// Decompressed bytes not yet consumed as records: `pending[pendingStart...]`.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    /// Stream offset of `pending[pendingStart]`.
    private var pendingOffset: UInt64 = 0
    private var sawEnd = false
    private var stopped = false
    private var output: [UInt8]

    private enum Source {
        case file(fd: Int32, path: String)
        case memory([UInt8])
    }

    /// Opens a bundle file; throws only if it cannot be opened.
    public convenience init(path: String, limits: ReadLimits = .default) throws(BundleError) {
        let fd = try Syscalls.open(path, O_RDONLY)
        if Syscalls.isDirectory(fd) {
            _ = CFieldPlatform.close(fd)
            throw BundleError(.io, "\(path) is a directory, not a bundle (give the bundle files inside it)", errno: EISDIR)
        }
        self.init(source: .file(fd: fd, path: path), name: path, size: Syscalls.fileSize(fd), limits: limits)
    }

    /// Reads a bundle held in memory.
    public convenience init(bytes: [UInt8], name: String = "<memory>", limits: ReadLimits = .default) {
        self.init(source: .memory(bytes), name: name, size: UInt64(bytes.count), limits: limits)
    }

    private init(source: Source, name: String, size: UInt64?, limits: ReadLimits) {
        self.source = source
        self.name = name
        self.limits = limits
        self.compressedSize = size
        self.dctx = ZSTD_createDCtx()
        self.input = [UInt8](repeating: 0, count: ZSTD_DStreamInSize())
        self.output = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        if case .memory(let bytes) = source {
            input = bytes
            inputEnd = bytes.count
            sourceDone = true
        }
        _ = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, limits.maxWindowLog)
    }

    deinit {
        if case .file(let fd, _) = source { _ = CFieldPlatform.close(fd) }
        ZSTD_freeDCtx(dctx)
    }

    /// The next intact record, or nil at the end or at the first damage (see `damage`).
    public func next() -> RawRecord? {
        guard !stopped else { return nil }
        if format == nil {
            guard fill(StreamLayout.preambleSize) else { return finishShort(needing: StreamLayout.preambleSize) }
            let pre = Array(pending[pendingStart..<pendingStart + StreamLayout.preambleSize])
            guard Array(pre[0..<6]) == StreamLayout.magic else {
                return fail(.corrupt, "not a field bundle: the stream does not start with FIELDB", discarded: true)
            }
            guard pre[6] == FormatVersion.current.major else {
                return fail(.corrupt, "bundle format major version \(pre[6]) is not supported by this reader (1)", discarded: true)
            }
            format = FormatVersion(major: pre[6], minor: pre[7])
            consume(StreamLayout.preambleSize)
        }
        guard fill(StreamLayout.frameHeaderSize) else { return finishShort(needing: StreamLayout.frameHeaderSize) }
        if sawEnd {
            return fail(.corrupt, "data follows the end record", discarded: true)
        }
        let h = pendingStart
        // Assembled as UInt32 and compared as UInt64: an Int of 32 bits would turn a length of 2 GiB or more
        // negative, pass the limit check and trap further down (a damaged bundle on an ARMv7 device).
        let claimed =
            UInt32(pending[h]) | UInt32(pending[h + 1]) << 8 | UInt32(pending[h + 2]) << 16 | UInt32(pending[h + 3]) << 24
        let type = RecordType(rawValue: pending[h + 4])
        guard UInt64(claimed) <= UInt64(max(limits.maxRecordBytes, 0)) else {
            return fail(
                .limit,
                "record \(recordCount) claims \(claimed) payload bytes, over the \(limits.maxRecordBytes)-byte limit "
                    + "(damaged length, or raise the record limit)", discarded: true)
        }
        let length = Int(claimed)
        let total = StreamLayout.frameHeaderSize + length + StreamLayout.frameTrailerSize
        guard fill(total) else { return finishShort(needing: total) }
        let stored = pending.withUnsafeBytes { raw in
            raw.loadUnaligned(fromByteOffset: h + total - 4, as: UInt32.self).littleEndian
        }
        let computed = pending.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[h..<h + total - 4]))
        }
        guard stored == computed else {
            return fail(.corrupt, "record \(recordCount) (\(type), \(length) bytes) fails its checksum", discarded: true)
        }
        let record = RawRecord(
            index: recordCount, offset: pendingOffset, type: type,
            payload: Array(pending[h + StreamLayout.frameHeaderSize..<h + StreamLayout.frameHeaderSize + length]))
        consume(total)
        recordCount += 1
        if type == .end { sawEnd = true }
        return record
    }

    // MARK: Ending

    /// The input ran out (or failed) before `needed` pending bytes; decide what that means.
    private func finishShort(needing needed: Int) -> RawRecord? {
        if stopped { return nil }  // fill() already recorded a zstd or I/O failure
        let have = pending.count - pendingStart
        if sawEnd && have > 0 {
            return fail(.corrupt, "\(have) bytes follow the end record", discarded: true)
        }
        if have == 0 && frameEnded && format != nil {
            if sawEnd {
                isComplete = true
                stopped = true
                return nil
            }
            return fail(.incomplete, "the bundle has no end record (it was never closed)", discarded: false)
        }
        if have == 0 && format != nil {
            if sawEnd {
                return fail(.truncated, "the input ends before the zstd frame's end (its checksum is missing)", discarded: false)
            }
            return fail(
                .incomplete, "the bundle has no end record and its zstd frame is unfinished (it was never closed)",
                discarded: false)
        }
        let what = format == nil ? "the stream preamble" : "record \(recordCount)"
        return fail(.truncated, "the input ends inside \(what) (\(have) of \(needed) bytes present)", discarded: true)
    }

    private func fail(_ kind: Damage.Kind, _ reason: String, discarded: Bool) -> RawRecord? {
        stopped = true
        damage = Damage(
            kind: kind, reason: reason, records: recordCount, offset: pendingOffset,
            discardedBytes: discarded ? UInt64(pending.count - pendingStart) : 0,
            compressedOffset: compressedBytes, compressedSize: compressedSize)
        pending = []
        pendingStart = 0
        return nil
    }

    private func consume(_ n: Int) {
        pendingStart += n
        pendingOffset += UInt64(n)
        // Compact once the consumed prefix dominates, so memory stays bounded by one record plus one chunk.
        if pendingStart >= 1 << 16 && pendingStart * 2 >= pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
    }

    // MARK: Decompression

    /// Decompresses until `pending` holds `n` unconsumed bytes. False when the input ended or failed first.
    private func fill(_ n: Int) -> Bool {
        while pending.count - pendingStart < n {
            if stopped { return false }
            if inputPos == inputEnd {
                if !sourceDone && readInput() { continue }
                // End of input. zstd consumes a block's input in the call that decodes it, and may keep part of
                // that block's output when the output buffer filled up: hand it over before deciding anything.
                if drainStep() { continue }
                return false
            }
            if !decompressStep() { return false }
        }
        return true
    }

    private func readInput() -> Bool {
        guard case .file(let fd, let path) = source else { sourceDone = true; return false }
        do throws(BundleError) {
            let n = try input.withMutableBytes { (raw) throws(BundleError) -> Int in
                try Syscalls.read(fd, into: raw.baseAddress!, count: raw.count, path: path)
            }
            if n == 0 { sourceDone = true; return false }
            inputPos = 0
            inputEnd = n
            return true
        } catch {
            _ = fail(.truncated, error.message, discarded: true)
            return false
        }
    }

    /// At end of input, one call of the decompressor without input. True if it handed over more output.
    private func drainStep() -> Bool {
        guard !stopped else { return false }
        let before = streamBytes
        return decompressStep(atEnd: true) && streamBytes > before
    }

    /// One call of the decompressor on the buffered input; appends output to `pending`.
    private func decompressStep(atEnd: Bool = false) -> Bool {
        let before = inputPos
        let (rc, produced, consumedTo): (Int, Int, Int) = input.withUnsafeBytes { inRaw in
            output.withUnsafeMutableBytes { outRaw in
                var inBuf = ZSTD_inBuffer(src: inRaw.baseAddress, size: inputEnd, pos: inputPos)
                var outBuf = ZSTD_outBuffer(dst: outRaw.baseAddress, size: outRaw.count, pos: 0)
                let rc = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
                return (rc, outBuf.pos, inBuf.pos)
            }
        }
        inputPos = consumedTo
        compressedBytes += UInt64(consumedTo - before)
        if ZSTD_isError(rc) != 0 {
            let code = ZSTD_getErrorCode(rc)
            let text = String(cString: ZSTD_getErrorName(rc))
            if code == ZSTD_error_frameParameter_windowTooLarge {
                _ = fail(.limit, "the zstd frame needs a window over 2^\(limits.maxWindowLog) bytes (\(text))", discarded: true)
            } else {
                _ = fail(.corrupt, "zstd cannot decode the data (\(text))", discarded: true)
            }
            return false
        }
        if produced > 0 {
            if streamBytes + UInt64(produced) > limits.maxStreamBytes {
                _ = fail(.limit, "the stream exceeds the \(limits.maxStreamBytes)-byte limit", discarded: true)
                return false
            }
            streamBytes += UInt64(produced)
            if pendingStart == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingStart = 0
            }
            pending.append(contentsOf: output[0..<produced])
            peakBufferedBytes = max(peakBufferedBytes, pending.count)
        }
        // After a frame's end, an empty call answers "next frame header wanted" (non-zero): only a call that moved
        // data says anything about where the frame stands.
        if produced > 0 || consumedTo > before { frameEnded = rc == 0 }
        if rc != 0 && produced == 0 && consumedTo == before && !atEnd {
            // No progress with input available and room for output: the decoder is stuck on this data.
            _ = fail(.corrupt, "zstd made no progress on the data", discarded: true)
            return false
        }
        return true
    }
}
