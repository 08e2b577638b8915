import FieldBackends
import CFieldHTTP
import CFieldPlatform
import FieldBundle
import FieldModel
import FieldSystem

/// The sampling loop: reads per the backend's plan, writes bundles, rotates them, keeps the spool in its quota.
struct Sampler {
    let options: AgentOptions
    let backend: any Backend
    let plan: [CapturePlanEntry]
    let spool: Spool
    let intervalNanos: UInt64
    let nameFilter: POSIXRegex?
    /// Plan entries by scope and tier, with their path templates split once.
    private let systemEntries: [(entry: CapturePlanEntry, path: PathTemplate)]
    private let processCheap: [(entry: CapturePlanEntry, path: PathTemplate)]
    private let processDeep: [(entry: CapturePlanEntry, path: PathTemplate)]
    private let threadDeep: [(entry: CapturePlanEntry, path: PathTemplate)]

    private var writer: BundleWriter?
    private var bundleSequence: UInt64 = 0
    private var bundleStartMono: UInt64 = 0
    /// Losses to record at the start of the next bundle, one report per reason.
    private var pendingLosses: [LossReport] = []
    /// Losses recorded in the open bundle, which is synced only at its close: until then the spool's
    /// `pending-losses` keeps them too, so that a power cut cannot take the record with the bundle's tail.
    private var lossesInBundle: [LossReport] = []
    /// The delivery thread and what it shares with this one, when uploading or copying.
    private let link = DeliveryLink()
    private var delivery: Delivery?
    private var schedule: DeepSchedule
    private var kernelLog: RecordDevice?
    private var sampleSequence: UInt64 = 0
    private var missedIntervals: UInt64 = 0
    private var maxSampleNanos: UInt64 = 0
    private var droppedBytes: UInt64 = 0
    private var lastError = ""
    /// The previous sample, alive until the next one is written. Each sample allocates hundreds of buffers and
    /// frees them all at once; musl's allocator then unmapped the emptied groups and mapped them again at the next
    /// sample (about 70 mmap/munmap pairs per sample here). Holding one sample keeps its groups in use.
    private var previousSample: Sample?
    /// Read buffer kept from one sample to the next (ProcFS.readFile(_:scratch:)).
    private var readScratch: [UInt8] = []

    init(options: AgentOptions) throws(AgentError) {
        self.options = options
        switch options.backend {
        case "auto":
            guard let b = BackendRegistry.detect(procRoot: options.procRoot) else {
                throw AgentError(
                    "no backend (\(BackendRegistry.identifiers.joined(separator: ", "))) recognises \(options.procRoot); use --backend")
            }
            backend = b
        default:
            guard let b = BackendRegistry.named(options.backend) else {
                throw AgentError(
                    "unknown backend '\(options.backend)': use auto or one of \(BackendRegistry.identifiers.joined(separator: ", "))")
            }
            backend = b
        }
        guard options.bundleBytes <= options.spoolMaxBytes else {
            throw AgentError("--bundle-bytes (\(options.bundleBytes)) must not exceed --spool-max-bytes (\(options.spoolMaxBytes))")
        }
        plan = backend.capturePlan.map { e in
            var e = e
            if e.tier == .deep { e.every = options.deepEvery }
            return e
        }
        spool = try Spool(directory: options.spool, deviceID: options.deviceID ?? Self.defaultDeviceID())
        intervalNanos = UInt64(options.interval * 1e9)
        schedule = DeepSchedule(every: options.deepEvery, intervalNanos: intervalNanos)
        var unused = ""
        nameFilter = options.match.flatMap { POSIXRegex($0, error: &unused) }
        let templated = plan.map { (entry: $0, path: PathTemplate($0.path)) }
        systemEntries = templated.filter { $0.entry.scope == .system }
        processCheap = templated.filter { $0.entry.scope == .process && $0.entry.tier == .cheap }
        processDeep = templated.filter { $0.entry.scope == .process && $0.entry.tier == .deep }
        threadDeep = templated.filter { $0.entry.scope == .thread }
    }

