import CFieldPlatform
import CZstd

/// Bounds a reader holds to, whatever the input claims: protection against decompression bombs and garbage.
public struct ReadLimits: Sendable, Hashable {
    /// Largest record payload accepted, bytes.
    public var maxRecordBytes: Int
    /// Largest decompressed stream accepted, bytes.
    public var maxStreamBytes: UInt64
    /// When the input's size is known, the stream may also grow to at most this many times that size (and always
    /// to `expansionFloor` bytes); nil for no such bound. A bundle of procfs text expands about 60 times (a week's
    /// soak: 1.3 GB to 60 GB), one whose every sample repeats the last (an idle device, an agent older than format
    /// 1.1's references) about 1,400 times; a bomb, tens of thousands of times (zstd turns 4 bytes into a 128 KiB
    /// block).
    public var maxExpansion: UInt64?
    /// Largest zstd window accepted (log2); a frame asking for more is refused before any allocation.
    public var maxWindowLog: Int32

    /// The stream any input may grow to under `maxExpansion`, however small it is.
    public static let expansionFloor: UInt64 = 64 << 20

    /// 64 MiB records, streams of at most 4,096 times the bundle's size (64 MiB at least, 64 GiB at most), 128 MiB
    /// windows (zstd's own default limit).
    public static let `default` = ReadLimits()

    /// Creates limits.
    public init(maxRecordBytes: Int = 64 << 20, maxStreamBytes: UInt64 = 64 << 30, maxExpansion: UInt64? = 4096,
                maxWindowLog: Int32 = 27) {
        // Headroom for the frame around a record, so that header + payload + trailer never overflows an Int.
        self.maxRecordBytes = min(maxRecordBytes, Int.max - 64)
        self.maxStreamBytes = maxStreamBytes
        self.maxExpansion = maxExpansion
        self.maxWindowLog = maxWindowLog
    }

    /// The largest stream accepted from an input of `compressedSize` bytes (nil: unknown, as for a pipe).
    public func streamLimit(compressedSize: UInt64?) -> UInt64 {
        guard let size = compressedSize, let ratio = maxExpansion else { return maxStreamBytes }
        let (scaled, overflow) = size.multipliedReportingOverflow(by: ratio)
        return min(maxStreamBytes, max(Self.expansionFloor, overflow ? .max : scaled))
    }

    /// The limit for a person: `67108864-byte limit (4096 times the bundle's 4096 bytes, 64 MiB at least: ...)`.
    func describeStreamLimit(compressedSize: UInt64?) -> String {
        let limit = streamLimit(compressedSize: compressedSize)
        guard let size = compressedSize, let ratio = maxExpansion, limit < maxStreamBytes else { return "\(limit)-byte limit" }
        return "\(limit)-byte limit (\(ratio) times the bundle's \(size) bytes, \(Self.expansionFloor >> 20) MiB at least: "
            + "more is a decompression bomb)"
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
    /// The most decompressed bytes this input may give (`ReadLimits.streamLimit`).
    public let streamLimit: UInt64
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
    /// Why decompression stopped, reported once the bytes decoded before it are used up.
    private var failure: (kind: Damage.Kind, reason: String)?
    /// Decompression stopped (zstd error, limit, I/O error): no more calls of the decompressor.
    private var halted = false
    /// Compressed and stream offsets where the current zstd frame began (a failed frame is decoded again from there).
    private var frameStart: (compressed: UInt64, stream: UInt64) = (0, 0)
    /// While salvaging, the compressed bytes of the next zstd unit (see `salvage`).
    private var nextUnit = 1

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
        self.streamLimit = limits.streamLimit(compressedSize: size)
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

    /// Decompresses until `pending` holds `n` unconsumed bytes. False when the input ended or failed first; a
    /// failure met while decompressing counts only once the bytes decoded before it have been used up.
    private func fill(_ n: Int) -> Bool {
        while pending.count - pendingStart < n {
            if stopped { return false }
            if let f = failure {
                failure = nil
                _ = fail(f.kind, f.reason, discarded: true)
                return false
            }
            if inputPos == inputEnd {
                if !sourceDone && readInput() { continue }
                // End of input. zstd consumes a block's input in the call that decodes it, and may keep part of
                // that block's output when the output buffer filled up: hand it over before deciding anything.
                if drainStep() || failure != nil { continue }
                return false
            }
            decompressStep()
        }
        return true
    }

    /// Records why decompression stopped; `fill` reports it once the bytes decoded before it are used up.
    private func stop(_ kind: Damage.Kind, _ reason: String) {
        if failure == nil { failure = (kind, reason) }
        halted = true
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
            sourceDone = true
            stop(.truncated, error.message)
            return false
        }
    }

