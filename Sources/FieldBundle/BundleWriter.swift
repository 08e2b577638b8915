import CFieldPlatform
import CZstd
import FieldModel

/// When the writer asks the kernel to put data on stable storage.
public enum FsyncPolicy: String, Sendable, Hashable, CaseIterable {
    /// Never: fastest, a power cut may lose what the page cache held.
    case never
    /// At close (rotation or shutdown), before the rename: a closed bundle is durable. The default: one sync per
    /// bundle is cheap on flash.
    case close
    /// After every sample as well: a power cut loses at most the sample being written, at one sync per interval.
    case sample
}

/// Compression and durability settings of a writer.
public struct WriterOptions: Sendable, Hashable {
    /// zstd level (1-19).
    public var level: Int32
    /// log2 of the zstd window. The window must reach back to the previous capture of each file for the
    /// redundancy between samples to be found: one interval for cheap files, `every` intervals for deep ones.
    /// Readers need a window this large too.
    public var windowLog: Int32
    /// log2 of the match-finder hash table, or nil for the level's choice. Levels size their tables for large
    /// inputs; a sample is a few hundred KB, so smaller tables save memory at little cost in size.
    public var hashLog: Int32?
    /// log2 of the match-finder chain table, or nil for the level's choice.
    public var chainLog: Int32?
    /// When to fsync.
    public var fsync: FsyncPolicy
    /// Largest record accepted, so a writer never produces what default readers refuse.
    public var maxRecordBytes: Int
    /// How many sample records back an entry identical to its previous capture may be stored as a reference to it
    /// (format 1.1); 0 stores every entry's bytes. It must cover the longest gap between two reads of a path (the
    /// deep tier's `every`), and it is all a reader must remember.
    public var sameWindow: UInt64

    /// The device defaults: level 7, a 1 MiB window, 64 Ki-entry match tables, references to the previous capture
    /// up to 16 samples back; about 2.1 MiB of compressor memory.
    ///
    /// Chosen by measurement on real /proc samples (docs/performance.md). Levels size their tables for large inputs;
    /// a sample is a few hundred KB, and small tables stay in cache. With unchanged files stored as references the
    /// compressor sees only what changed (about half of each sample under load), so a 1 MiB window reaches back to
    /// the previous capture of every changed file: 2^21 saved another 6 % of bytes for 1 MiB more memory.
    public static let device = WriterOptions()

    /// Creates options.
    public init(
        level: Int32 = 7, windowLog: Int32 = 20, hashLog: Int32? = 16, chainLog: Int32? = 16, fsync: FsyncPolicy = .close,
        maxRecordBytes: Int = ReadLimits.default.maxRecordBytes, sameWindow: UInt64 = 16
    ) {
        self.sameWindow = sameWindow
        self.level = level
        self.windowLog = windowLog
        self.hashLog = hashLog
        self.chainLog = chainLog
        self.fsync = fsync
        self.maxRecordBytes = maxRecordBytes
    }
}

/// Writes one bundle: a single zstd frame holding the record stream, flushed after every sample.
///
/// The file is `NAME.zst.open` until `close` writes the end record, ends the frame and renames it to `NAME.zst`.
/// After a crash the `.open` file holds every record up to the last flush; `BundleReader` reads it and reports
/// it incomplete. Dropping a writer without `close` leaves the `.open` file as a crash would.
public final class BundleWriter {
    /// The name the bundle gets when closed.
    public let finalPath: String
    /// The name while it is being written.
    public let openPath: String
    /// The options in force.
    public let options: WriterOptions
    /// Compressed bytes written to the file so far.
    public private(set) var compressedBytes: UInt64 = 0
    /// Uncompressed record-stream bytes fed so far.
    public private(set) var streamBytes: UInt64 = 0
    /// Records written so far, indexed by type byte.
    public private(set) var counts = [UInt64](repeating: 0, count: 256)

    private var fd: Int32
    private let cctx: OpaquePointer
    private var out: [UInt8]
    private var outFill = 0
    private var state: State = .open
    /// Off for writers made from a raw header (recovery copies records as they are, references included).
    private var references = ReferenceTable(window: 0, seed: 0)
    /// The last sample payload, whose storage the next one reuses (one large allocation per bundle, not per sample).
    private var sampleBuffer: [UInt8] = []