    mutating func run() throws(AgentError) {
        if let w = spool.lockWarning { printError("fieldagent: \(w)") }
        for line in spool.recoverLeftovers() { printError("fieldagent: \(line)") }
        let kept = spool.takePendingLosses()
        spool.finishRecordedDrops(kept)
        for loss in kept { noteLoss(reason: loss.reason, names: loss.names, bytes: loss.bytes) }
        // Follow the kernel log only on the live system: a fixture proc root has no kernel of its own.
        if options.procRoot == "/proc", let path = backend.kernelLog {
            var failure: Int32 = 0
            kernelLog = RecordDevice(path: path, failure: &failure)
            if kernelLog == nil {
                printError("fieldagent: not following \(path): \(String(cString: strerror(failure))) (OOM kills and segfaults will not be recorded)")
            }
        }
        AgentCommand.installSignalHandlers()
        if options.upload != nil || options.copyTo != nil {
            let d = Delivery(options: options, spool: spool, link: link)
            try d.start()
            delivery = d
        }
        let startMono = Clock.monotonicNanos()
        let stopAt = options.duration.map { startMono + UInt64($0 * 1e9) }
        var next = startMono
        while !AgentCommand.shouldStop {
            let t0 = Clock.monotonicNanos()
            if let s = stopAt, t0 >= s { break }
            if writer == nil { openBundle() }
            let sample = capture()
            let took = Clock.monotonicNanos() - t0
            maxSampleNanos = max(maxSampleNanos, took)
            var events: EventBatch?
            if let log = kernelLog {
                let lines = log.readAvailable()
                if !lines.isEmpty {
                    events = EventBatch(wallNanos: Clock.wallNanos(), monoNanos: Clock.monotonicNanos(), source: log.path, lines: lines)
                }
            }
            let cpu = SelfCost.cpuMicros()
            let stats = AgentStats(
                wallNanos: Clock.wallNanos(), monoNanos: Clock.monotonicNanos(), rssBytes: SelfCost.rssBytes(),
                cpuUserMicros: cpu.user, cpuSystemMicros: cpu.system, samples: sampleSequence + 1, lastSampleNanos: took,
                maxSampleNanos: maxSampleNanos, missedIntervals: missedIntervals, droppedBytes: droppedBytes)
            write { w throws(BundleError) in
                try w.append(sample)
                if let e = events { try w.append(e) }
                try w.append(stats)
            }
            previousSample = sample
            sampleSequence += 1
            let rejected = link.takeRejected()
            if !rejected.isEmpty {
                noteLoss(reason: "rejected-by-collector", names: rejected.map { $0.name }, bytes: rejected.reduce(0) { $0 + $1.bytes })
            }
            if let w = writer,
               Clock.monotonicNanos() - bundleStartMono >= UInt64(options.bundleSeconds * 1e9) || w.compressedBytes >= options.bundleBytes {
                closeBundle(reason: "rotation")
            }
            next += intervalNanos
            let now = Clock.monotonicNanos()
            while next <= now {  // overran: skip the intervals that are already gone
                next += intervalNanos
                missedIntervals += 1
            }
            if let s = stopAt { next = min(next, s) }
            Self.sleep(until: next)
        }
        closeBundle(reason: "shutdown")
        delivery?.stop(within: options.finalUploadSeconds)
        // Losses not yet written into a bundle (noteLoss kept them on disk) wait for the next start's first bundle.
    }

    // MARK: Bundles

