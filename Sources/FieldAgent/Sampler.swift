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
    /// The last run of unwritten samples this agent named (`noteUnwritten`), the only one it may extend.
    private var lastUnwritten: String?
    /// The last reason `pending-losses` could not be written, logged once while it repeats.
    private var lastKeepFailure = ""
    /// The previous sample, alive until the next one is written. Each sample allocates hundreds of buffers and
    /// frees them all at once; musl's allocator then unmapped the emptied groups and mapped them again at the next
    /// sample (about 70 mmap/munmap pairs per sample here). Holding one sample keeps its groups in use.
    private var previousSample: Sample?
    /// `--trace-samples`: the descriptor lines go to, or -1.
    private var traceFD: Int32 = -1
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
        spool.ensureReserve()
        for loss in kept { noteLoss(reason: loss.reason, names: loss.names, bytes: loss.bytes, unnamed: loss.unnamed) }
        // Follow the kernel log only on the live system: a fixture proc root has no kernel of its own.
        if options.procRoot == "/proc", let path = backend.kernelLog {
            var failure: Int32 = 0
            kernelLog = RecordDevice(path: path, failure: &failure)
            if kernelLog == nil {
                printError("fieldagent: not following \(path): \(String(cString: strerror(failure))) (OOM kills and segfaults will not be recorded)")
            }
        }
        if let path = options.traceSamples {
            traceFD = field_open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0o644)
            if traceFD < 0 {
                throw AgentError("cannot open \(path) for --trace-samples: \(String(cString: strerror(field_errno())))")
            }
        }
        defer { if traceFD >= 0 { close(traceFD) } }
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
            if traceFD >= 0 { trace("begin \(sampleSequence) \(t0)") }
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
            // Each record on its own: one whose write fails on a full disk is written again, whole, into the
            // next bundle once room is made, and only what did not reach a bundle is counted as lost.
            if !write({ w throws(BundleError) in try w.append(sample) }) { noteUnwritten(sample) }
            if let e = events { _ = write { w throws(BundleError) in try w.append(e) } }
            _ = write { w throws(BundleError) in try w.append(stats) }
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
        if writer == nil {
            // The last bundle was closed by a rotation at the last sample, or its writing failed: the count is said
            // all the same, for whoever checks that every sample taken is in a bundle or on record as lost.
            print("fieldagent: stopped with no bundle open (\(sampleSequence) samples in this run)")
        }
        closeBundle(reason: "shutdown")
        delivery?.stop(within: options.finalUploadSeconds)
        // Losses not yet written into a bundle (noteLoss kept them on disk) wait for the next start's first bundle.
    }

    /// One `--trace-samples` line, in one write (O_APPEND: whole lines even if two agents share the file).
    private func trace(_ line: String) { writeLine(traceFD, line) }

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
        var started: BundleWriter?
        do {
            var settings = WriterOptions.device
            settings.fsync = options.fsync
            let path = spool.freeBundlePath(wallNanos: wall, sequence: bundleSequence)
            let w = try BundleWriter(path: path, header: header, options: settings)
            started = w
            for loss in pendingLosses { try w.append(loss) }
            writer = w
            lastError = ""
            bundleSequence += 1
            bundleStartMono = mono
            lossesInBundle = pendingLosses
            pendingLosses = []
        } catch {
            // A start that failed after the header (on a loss record) leaves a file with nothing the losses do not
            // still hold in memory and in pending-losses: it goes, like one whose header failed (BundleWriter).
            if let w = started {
                w.abandon()
                unlink(w.openPath)
            }
            report("cannot start a bundle: \(error.message)")
            if error.errno == ENOSPC { makeRoom() }
        }
    }

    /// The filesystem is full: the oldest bundle goes (the oldest data is dropped first), and the loss is recorded
    /// like a quota drop. On the full disk `pending-losses` usually cannot take the record before the drop: it is
    /// written again once the drop has made room, and when even that room is too small for it (the record grows
    /// with every name it carries) the next oldest goes too, until the record fits, at most `extraDrops` more: a
    /// disk filled by others may hold no room for it whatever goes, and the spool must not be emptied for a record.
    /// The reserve is made again last.
    private mutating func makeRoom() {
        guard var victim = spool.oldestBundle() else { return }
        for _ in 0...Self.extraDrops {
            droppedBytes += victim.bytes
            noteLoss(reason: "disk-full", names: [victim.name], bytes: victim.bytes)
            spool.remove([victim.name])
            printError("fieldagent: disk full: dropped \(victim.name)")
            if keepLosses() { break }
            guard let next = spool.oldestBundle() else { break }
            victim = next
        }
        spool.ensureReserve()
    }

    /// See `makeRoom`.
    static let extraDrops = 3

    /// A sample that reached no bundle (the disk stayed full after a drop, or no bundle could be opened): its
    /// sequence goes into a loss record of reason `samples-not-written`, runs of them as one name,
    /// `seq A-B at TIME` (TIME: the first one's wall clock, as in bundle names).
    private mutating func noteUnwritten(_ sample: Sample) {
        let reason = Self.unwritten
        let seq = sample.sequence
        // Only a run this agent started extends: the names of an earlier run (kept or carried) may end at any seq.
        if let i = pendingLosses.firstIndex(where: { $0.reason == reason }), let last = pendingLosses[i].names.last,
            last == lastUnwritten
        {
            let f = last.split(separator: " ")
            let ends = f.count == 4 ? f[1].split(separator: "-").compactMap { UInt64($0) } : []
            if ends.count == 2, ends[1] &+ 1 == seq {
                let name = "seq \(ends[0])-\(seq) at \(f[3])"
                pendingLosses[i].names[pendingLosses[i].names.count - 1] = name
                lastUnwritten = name
                if !keepLosses() { makeRoom() }
                return
            }
        }
        let name = "seq \(seq)-\(seq) at \(Spool.timestamp(sample.wallNanos))"
        lastUnwritten = name
        noteLoss(reason: reason, names: [name], bytes: 0)
        // A record that only memory holds is lost by the next kill: room for it is made as for a bundle.
        if !keepLosses() { makeRoom() }
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
            w.abandon()
            seal(w)
            if reason == "shutdown" { print("fieldagent: stopped; the last bundle was sealed for recovery (\(sampleSequence) samples in this run)") }
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
        carryLosses(of: dropped.names)
        noteLoss(reason: "spool-quota", names: dropped.names, bytes: dropped.bytes)
        spool.remove(dropped.names)
        printError("fieldagent: spool over \(options.spoolMaxBytes) bytes: dropped \(dropped.names.joined(separator: ", "))")
    }

    /// The records of earlier losses that the bundles about to be dropped for the quota hold are recorded again, in
    /// the next bundle: otherwise a bundle dropped after the one that recorded its loss would leave no trace. Not on
    /// a full disk (`makeRoom`): there the record must stay small enough to be written at all (carried, it outgrew
    /// the room a drop makes, and the fault harness counted hundreds of drops on record nowhere). Names already
    /// waiting are not added twice. Per reason at most `carriedNames` names are kept, the newest; the count of
    /// bundles still includes the older ones.
    private mutating func carryLosses(of victims: [String]) {
        for v in victims {
            for l in spool.lossRecords(in: v) {
                let waiting = Set(pendingLosses.first { $0.reason == l.reason }?.names ?? [])
                let fresh = l.names.filter { !waiting.contains($0) && !victims.contains($0) }
                let unnamed = l.bundles > UInt64(l.names.count) ? l.bundles - UInt64(l.names.count) : 0
                guard !fresh.isEmpty || unnamed > 0 else { continue }
                let share = l.names.isEmpty ? l.bytes : l.bytes / UInt64(l.names.count) * UInt64(fresh.count)
                noteLoss(reason: l.reason, names: fresh, bytes: share, unnamed: unnamed)
            }
        }
    }

    /// See `carryLosses`: bounds the names a loss record carries forward under lasting quota pressure. Small, so
    /// that `pending-losses` (about 50 bytes a name) fits in the spool's reserve on a full disk.
    static let carriedNames = 128

    /// The loss reason of samples that reached no bundle (docs/bundle-format.md, "Loss").
    static let unwritten = "samples-not-written"

    /// Adds to the loss report of that reason that the next bundle starts with. `unnamed`: bundles a carried
    /// record counted beyond the names it still had (see `carryLosses`); the report keeps the largest such count,
    /// as every record carries all those before it.
    private mutating func noteLoss(reason: String, names: [String], bytes: UInt64, unnamed: UInt64 = 0) {
        let i: Int
        if let at = pendingLosses.firstIndex(where: { $0.reason == reason }) {
            i = at
        } else {
            pendingLosses.append(
                LossReport(
                    wallNanos: Clock.wallNanos(), monoNanos: Clock.monotonicNanos(), reason: reason, bundles: 0, bytes: 0,
                    names: []))
            i = pendingLosses.count - 1
        }
        var l = pendingLosses[i]
        // Saturating: the counts may come from a damaged record or pending-losses file.
        let had = l.bundles > UInt64(l.names.count) ? l.bundles - UInt64(l.names.count) : 0
        var beyond = max(had, unnamed)
        l.names += names
        if l.names.count > Self.carriedNames {
            let over = l.names.count - Self.carriedNames
            l.names.removeFirst(over)
            beyond = beyond.addingReportingOverflow(UInt64(over)).overflow ? .max : beyond + UInt64(over)
        }
        // Unwritten samples' names are runs of samples: no bundle was dropped for them.
        l.bundles = reason == Self.unwritten ? 0 : UInt64(l.names.count).addingReportingOverflow(beyond).overflow ? .max : UInt64(l.names.count) + beyond
        l.bytes = l.bytes.addingReportingOverflow(bytes).overflow ? .max : l.bytes + bytes
        pendingLosses[i] = l
        keepLosses()
    }

    /// Writes every loss not yet in a closed bundle to the spool's `pending-losses` (synced), or removes the
    /// file when there is none.
    /// Returns whether they are on disk (or there are none).
    @discardableResult
    private mutating func keepLosses() -> Bool {
        let all = lossesInBundle + pendingLosses
        if all.isEmpty {
            spool.clearPendingLosses()
        } else if var failure = spool.savePendingLosses(all) {
            // The disk is full: the reserve makes room for the record, and is made again after the next drop.
            if spool.releaseReserve() {
                guard let again = spool.savePendingLosses(all) else {
                    lastKeepFailure = ""
                    return true
                }
                failure = again
            }
            if failure != lastKeepFailure { printError("fieldagent: \(failure)") }
            lastKeepFailure = failure
            return false
        }
        lastKeepFailure = ""
        return true
    }

    /// Runs a write of one record; on failure (full disk, I/O error) abandons the bundle, which is sealed at once
    /// or recovered by the next start. On a full disk the oldest bundle is dropped for room and the record written
    /// again into a new bundle (a record whose write failed is not intact in the old one). Returns whether the
    /// record reached a bundle; sampling goes on either way.
    private mutating func write(_ body: (BundleWriter) throws(BundleError) -> Void) -> Bool {
        var again = true
        while let w = writer {
            do {
                try body(w)
                return true
            } catch {
                report("writing \(w.openPath) failed: \(error.message); starting a new bundle")
                writer = nil
                forgetBundleLosses()
                // Its descriptor goes first: on a full disk the drop below may pick this very file (the oldest when
                // nothing older is left), and an unlinked file still open keeps its blocks, so the loss record
                // found no room and lived only in memory until this function returned.
                w.abandon()
                let full = error.errno == ENOSPC
                if full { makeRoom() }
                seal(w)
                guard full, again else { break }
                again = false
                openBundle()
            }
        }
        droppedBytes += 1
        return false
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

    /// Logs a failure once for as long as it repeats: `key` names the failure where the message changes at
    /// each try (a new bundle name every interval while the disk is full). A bundle that opens ends the run.
    private mutating func report(_ message: String, key: String? = nil) {
        let k = key ?? message
        if k != lastError { printError("fieldagent: \(message)") }
        lastError = k
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