    /// At end of input, one call of the decompressor without input. True if it handed over more output.
    private func drainStep() -> Bool {
        guard !halted else { return false }
        let before = streamBytes
        return decompressStep(atEnd: true) && streamBytes > before
    }

    /// One call of the decompressor on `src[from..<to]`, its output in `output`: (return code, bytes produced,
    /// input position after the call).
    private func decompress(_ src: UnsafeRawBufferPointer, from: Int, to: Int) -> (rc: Int, produced: Int, consumedTo: Int) {
        output.withUnsafeMutableBytes { outRaw in
            var inBuf = ZSTD_inBuffer(src: src.baseAddress, size: to, pos: from)
            var outBuf = ZSTD_outBuffer(dst: outRaw.baseAddress, size: outRaw.count, pos: 0)
            let rc = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
            return (rc, outBuf.pos, inBuf.pos)
        }
    }

    /// One call of the decompressor on `input[from..<to]`.
    private func decompressInput(from: Int, to: Int) -> (rc: Int, produced: Int, consumedTo: Int) {
        input.withUnsafeBytes { decompress($0, from: from, to: to) }
    }

    /// One call of the decompressor on the buffered input; appends output to `pending`. False when it failed.
    @discardableResult
    private func decompressStep(atEnd: Bool = false) -> Bool {
        guard !halted else { return false }
        let before = inputPos
        let (rc, produced, consumedTo) = decompressInput(from: inputPos, to: inputEnd)
        if ZSTD_isError(rc) != 0 {
            salvage(failedWith: rc)
            return !halted
        }
        inputPos = consumedTo
        compressedBytes += UInt64(consumedTo - before)
        guard take(produced) else { return false }
        // After a frame's end, an empty call answers "next frame header wanted" (non-zero): only a call that moved
        // data says anything about where the frame stands.
        if produced > 0 || consumedTo > before { noteFrame(ended: rc == 0) }
        if rc != 0 && produced == 0 && consumedTo == before && !atEnd {
            // No progress with input available and room for output: the decoder is stuck on this data.
            stop(.corrupt, "zstd made no progress on the data")
            return false
        }
        return true
    }