    private mutating func openBundle() {
        let wall = Clock.wallNanos()
        let mono = Clock.monotonicNanos()
        dropForQuota(extraBytes: 0)
        let header = BundleHeader(
            agent: AgentCommand.version, backend: backend.identifier,
            osIdentity: ProcFS.readFile(options.procRoot + "/version", maxBytes: 4096).bytes, deviceID: spool.deviceID,
            bootID: backend.bootID(procRoot: options.procRoot), wallNanos: wall, monoNanos: mono,
            intervalNanos: intervalNanos, procRoot: options.procRoot, sequence: bundleSequence, plan: plan,
            agentPID: getpid())
        do {
            var settings = WriterOptions.device
            settings.fsync = options.fsync
            let path = spool.freeBundlePath(wallNanos: wall, sequence: bundleSequence)
            let w = try BundleWriter(path: path, header: header, options: settings)
            writer = w
            bundleSequence += 1
            bundleStartMono = mono
            for loss in pendingLosses { try w.append(loss) }
            lossesInBundle = pendingLosses
            pendingLosses = []
        } catch {
            report("cannot start a bundle: \(error.message)")
            if error.errno == ENOSPC { makeRoom() }
        }
    }

    /// The filesystem is full: the oldest closed bundle goes (the oldest data is dropped first), and the loss is
    /// recorded like a quota drop, before the file goes (on a full disk that record may only reach memory).
    private mutating func makeRoom() {
        guard let oldest = spool.oldestBundle() else { return }
        droppedBytes += oldest.bytes
        noteLoss(reason: "disk-full", names: [oldest.name], bytes: oldest.bytes)
        spool.remove([oldest.name])
        printError("fieldagent: disk full: dropped \(oldest.name)")
    }

    /// The open bundle is gone (its writing failed): the losses it recorded are recorded again in the next one,
    /// as the failed bundle may not survive (a reader counts a bundle named twice once).
    private mutating func forgetBundleLosses() {
        for l in lossesInBundle.reversed() { pendingLosses.insert(l, at: 0) }
        lossesInBundle = []
    }

    private mutating func closeBundle(reason: String) {
        guard let w = writer else { return }
        writer = nil
        do {
            // Synced even under --fsync never when it holds loss records: pending-losses forgets them below.
            let path = try w.close(
                reason: reason, wallNanos: Clock.wallNanos(), monoNanos: Clock.monotonicNanos(),
                durable: !lossesInBundle.isEmpty)
            if reason == "shutdown" { print("fieldagent: wrote \(path) (\(sampleSequence) samples in this run)") }
            link.wake()
            // Closed means synced: its loss records need no other copy now.
            if !lossesInBundle.isEmpty {
                lossesInBundle = []
                keepLosses()
            }
        } catch {
            report("cannot close \(w.openPath): \(error.message)")
            forgetBundleLosses()
            seal(w)
        }
        if reason == "rotation" { for line in spool.recoverCrashed() { report(line) } }
        // After the last bundle no room is needed for a next one.
        dropForQuota(extraBytes: 0, reserveNext: reason != "shutdown")
    }

    /// Keeps the spool within its quota; what is dropped goes into a loss record in the next bundle.
    private mutating func dropForQuota(extraBytes: UInt64, reserveNext: Bool = true) {
        let dropped = spool.quotaVictims(
            maxBytes: options.spoolMaxBytes, extraBytes: extraBytes + (reserveNext ? options.bundleBytes : 0), sparing: delivery == nil ? nil : link.inFlight)
        guard !dropped.names.isEmpty else { return }
        droppedBytes += dropped.bytes
        // The record first, durably; then the files. A stop in between finishes the drop at the next start.
        noteLoss(reason: "spool-quota", names: dropped.names, bytes: dropped.bytes)
        spool.remove(dropped.names)
        printError("fieldagent: spool over \(options.spoolMaxBytes) bytes: dropped \(dropped.names.joined(separator: ", "))")
    }

