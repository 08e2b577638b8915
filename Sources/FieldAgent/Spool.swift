import CFieldPlatform
import FieldBundle
import FieldModel
import FieldSystem

/// Losses of one reason kept in `pending-losses` (`Spool.takePendingLosses`): bundle names, and how many
/// bundles were counted beyond them.
struct KeptLoss {
    var reason: String
    var bytes: UInt64
    var names: [String]
    var unnamed: UInt64
}

/// The spool directory: bundle names, the size quota, and recovery of bundles a crash left open.
struct Spool {
    let directory: String
    let deviceID: String
    /// Set when the spool could not be locked for a reason other than another agent holding it (a file system
    /// without record locks): the agent runs on, and says so.
    private(set) var lockWarning: String?

    /// Creates the directory if needed and locks it (`lock`, an fcntl lock held until the process ends) against a
    /// second agent: one that "recovered" a running agent's bundle would delete it under the writer.
    init(directory: String, deviceID: String) throws(AgentError) {
        self.directory = directory
        self.deviceID = deviceID
        if mkdir(directory, 0o755) == 0 {
            // A new spool's own name must survive a power cut, or every bundle synced into it goes with it. Not
            // fatal: a parent the agent may write but not read cannot be synced, and the agent still runs.
            do { try DurableFile.syncDirectory(holding: directory) } catch {
                printError("fieldagent: cannot sync the directory holding the new spool \(directory): \(error.message)")
            }
        } else if field_errno() != EEXIST {
            throw AgentError("cannot create spool directory \(directory): \(String(cString: strerror(field_errno())))")
        }
        guard access(directory, W_OK) == 0 else {
            throw AgentError("cannot write into spool directory \(directory): \(String(cString: strerror(field_errno())))")
        }
        let path = directory + "/" + Self.lockName
        let fd = field_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw AgentError("cannot open \(path) to lock the spool: \(String(cString: strerror(field_errno())))")
        }
        var holder: Int32 = 0
        let failure = field_lock_file(fd, &holder)
        if failure == EACCES || failure == EAGAIN {
            close(fd)
            let who = holder > 0 ? "fieldagent pid \(holder)" : "another fieldagent"
            throw AgentError(
                "spool \(directory) is in use by \(who); two agents on one spool would destroy each other's bundles: stop that one first, or give this one its own --spool")
        }
        // Kept open for the life of the process: closing any descriptor of the file would drop the lock.
        if failure != 0 {
            lockWarning = "cannot lock \(path) (\(String(cString: strerror(failure)))): nothing stops a second agent on this spool"
        }
    }

    /// The lock file's name in the spool.
    static let lockName = "lock"

    /// Room kept for `pending-losses` on a full disk: `reserve`, a file of `reserveBytes` the agent gives up when
    /// the record of a loss cannot be written otherwise (the space a drop frees may be taken at once by the
    /// bundle written next). Outside the quota; made again after each drop for room.
    static let reserveName = "reserve"
    static let reserveBytes = 16 << 10

    /// Makes the reserve when it is missing and there is room for it (best effort).
    func ensureReserve() {
        let path = directory + "/" + Self.reserveName
        var st = stat()
        if stat(path, &st) == 0 && UInt64(st.st_size) == UInt64(Self.reserveBytes) { return }
        unlink(path)
        unlink(path + ".partial")  // left by a stop that was cut short
        do throws(BundleError) {
            let file = try DurableFile(temporaryPath: path + ".partial")
            try file.write([UInt8](repeating: 0, count: Self.reserveBytes))
            try file.commit(as: path, replace: true)
        } catch {
            unlink(path + ".partial")
        }
    }

    /// Gives the reserve up; whether there was one.
    func releaseReserve() -> Bool { unlink(directory + "/" + Self.reserveName) == 0 }

    /// `DEVICE-YYYYmmddTHHMMSS.mmmZ-NNNN.zst`: names sort by time; the sequence counts bundles within a run.
    func bundlePath(wallNanos: Int64, sequence: UInt64) -> String {
        directory + "/" + BundleName.make(device: deviceID, wallNanos: wallNanos, sequence: sequence)
    }

    /// A bundle path that no bundle, open or closed, uses yet: a restart within the same millisecond (or a clock
    /// set back) must not reuse the name of a bundle that is still in the spool.
    func freeBundlePath(wallNanos: Int64, sequence: UInt64) -> String {
        var wall = wallNanos
        while true {
            let p = bundlePath(wallNanos: wall, sequence: sequence)
            if access(p, F_OK) != 0 && access(p + ".open", F_OK) != 0 && access(p + ".crashed", F_OK) != 0
                && access(p + ".rejected", F_OK) != 0
            {
                return p
            }
            wall += 1_000_000
        }
    }

    /// Closed bundles, oldest first, with their sizes.
    func closedBundles() -> [(name: String, bytes: UInt64)] {
        names().filter { $0.hasSuffix(".zst") }.sorted().map { ($0, size(of: directory + "/" + $0)) }
    }

    /// Whether a spool entry holds bundle data the quota counts: closed bundles, bundles the collector refused
    /// (`.zst.rejected`), and bundles whose writing stopped (`.zst.open` of an earlier run or of a failed writer,
    /// `.zst.crashed` not yet recovered). Call it only while no writer is open: the quota leaves room for that one
    /// through `extraBytes`, so its `.open` file is not counted.
    static func holdsBundleData(_ name: String) -> Bool {
        name.hasSuffix(".zst") || name.hasSuffix(".zst.rejected") || name.hasSuffix(".zst.open") || name.hasSuffix(".zst.crashed")
    }

    /// Drops the oldest bundles (see `holdsBundleData`) until the spool, with `extraBytes` still to be written,
    /// fits the quota. Returns what was dropped, for the loss record. `sparing` (the bundle being uploaded) stays.
    func enforceQuota(maxBytes: UInt64, extraBytes: UInt64, sparing: String? = nil) -> (names: [String], bytes: UInt64) {
        let victims = quotaVictims(maxBytes: maxBytes, extraBytes: extraBytes, sparing: sparing)
        remove(victims.names)
        return victims
    }

    /// What `enforceQuota` would drop, without dropping it: the agent records the loss durably first, then
    /// removes the files (`remove`), so that no power cut can drop a bundle without a record of it.
    func quotaVictims(maxBytes: UInt64, extraBytes: UInt64, sparing: String? = nil) -> (names: [String], bytes: UInt64) {
        let all = names().filter(Self.holdsBundleData).sorted().map { (name: $0, bytes: size(of: directory + "/" + $0)) }
        var total = all.reduce(extraBytes) { $0 &+ $1.bytes }
        var bundles = all.filter { $0.name != sparing }
        var victims: [String] = []
        var bytes: UInt64 = 0
        while total > maxBytes, !bundles.isEmpty {
            let oldest = bundles.removeFirst()
            victims.append(oldest.name)
            bytes += oldest.bytes
            total -= oldest.bytes
        }
        return (victims, bytes)
    }

    /// Removes spool entries by name (gone already is fine).
    func remove(_ victims: [String]) {
        for name in victims { _ = unlink(directory + "/" + name) }
    }

    /// The oldest bundle (see `holdsBundleData`), to drop for room on a full filesystem: names sort by time. Nil
    /// when the spool holds nothing to drop. Called while no writer is open.
    func oldestBundle() -> (name: String, bytes: UInt64)? {
        guard let oldest = names().filter(Self.holdsBundleData).min() else { return nil }
        return (oldest, size(of: directory + "/" + oldest))
    }

    /// Finishes drops that a stop interrupted: a bundle the kept losses (`savePendingLosses`) say was dropped for
    /// the quota or a full disk, but which is still there (the record is written before the files go), goes now.
    func finishRecordedDrops(_ losses: [KeptLoss]) {
        for l in losses where l.reason == "spool-quota" || l.reason == "disk-full" {
            remove(l.names.filter { SafeName.isSafe($0) && Self.holdsBundleData($0) })
        }
    }

    /// Closes bundles a previous run left open: their intact records are rewritten into a closed bundle of the
    /// same name with the end reason `recovered`. Returns one line per bundle for the log.
    ///
    /// Interruptible at any instant without loss (a device that reboots again while it recovers), because every
    /// step leaves the complete copy of the data under a name the next start knows:
    /// 1. `NAME.zst.recovering` is the output of a recovery that was cut short: removed (its source still exists).
    /// 2. `NAME.zst.open` becomes `NAME.zst.crashed`, the source of recovery, unless that exists already: then the
    ///    `.open` file is a second name of it (a rename cut between its link and unlink) or the partial output of
    ///    an agent before this version, which wrote its recovery under `.open`; either way it goes.
    /// 3. `NAME.zst.crashed` is rewritten into `NAME.zst.recovering`, synced, and renamed to `NAME.zst` (which
    ///    must not exist); only then is `.crashed` removed. A `.crashed` file whose bundle exists is removed.
    ///
    /// Recovery syncs its output whatever `--fsync` says: it removes its source next, and after a power cut the
    /// copy must be on disk if the removal is.
    func recoverLeftovers() -> [String] {
        var log: [String] = []
        // A save of the pending losses cut short; the file it would have replaced is whole.
        unlink(pendingLossesPath + ".partial")
        for name in names() where name.hasSuffix(".zst" + Self.recoveringSuffix) {
            unlink(directory + "/" + name)
        }
        for name in names().sorted() where name.hasSuffix(".zst.open") {
            let crashed = directory + "/" + name.dropLast(".open".count) + ".crashed"
            if access(crashed, F_OK) == 0 {
                unlink(directory + "/" + name)
            } else if rename(directory + "/" + name, crashed) != 0 {
                log.append("cannot move \(name) aside for recovery: \(String(cString: strerror(field_errno())))")
            }
        }
        return log + recoverCrashed()
    }

    /// Recovers every `NAME.zst.crashed` in the spool (a start's leftovers, or a bundle the running agent
    /// abandoned): one log line each.
    func recoverCrashed() -> [String] {
        names().sorted().filter { $0.hasSuffix(".zst.crashed") }.map { recoverCrashed($0) }
    }

    /// The suffix of a recovery's output until it is complete.
    static let recoveringSuffix = ".recovering"

    /// Recovers one `NAME.zst.crashed` into `NAME.zst` (see `recoverLeftovers`).
    func recoverCrashed(_ name: String) -> String {
        let crashed = directory + "/" + name
        let final = String(crashed.dropLast(".crashed".count))
        if access(final, F_OK) == 0 {
            unlink(crashed)
            return "\(name.dropLast(".crashed".count)) was already recovered"
        }
        return recover(crashed, into: final)
    }

    /// The limits the agent reads its own bundles with, not a host's generous defaults: a damaged frame must not
    /// make a small device allocate a 128 MiB window. 2^21 is what agents before format 1.1 wrote with: a device
    /// upgraded between two runs still reads them. No expansion ratio: these are the agent's own bundles, and a
    /// limit would cut their recovery short.
    static let ownLimits: ReadLimits = {
        let written = WriterOptions()
        return ReadLimits(maxRecordBytes: written.maxRecordBytes, maxExpansion: nil, maxWindowLog: max(written.windowLog, 21))
    }()

    /// The loss records a bundle in the spool starts with (the agent writes them right after the header, before
    /// any sample), read before the bundle is dropped: their record must not go with it. Nothing when the bundle
    /// cannot be read.
    func lossRecords(in name: String) -> [LossReport] {
        guard let reader = try? BundleReader(path: directory + "/" + name, limits: Self.ownLimits) else { return [] }
        var out: [LossReport] = []
        while let r = reader.next() {
            if r.type == .sample || r.type == .end { break }
            if r.type == .loss, let l = try? RecordCodec.decodeLoss(r.payload) { out.append(l) }
        }
        return out
    }

    private func recover(_ crashed: String, into final: String) -> String {
        let name = final.split(separator: "/" as Character).last.map(String.init) ?? final
        let reader: BundleReader
        do { reader = try BundleReader(path: crashed, limits: Self.ownLimits) } catch { return "cannot read \(crashed): \(error.message)" }
        guard let first = reader.next(), first.type == .header else {
            unlink(crashed)
            return "removed \(name).open: nothing readable in it (\(reader.damage?.reason ?? "no header"))"
        }
        do {
            unlink(final + Self.recoveringSuffix)
            let w = try BundleWriter(path: final, rawHeader: first.payload, openSuffix: Self.recoveringSuffix)
            var last: (wall: Int64, mono: UInt64) = (0, 0)
            var samples = 0
            while let r = reader.next() {
                // A bundle that was closed but whose rename did not reach the disk before a power cut is complete
                // under its `.open` name: its end record stays out, the copy gets its own (two would be damage).
                if r.type == .end { break }
                if r.type == .sample, let s = try? RecordCodec.decodeSample(r.payload) {
                    last = (s.wallNanos, s.monoNanos)
                    samples += 1
                }
                try w.write(r.type, payload: r.payload, flush: false)
            }
            try w.close(reason: "recovered", wallNanos: last.wall, monoNanos: last.mono)
            unlink(crashed)
            let lost = reader.damage.map { $0.discardedBytes > 0 ? ", the sample being written when it stopped was lost" : "" } ?? ""
            return "recovered \(name): \(samples) samples\(lost)"
        } catch {
            unlink(final + Self.recoveringSuffix)
            return "cannot recover \(crashed) into \(final): \(error.message) (left in place)"
        }
    }

    /// Where losses wait between runs: `pending-losses`, lines of `reason bytes name`.
    private var pendingLossesPath: String { directory + "/pending-losses" }

    /// Keeps losses that no bundle recorded yet on disk, from the moment they happen until a bundle holds them
    /// (`clearPendingLosses`): a kill in between, or a stop before the next bundle, loses no record of them. Best
    /// effort: the file is small, and if it cannot be written the log already said what was dropped. Returns why
    /// it could not be written, for the log (nil when it was).
    @discardableResult
    func savePendingLosses(_ losses: [LossReport]) -> String? {
        var text = ""
        for l in losses {
            let each = l.names.isEmpty ? 0 : l.bytes / UInt64(l.names.count)
            for n in l.names { text += "\(l.reason) \(each) \(n)\n" }
            // Bundles counted beyond the names kept (a long chain of drops): `reason 0 +N`.
            if l.bundles > UInt64(l.names.count) { text += "\(l.reason) \(l.names.isEmpty ? l.bytes : 0) +\(l.bundles - UInt64(l.names.count))\n" }
        }
        guard !text.isEmpty else { return nil }
        let temp = pendingLossesPath + ".partial"
        unlink(temp)  // left by a stop that was cut short
        do throws(BundleError) {
            let file = try DurableFile(temporaryPath: temp)
            try file.write(Array(text.utf8))
            try file.commit(as: pendingLossesPath, replace: true)
            return nil
        } catch {
            unlink(temp)
            return "cannot keep the record of losses for the next start: \(error.message)"
        }
    }

    /// Forgets the kept losses: a bundle's loss record holds them now (flushed into it; a stop between the two
    /// records a loss twice, which analysis counts once, by name).
    func clearPendingLosses() {
        unlink(pendingLossesPath)
    }

    /// Reads what `savePendingLosses` kept: (reason, bytes, names) per reason. The file stays until
    /// `clearPendingLosses`.
    func takePendingLosses() -> [KeptLoss] {
        let c = ProcFS.readFile(pendingLossesPath, maxBytes: 1 << 20)
        guard c.status == .ok else { return [] }
        var out: [KeptLoss] = []
        for line in c.bytes.split(separator: 0x0A) {
            let f = line.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
            guard f.count == 3, let bytes = UInt64(f[1]) else { continue }
            let unnamed = f[2].hasPrefix("+") ? UInt64(f[2].dropFirst()) : nil
            if f[2].hasPrefix("+") && unnamed == nil { continue }
            let i = out.firstIndex { $0.reason == f[0] } ?? {
                out.append(KeptLoss(reason: f[0], bytes: 0, names: [], unnamed: 0))
                return out.count - 1
            }()
            out[i].bytes = out[i].bytes.addingReportingOverflow(bytes).overflow ? .max : out[i].bytes + bytes
            if let n = unnamed { out[i].unnamed = max(out[i].unnamed, n) } else { out[i].names.append(f[2]) }
        }
        return out
    }

    private func names() -> [String] {
        let listing = ProcFS.listDirectory(directory)
        return listing.bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
    }

    private func size(of path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }

    static func timestamp(_ wall: Int64) -> String { BundleName.timestamp(wall) }
}