    /// Hands `output[skip..<produced]` to `pending`, up to the stream limit: the bytes within the limit are
    /// delivered, then decompression stops. False when the limit was reached.
    private func take(_ produced: Int, skipping skip: Int = 0) -> Bool {
        guard produced > skip else { return true }
        let room = streamLimit > streamBytes ? streamLimit - streamBytes : 0
        let n = UInt64(produced - skip) <= room ? produced - skip : Int(room)
        if n > 0 {
            streamBytes += UInt64(n)
            if pendingStart == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingStart = 0
            }
            pending.append(contentsOf: output[skip..<skip + n])
            peakBufferedBytes = max(peakBufferedBytes, pending.count)
        }
        if n < produced - skip {
            stop(.limit, "the stream exceeds the \(limits.describeStreamLimit(compressedSize: compressedSize)); --max-stream-bytes sets another")
            return false
        }
        return true
    }

    /// Notes where the frame stands after a call that moved data: one that ended makes the next byte the start of
    /// another.
    private func noteFrame(ended: Bool) {
        frameEnded = ended
        if ended { frameStart = (compressedBytes, streamBytes) }
    }

    /// Stops on a zstd error.
    private func stopDecoding(_ rc: Int) {
        let code = ZSTD_getErrorCode(rc)
        let text = String(cString: ZSTD_getErrorName(rc))
        if code == ZSTD_error_frameParameter_windowTooLarge {
            stop(.limit, "the zstd frame needs a window over 2^\(limits.maxWindowLog) bytes (\(text))")
        } else {
            stop(.corrupt, "zstd cannot decode the data (\(text))")
        }
    }

    /// After a call on `input[inputPos..<inputEnd]` failed with `rc`: delivers every block zstd can decode before
    /// the error, then stops on it.
    ///
    /// zstd returns an error without the output of the call that met it (the call's positions stay where they
    /// began), and one call decodes as many blocks as its input and room allow: blocks decoded whole before the bad
    /// one would be lost with it. So the frame is decoded again in a fresh session, from its start up to where the
    /// failed call began (handing over what goes beyond the bytes already delivered), then the failed call's input
    /// one zstd unit (frame header, block header, block body, checksum) per call: each block is handed over by the
    /// call that completes it, and the error comes in a call of its own. The size of the next unit is what a call
    /// returns, less the 3 bytes of the following block header it counts in after a block body: a body is fed
    /// alone, anything else a byte at a time. This costs one more pass over the frame, once per damaged bundle. An
    /// input that cannot be read again (a pipe) keeps the loss.
    private func salvage(failedWith rc: Int) {
        let start = inputPos
        // Stream offset of input[0]: the input is the whole bundle in memory, or the chunk of the file just read.
        let base = compressedBytes - UInt64(start)
        _ = ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only)
        var skip = streamBytes - frameStart.stream
        nextUnit = 1
        if frameStart.compressed < base {
            guard replayFile(from: frameStart.compressed, to: base, skipping: &skip) else { return stopDecoding(rc) }
        }
        let ok = input.withUnsafeBytes { raw in
            replay(UnsafeRawBufferPointer(rebasing: raw[Int(max(frameStart.compressed, base) - base)..<start]), skipping: &skip)
        }
        guard ok, skip == 0 else { return stopDecoding(rc) }
        if halted { return }
        // The failed call produced less than one output buffer before its error: past that and a block more
        // without an error, the normal pace resumes.
        var produced = 0
        while inputPos < inputEnd && produced <= 2 * output.count {
            let i = inputPos
            var (code, n, consumedTo) = decompressInput(from: i, to: i + min(nextUnit, inputEnd - i))
            if ZSTD_isError(code) != 0 { return stopDecoding(code) }
            nextUnit = code > 3 ? code - 3 : 1
            inputPos = consumedTo
            compressedBytes += UInt64(consumedTo - i)
            guard take(n) else { return }
            produced += n
            if n > 0 || consumedTo > i { noteFrame(ended: code == 0) }
            if n == 0 && consumedTo == i { return stop(.corrupt, "zstd made no progress on the data") }
            // A full output buffer may leave output inside zstd: hand it over before the next unit.
            while n == output.count {
                (code, n, _) = decompressInput(from: inputPos, to: inputPos)
                if ZSTD_isError(code) != 0 { return stopDecoding(code) }
                guard take(n) else { return }
                produced += n
            }
        }
    }

    /// Decodes `src` whole in the current session, handing over its output beyond the first `skip` bytes (which
    /// were delivered before). False when it does not decode.
    private func replay(_ src: UnsafeRawBufferPointer, skipping skip: inout UInt64) -> Bool {
        var pos = 0
        while true {
            let (rc, produced, consumedTo) = decompress(src, from: pos, to: src.count)
            if ZSTD_isError(rc) != 0 { return false }
            nextUnit = rc > 3 ? rc - 3 : 1
            let known = Int(min(skip, UInt64(produced)))
            skip -= UInt64(known)
            guard take(produced, skipping: known) else { return true }
            let moved = consumedTo > pos || produced > 0
            pos = consumedTo
            if pos == src.count && produced < output.count { return true }
            if !moved { return false }
        }
    }

    /// Reads compressed bytes `[from, to)` of the file again and decodes them (see `replay`). False when they cannot
    /// be read (not a regular file) or do not decode.
    private func replayFile(from: UInt64, to: UInt64, skipping skip: inout UInt64) -> Bool {
        guard case .file(let fd, _) = source, compressedSize != nil else { return false }
        var chunk = [UInt8](repeating: 0, count: input.count)
        var offset = from
        while offset < to {
            let want = Int(min(UInt64(chunk.count), to - offset))
            guard let at = off_t(exactly: offset) else { return false }
            let n = chunk.withUnsafeMutableBytes { CFieldPlatform.pread(fd, $0.baseAddress!, want, at) }
            if n < 0 && field_errno() == EINTR { continue }
            guard n > 0 else { return false }
            let ok = chunk.withUnsafeBytes { replay(UnsafeRawBufferPointer(rebasing: $0[0..<n]), skipping: &skip) }
            guard ok else { return false }
            if halted { return true }
            offset += UInt64(n)
        }
        return true
    }
}

// Host builds keep this in analysis state (FieldAnalysis's incremental timelines); Embedded Swift has no Codable.
#if !hasFeature(Embedded)
extension Damage: Codable {}
extension Damage.Kind: Codable {}
#endif