    /// Adds to the loss report of that reason that the next bundle starts with.
    private mutating func noteLoss(reason: String, names: [String], bytes: UInt64) {
        guard let i = pendingLosses.firstIndex(where: { $0.reason == reason }) else {
            pendingLosses.append(
                LossReport(
                    wallNanos: Clock.wallNanos(), monoNanos: Clock.monotonicNanos(), reason: reason, bundles: UInt64(names.count),
                    bytes: bytes, names: names))
            keepLosses()
            return
        }
        pendingLosses[i].bundles &+= UInt64(names.count)
        // Saturating: the byte counts may come from a damaged pending-losses file of an earlier run.
        pendingLosses[i].bytes = pendingLosses[i].bytes.addingReportingOverflow(bytes).overflow ? .max : pendingLosses[i].bytes + bytes
        pendingLosses[i].names += names
        keepLosses()
    }

    /// Writes every loss not yet in a closed bundle to the spool's `pending-losses` (synced), or removes the
    /// file when there is none.
    private func keepLosses() {
        let all = lossesInBundle + pendingLosses
        if all.isEmpty { spool.clearPendingLosses() } else { spool.savePendingLosses(all) }
    }

    /// Runs a write; on failure (full disk, I/O error) abandons the bundle, which the next start recovers, and
    /// counts the sample as dropped. Sampling goes on; the next interval tries a new bundle.
    private mutating func write(_ body: (BundleWriter) throws(BundleError) -> Void) {
        guard let w = writer else {
            droppedBytes += 1
            return
        }
        do {
            try body(w)
        } catch {
            report("writing \(w.openPath) failed: \(error.message); starting a new bundle")
            writer = nil
            forgetBundleLosses()
            droppedBytes += 1
            if error.errno == ENOSPC { makeRoom() }
            seal(w)
        }
    }

    /// A bundle whose writing failed is closed now, as recovery at the next start would close it: left `.open`
    /// it would be neither uploaded nor, for the quota, distinguishable from the bundle being written. When that
    /// fails too (the disk is still full) it stays `.crashed`: counted by the quota, retried at each rotation, and
    /// recovered at the latest by the next start.
    private mutating func seal(_ w: BundleWriter) {
        let crashed = w.finalPath + ".crashed"
        guard rename(w.openPath, crashed) == 0 else { return }
        for line in spool.recoverCrashed() { report(line) }
    }

    private mutating func report(_ message: String) {
        if message != lastError { printError("fieldagent: \(message)") }
        lastError = message
    }

    // MARK: Capture

    /// One sample: cheap system files; per selected process its cheap files, then its deep files when the
    /// schedule says so; deep system files every `deepEvery` samples.
    mutating func capture() -> Sample {
        let wall = Clock.wallNanos()
        let mono = Clock.monotonicNanos()
        let seq = sampleSequence
        let root = options.procRoot
        var files: [FileCapture] = []
        let sysRoot = options.sysRoot
        var scratch: [UInt8] = []
        swap(&scratch, &readScratch)
        // A file of several MiB read once is not worth keeping a buffer that size for.
        defer { if scratch.count <= 1 << 20 { swap(&scratch, &readScratch) } }
        func read(_ logical: String, _ kind: EntryKind) -> FileCapture {
            // "/proc/..." under the proc root, "/sys/..." under the sys root.
            let real = logical.hasPrefix("/sys/") ? sysRoot + logical.dropFirst(4) : root + logical.dropFirst(5)
            var c = kind == .directory ? ProcFS.listDirectory(real) : ProcFS.readFile(real, scratch: &scratch)
            c.path = logical
            return c
        }
        let systemDeep = seq % UInt64(options.deepEvery) == 0
        for (e, t) in systemEntries where e.tier == .cheap || systemDeep { files.append(read(t.fill(), e.kind)) }

        var live = Set<Int32>()
        for pid in selectedPIDs() {
            let p = String(pid)
            var cheap: [FileCapture] = []
            for (e, t) in processCheap {
                let c = read(t.fill(pid: p), e.kind)
                // The process exited before its first file could be read: nothing to record.
                if cheap.isEmpty && c.status == .missing { break }
                if cheap.isEmpty, let filter = nameFilter, !filter.matches(Self.name(fromStat: c)) { break }
                cheap.append(c)
            }
            guard !cheap.isEmpty else { continue }
            live.insert(pid)
            files += cheap
            let signals = backend.cheapSignals(cheap)
            guard schedule.wantsDeep(pid: pid, seq: seq, signals: signals) else { continue }
            let t0 = Clock.monotonicNanos()
            let deepStart = files.count
            for (e, t) in processDeep { files.append(read(t.fill(pid: p), e.kind)) }
            for path in backend.derivedPaths(fromDeep: Array(files[deepStart...])) {
                let c = read(path, .file)
                if c.status != .missing { files.append(c) }  // candidates that do not exist are not news
            }
            if !threadDeep.isEmpty, let task = cheap.first(where: { $0.kind == .directory && $0.path.hasSuffix("/task") }) {
                for tid in task.bytes.split(separator: 0x0A) {
                    let t = String(decoding: tid, as: UTF8.self)
                    for (e, tmpl) in threadDeep { files.append(read(tmpl.fill(pid: p, tid: t), e.kind)) }
                }
            }
            schedule.didDeep(pid: pid, seq: seq, signals: signals, costNanos: Clock.monotonicNanos() - t0)
        }
        schedule.keepOnly(live)
        return Sample(sequence: seq, wallNanos: wall, monoNanos: mono, files: files)
    }