    private enum State { case open, closed, failed }

    /// Creates `finalPath + ".open"` (which must not exist), writes the magic and the header, and flushes.
    public convenience init(path finalPath: String, header: BundleHeader, options: WriterOptions = .device) throws(BundleError) {
        var h = header
        h.sameWindow = options.sameWindow
        try self.init(path: finalPath, rawHeader: RecordCodec.encode(h), options: options)
        references = ReferenceTable(window: options.sameWindow, seed: Self.seed())
    }

    /// A seed for content fingerprints that differs between writers (clock, process, address).
    private static func seed() -> UInt64 {
        var ts = timespec()
        _ = clock_gettime(CLOCK_MONOTONIC, &ts)
        let clock = UInt64(truncatingIfNeeded: Int64(ts.tv_sec)) &* 1_000_000_007 &+ UInt64(truncatingIfNeeded: Int64(ts.tv_nsec))
        var local = 0
        let address = withUnsafePointer(to: &local) { UInt64(UInt(bitPattern: $0)) }
        return clock ^ (UInt64(truncatingIfNeeded: Int64(getpid())) << 40) ^ address
    }

    /// Like `init(path:header:options:)` with a header payload as read from another bundle, kept byte for byte
    /// (recovery rewrites a crashed bundle without losing fields this version does not know). `openSuffix` names
    /// the file while it is written: recovery writes `NAME.zst.recovering`, which no later start mistakes for a
    /// crashed agent's bundle.
    public init(
        path finalPath: String, rawHeader: [UInt8], options: WriterOptions = .device, openSuffix: String = ".open"
    ) throws(BundleError) {
        self.finalPath = finalPath
        self.openPath = finalPath + openSuffix
        self.options = options
        guard let cctx = ZSTD_createCCtx() else { throw BundleError(.compression, "zstd could not allocate a compressor") }
        self.cctx = cctx
        self.out = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        do {
            try Self.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, options.level), "level \(options.level)")
            try Self.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, options.windowLog), "window log \(options.windowLog)")
            if let h = options.hashLog { try Self.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_hashLog, h), "hash log \(h)") }
            if let c = options.chainLog { try Self.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_chainLog, c), "chain log \(c)") }
            // The frame checksum lets `zstd -t` and every reader verify the whole closed bundle.
            try Self.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), "checksum flag")
        } catch {
            ZSTD_freeCCtx(cctx)
            throw error
        }
        do {
            fd = try Syscalls.open(openPath, O_WRONLY | O_CREAT | O_EXCL)
        } catch {
            ZSTD_freeCCtx(cctx)
            throw error
        }
        let v = FormatVersion.current
        do {
            try feed(StreamLayout.magic + [v.major, v.minor])
            try write(.header, payload: rawHeader, flush: true)
            if options.fsync == .sample {
                // The samples synced from here on need a name that survives a power cut too: a new file's directory
                // entry is durable only once the directory is synced (POSIX; ext4 happens to commit it with the
                // file's first fsync, other file systems do not). Once per bundle.
                try sync()
                try Syscalls.fsyncDirectory(of: openPath)
            }
        } catch {
            // Not even the header made it (a full disk): the file holds nothing a reader could use.
            _ = CFieldPlatform.close(fd)
            _ = CFieldPlatform.unlink(openPath)
            state = .closed
            throw error
        }
    }

    deinit {
        if state != .closed { _ = CFieldPlatform.close(fd) }
        ZSTD_freeCCtx(cctx)
    }

    private static func check(_ rc: Int, _ what: String) throws(BundleError) {
        if ZSTD_isError(rc) != 0 {
            throw BundleError(.compression, "zstd refused \(what): \(String(cString: ZSTD_getErrorName(rc)))")
        }
    }

    /// Appends a sample and flushes, so it survives a crash of the agent from here on.
    ///
    /// A sample whose record would pass the record limit is written in parts (`appendInParts`): a large system
    /// must never lose its deep samples whole.
    public func append(_ sample: Sample) throws(BundleError) {
        let plan = references.plan(sample)
        var previous: [UInt8] = []
        swap(&previous, &sampleBuffer)
        // Handed over, not copied: the encoder then owns the only reference and keeps the storage.
        let payload = RecordCodec.encode(sample, same: plan.same, reusing: consume previous)
        if payload.count <= options.maxRecordBytes || sample.part != nil {
            try write(.sample, payload: payload, flush: true)
            references.commit(sample, prints: plan.prints)
            sampleBuffer = payload
        } else {
            try appendInParts(sample, wholeBytes: payload.count)
        }
        if options.fsync == .sample { try sync() }
    }

    /// Samples written in more than one record because they were too large for one (format 1.2 parts).
    public private(set) var splitSamples: UInt64 = 0

    /// Writes one instant as consecutive sample records with the same sequence and clocks, each within the record
    /// limit, in reading order (`part` from 0, `more` on all but the last). References are planned part by part,
    /// as every part is a sample record of its own for the window. An entry too large for a record by itself (only
    /// with a limit below the agent's 16 MiB per file) is cut to fit and marked truncated.
    private func appendInParts(_ sample: Sample, wholeBytes: Int) throws(BundleError) {
        let limit = options.maxRecordBytes
        let files = sample.files
        // Parts of about 3/4 of the limit, by entry count: entries vary in size, so a part that still does not fit
        // is halved until it does.
        let share = Double(limit) * 0.75 / Double(max(wholeBytes, 1))
        var take = max(1, Int(Double(files.count) * share))
        var start = 0
        var index: UInt32 = 0
        while start < files.count || index == 0 {
            var n = min(take, files.count - start)
            while true {
                var part = Sample(
                    sequence: sample.sequence, wallNanos: sample.wallNanos, monoNanos: sample.monoNanos,
                    files: Array(files[start..<(start + n)]), part: SamplePart(index: index, more: start + n < files.count))
                if n == 1 && files[start].bytes.count > limit / 2 {
                    // Room for the entry's other fields and the record's own, generously.
                    let room = max(0, limit - files[start].path.utf8.count - 256)
                    if part.files[0].bytes.count > room {
                        part.files[0].bytes = Array(part.files[0].bytes.prefix(room))
                        part.files[0].truncated = true
                    }
                }
                let plan = references.plan(part)
                let payload = RecordCodec.encode(part, same: plan.same)
                if payload.count <= limit || n == 1 {
                    try write(.sample, payload: payload, flush: true)  // at n == 1, the limit error if even that fails
                    references.commit(part, prints: plan.prints)
                    break
                }
                n = max(1, n / 2)
                take = n
            }
            start += n
            index += 1
        }
        splitSamples += 1
    }

    /// Appends kernel log lines and flushes (an OOM kill line is worth its few bytes of flush overhead).
    public func append(_ events: EventBatch) throws(BundleError) {
        try write(.event, payload: RecordCodec.encode(events), flush: true)
    }

    /// Appends agent statistics; they reach the file with the next flush.
    public func append(_ stats: AgentStats) throws(BundleError) {
        try write(.stats, payload: RecordCodec.encode(stats), flush: false)
    }

    /// Appends a loss report and flushes.
    public func append(_ loss: LossReport) throws(BundleError) {
        try write(.loss, payload: RecordCodec.encode(loss), flush: true)
    }

    /// Appends a record of any type with a ready CBOR payload (for types added after v1.0 and for tests).
    public func write(_ type: RecordType, payload: [UInt8], flush: Bool) throws(BundleError) {
        guard state == .open else { throw BundleError(.state, "bundle \(openPath) is no longer open for writing") }
        guard payload.count <= options.maxRecordBytes, UInt64(payload.count) <= UInt64(UInt32.max) else {
            throw BundleError(
                .limit, "a \(type) record of \(payload.count) bytes exceeds the \(options.maxRecordBytes)-byte record limit")
        }
        let n = UInt32(payload.count)
        let head: [UInt8] = [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24), type.rawValue]
        var crc = CRC32C()
        crc.update(head)
        crc.update(payload)
        let c = crc.value
        try feed(head)
        try feed(payload)
        try feed([UInt8(c & 0xFF), UInt8((c >> 8) & 0xFF), UInt8((c >> 16) & 0xFF), UInt8(c >> 24)])
        counts[Int(type.rawValue)] += 1
        if flush { try drive(ZSTD_e_flush) }
    }

    /// Writes the end record, ends the zstd frame, syncs per policy and renames to the final name, which must not
    /// exist (an existing bundle is never replaced; the `.open` file then stays). Returns the final path.
    ///
    /// `durable` syncs the file and the directory whatever the policy: for a bundle that is about to hold the only
    /// copy of something (the agent's loss records, which it forgets once their bundle is closed).
    @discardableResult
    public func close(
        reason: String, wallNanos: Int64, monoNanos: UInt64, durable: Bool = false
    ) throws(BundleError) -> String {
        let syncing = durable || options.fsync != .never
        var tally: [(type: String, count: UInt64)] = []
        for t in 0..<256 where counts[t] > 0 { tally.append((RecordType(rawValue: UInt8(t)).name, counts[t])) }
        try write(.end, payload: RecordCodec.encode(BundleEnd(wallNanos: wallNanos, monoNanos: monoNanos, reason: reason, counts: tally)), flush: false)
        try drive(ZSTD_e_end)
        if syncing { try sync() }
        let closing = fd
        state = .closed
        if CFieldPlatform.close(closing) != 0 && field_errno() != EINTR {
            throw Syscalls.ioError("closing", openPath, field_errno())
        }
        try Syscalls.renameNoReplace(openPath, finalPath)
        if syncing { try Syscalls.fsyncDirectory(of: finalPath) }
        return finalPath
    }

    /// Gives the file up after a failed write: its descriptor is closed, and what was flushed stays readable under
    /// the `.open` name for recovery. Until then the file keeps its blocks on the disk even once unlinked: an agent
    /// that drops it to make room on a full disk must abandon it first, or the room does not come.
    public func abandon() {
        guard state != .closed else { return }
        state = .closed
        _ = CFieldPlatform.close(fd)
    }

    /// Memory the zstd compressor holds (window, tables, buffers), for the agent's self-statistics and budgets.
    public var compressorMemoryBytes: Int { ZSTD_sizeof_CCtx(cctx) }

    /// Syncs what was written so far.
    public func sync() throws(BundleError) {
        guard state == .open else { return }
        try Syscalls.fsync(fd, path: openPath)
    }

    // MARK: Compression

    private func feed(_ bytes: [UInt8]) throws(BundleError) {
        streamBytes += UInt64(bytes.count)
        try bytes.withBytes { (raw) throws(BundleError) in
            var input = ZSTD_inBuffer(src: raw.baseAddress, size: raw.count, pos: 0)
            while input.pos < input.size {
                try compress(&input, ZSTD_e_continue)
            }
        }
    }

    /// Runs the compressor with `directive` until it has nothing left to emit, then writes the output out.
    private func drive(_ directive: ZSTD_EndDirective) throws(BundleError) {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try compress(&input, directive) != 0 {}
        try drain()
    }

    @discardableResult
    private func compress(_ input: inout ZSTD_inBuffer, _ directive: ZSTD_EndDirective) throws(BundleError) -> Int {
        let (rc, filled): (Int, Int) = out.withUnsafeMutableBytes { raw in
            var output = ZSTD_outBuffer(dst: raw.baseAddress, size: raw.count, pos: outFill)
            let rc = ZSTD_compressStream2(cctx, &output, &input, directive)
            return (rc, output.pos)
        }
        outFill = filled
        if ZSTD_isError(rc) != 0 {
            state = .failed
            throw BundleError(.compression, "zstd failed while writing \(openPath): \(String(cString: ZSTD_getErrorName(rc)))")
        }
        if outFill == out.count { try drain() }
        return rc
    }

    private func drain() throws(BundleError) {
        guard outFill > 0 else { return }
        do throws(BundleError) {
            try out.withBytes { (raw) throws(BundleError) in
                try Syscalls.writeAll(fd, UnsafeRawBufferPointer(rebasing: raw[0..<outFill]), path: openPath)
            }
        } catch {
            // The file now ends at an unknown point inside a zstd block; everything before the last successful
            // flush is still readable, so the caller can recover it, but this writer cannot go on.
            state = .failed
            throw error
        }
        compressedBytes += UInt64(outFill)
        outFill = 0
    }
}
