import CFieldPlatform
import FieldBundle
import FieldModel
import FieldSystem

/// The spool directory: bundle names, the size quota, and recovery of bundles a crash left open.
struct Spool {
    let directory: String
    let deviceID: String

    /// Creates the directory if needed.
    init(directory: String, deviceID: String) throws(AgentError) {
        self.directory = directory
        self.deviceID = deviceID
        if mkdir(directory, 0o755) != 0 && field_errno() != EEXIST {
            throw AgentError("cannot create spool directory \(directory): \(String(cString: strerror(field_errno())))")
        }
        guard access(directory, W_OK) == 0 else {
            throw AgentError("cannot write into spool directory \(directory): \(String(cString: strerror(field_errno())))")
        }
    }

    /// `DEVICE-YYYYmmddTHHMMSS.mmmZ-NNNN.zst`: names sort by time; the sequence counts bundles within a run.
    func bundlePath(wallNanos: Int64, sequence: UInt64) -> String {
        let seq = String(sequence)
        return "\(directory)/\(deviceID)-\(Self.timestamp(wallNanos))-\(String(repeating: "0", count: max(0, 4 - seq.count)) + seq).zst"
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

    /// Drops the oldest closed bundles until the spool (with `extraBytes` still being written) fits the quota.
    /// Returns what was dropped, for the loss record.
    /// Bundles the collector refused (`.zst.rejected`) count and go too; `sparing` (the bundle being uploaded) stays.
    func enforceQuota(maxBytes: UInt64, extraBytes: UInt64, sparing: String? = nil) -> (names: [String], bytes: UInt64) {
        let all = names().filter { $0.hasSuffix(".zst") || $0.hasSuffix(".zst.rejected") }.sorted()
            .map { (name: $0, bytes: size(of: directory + "/" + $0)) }
        var total = all.reduce(extraBytes) { $0 + $1.bytes }
        var bundles = all.filter { $0.name != sparing }
        var dropped: [String] = []
        var droppedBytes: UInt64 = 0
        while total > maxBytes, !bundles.isEmpty {
            let oldest = bundles.removeFirst()
            if unlink(directory + "/" + oldest.name) == 0 || field_errno() == ENOENT {
                dropped.append(oldest.name)
                droppedBytes += oldest.bytes
                total -= oldest.bytes
            }
        }
        return (dropped, droppedBytes)
    }

    /// Drops the oldest bundle to make room on a full filesystem, closed or abandoned `.open` alike (an
    /// abandoned one is a bundle whose writing failed; the agent holds no writer on it then): names sort by time.
    /// Nil when the spool holds nothing to drop.
    func dropOldest() -> (name: String, bytes: UInt64)? {
        guard let oldest = names().filter({ $0.hasSuffix(".zst") || $0.hasSuffix(".zst.open") }).min() else { return nil }
        let bytes = size(of: directory + "/" + oldest)
        guard unlink(directory + "/" + oldest) == 0 else { return nil }
        return (oldest, bytes)
    }

    /// Closes bundles a previous run left open: their intact records are rewritten into a closed bundle of the
    /// same name with the end reason `recovered`. Returns one line per bundle for the log.
    ///
    /// Crash-safe itself: the leftover is first renamed `NAME.zst.crashed`, and a `.crashed` file whose bundle
    /// already exists is simply removed.
    func recoverLeftovers() -> [String] {
        var log: [String] = []
        for name in names().sorted() where name.hasSuffix(".zst.open") {
            let crashed = directory + "/" + name.dropLast(".open".count) + ".crashed"
            if rename(directory + "/" + name, crashed) != 0 {
                log.append("cannot move \(name) aside for recovery: \(String(cString: strerror(field_errno())))")
            }
        }
        for name in names().sorted() where name.hasSuffix(".zst.crashed") {
            let crashed = directory + "/" + name
            let final = String(crashed.dropLast(".crashed".count))
            if access(final, F_OK) == 0 {
                unlink(crashed)
                continue
            }
            log.append(recover(crashed, into: final))
        }
        return log
    }

    private func recover(_ crashed: String, into final: String) -> String {
        let name = final.split(separator: "/" as Character).last.map(String.init) ?? final
        let reader: BundleReader
        // The limits the agent writes with, not a host's generous defaults: a damaged frame must not make a small
        // device allocate a 128 MiB window.
        // 2^21 is what agents before format 1.1 wrote with: a device upgraded between two runs still recovers.
        let written = WriterOptions()
        let limits = ReadLimits(maxRecordBytes: written.maxRecordBytes, maxWindowLog: max(written.windowLog, 21))
        do { reader = try BundleReader(path: crashed, limits: limits) } catch { return "cannot read \(crashed): \(error.message)" }
        guard let first = reader.next(), first.type == .header else {
            unlink(crashed)
            return "removed \(name).open: nothing readable in it (\(reader.damage?.reason ?? "no header"))"
        }
        do {
            let w = try BundleWriter(path: final, rawHeader: first.payload)
            var last: (wall: Int64, mono: UInt64) = (0, 0)
            var samples = 0
            while let r = reader.next() {
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
            return "cannot recover \(crashed) into \(final): \(error.message) (left in place)"
        }
    }

    /// Where losses wait between runs: `pending-losses`, lines of `reason bytes name`.
    private var pendingLossesPath: String { directory + "/pending-losses" }

    /// Keeps losses that no bundle recorded yet (the run ended first) for the next start. Best effort: the file
    /// is small, and if it cannot be written the log already said what was dropped.
    func savePendingLosses(_ losses: [LossReport]) {
        var text = ""
        for l in losses {
            let each = l.names.isEmpty ? 0 : l.bytes / UInt64(l.names.count)
            for n in l.names { text += "\(l.reason) \(each) \(n)\n" }
        }
        guard !text.isEmpty else { return }
        let temp = pendingLossesPath + ".partial"
        unlink(temp)  // left by a stop that was cut short
        do throws(BundleError) {
            let file = try DurableFile(temporaryPath: temp)
            try file.write(Array(text.utf8))
            try file.commit(as: pendingLossesPath, replace: true)
        } catch {
            printError("fieldagent: cannot keep the record of dropped bundles for the next start: \(error.message)")
        }
    }

    /// Reads and removes what `savePendingLosses` kept: (reason, bytes, names) per reason.
    func takePendingLosses() -> [(reason: String, bytes: UInt64, names: [String])] {
        let c = ProcFS.readFile(pendingLossesPath, maxBytes: 1 << 20)
        guard c.status == .ok else { return [] }
        var out: [(reason: String, bytes: UInt64, names: [String])] = []
        for line in c.bytes.split(separator: 0x0A) {
            let f = line.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
            guard f.count == 3, let bytes = UInt64(f[1]) else { continue }
            if let i = out.firstIndex(where: { $0.reason == f[0] }) {
                out[i].bytes = out[i].bytes.addingReportingOverflow(bytes).overflow ? .max : out[i].bytes + bytes
                out[i].names.append(f[2])
            } else {
                out.append((f[0], bytes, [f[2]]))
            }
        }
        unlink(pendingLossesPath)
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

    static func timestamp(_ wall: Int64) -> String {
        var t = time_t(clamping: wall / 1_000_000_000)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let ms = Int((wall % 1_000_000_000 + 1_000_000_000) % 1_000_000_000 / 1_000_000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(tmv.tm_year + 1900)\(two(tmv.tm_mon + 1))\(two(tmv.tm_mday))T\(two(tmv.tm_hour))\(two(tmv.tm_min))\(two(tmv.tm_sec)).\(msText)Z"
    }
}