    /// Process ids under the proc root (numeric entries), limited to `--pid` when given.
    private func selectedPIDs() -> [Int32] {
        let all = ProcFS.listDirectory(options.procRoot).bytes.split(separator: 0x0A).compactMap { name -> Int32? in
            guard name.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int32(String(decoding: name, as: UTF8.self))
        }
        guard !options.pids.isEmpty else { return all.sorted() }
        let wanted = Set(options.pids)
        return all.filter { wanted.contains($0) }.sorted()
    }

    /// The command name from a `stat` capture (between the first `(` and the last `)`), or the whole content of a
    /// name file for backends without `stat`.
    static func name(fromStat c: FileCapture) -> String {
        let b = c.bytes
        guard let open = b.firstIndex(of: 0x28), let close = b.lastIndex(of: 0x29), open < close else {
            return String(decoding: b.prefix(while: { $0 != 0x0A }), as: UTF8.self)
        }
        return String(decoding: b[(open + 1)..<close], as: UTF8.self)
    }

    static func sleep(until deadline: UInt64) {
        while !AgentCommand.shouldStop {
            let now = Clock.monotonicNanos()
            if now >= deadline { return }
            var ts = Clock.timespecOf(nanos: deadline - now)
            _ = nanosleep(&ts, nil)  // EINTR from the stop signal ends the wait
        }
    }

    static func defaultDeviceID() -> String {
        let id = ProcFS.readFile("/etc/machine-id", maxBytes: 64)
        let text = String(decoding: id.bytes.filter { $0 > 0x20 }, as: UTF8.self)
        if id.status == .ok, !text.isEmpty { return String(text.prefix(12)) }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let h = String(decoding: host.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let safe = h.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
        return safe.isEmpty ? "device" : safe
    }
}

/// A plan path such as `/proc/[pid]/task/[tid]/comm`, split once at its placeholders.
struct PathTemplate {
    private enum Part { case text(String), pid, tid }
    private let parts: [Part]

    init(_ path: String) {
        var parts: [Part] = []
        var rest = Substring(path)
        while let open = rest.firstIndex(of: "[") {
            let tail = rest[open...]
            let placeholder: Part? = tail.hasPrefix("[pid]") ? .pid : tail.hasPrefix("[tid]") ? .tid : nil
            guard let ph = placeholder else { break }
            if open > rest.startIndex { parts.append(.text(String(rest[..<open]))) }
            parts.append(ph)
            rest = rest[rest.index(open, offsetBy: 5)...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    /// The path with the placeholders filled in.
    func fill(pid: String = "", tid: String = "") -> String {
        var out = ""
        for p in parts {
            switch p {
            case .text(let t): out += t
            case .pid: out += pid
            case .tid: out += tid
            }
        }
        return out
    }
}
