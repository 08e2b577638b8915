import FieldBundle
import FieldModel
import Foundation
import Testing

/// The real agent on this machine's /proc, checked through the bundles it leaves.
@Suite(.serialized) struct AgentBehaviourTests {
    /// Every record of every bundle in `dir`, decoded by our reader.
    func records(in dir: String) throws -> [(bundle: String, type: RecordType, payload: [UInt8])] {
        var out: [(String, RecordType, [UInt8])] = []
        for path in try Harness.files(in: dir, suffix: ".zst") {
            let r = try BundleReader(path: path)
            while let rec = r.next() { out.append((path, rec.type, rec.payload)) }
            #expect(r.isComplete, "\(path): \(String(describing: r.damage))")
        }
        return out
    }

    func samples(in dir: String) throws -> [Sample] {
        var out: [Sample] = []
        var decoder = SampleDecoder(window: 0)
        for (_, type, payload) in try records(in: dir) {
            if type == .header { decoder = SampleDecoder(header: try RecordCodec.decodeHeader(payload)) }
            if type == .sample { out.append(try decoder.decode(payload)) }
        }
        return out
    }

    func startSleeper(_ seconds: Int = 30) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = [String(seconds)]
        try p.run()
        return p
    }

    @Test func restartRecoversTheBundleAKillLeftOpen() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        Harness.configureAgent(p, ["--interval", "0.1", "--spool", dir, "--device-id", "crash"])
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        #expect(Harness.waitFor(10) { ((try? Harness.files(in: dir, suffix: ".open")) ?? []).count == 1 })
        // Three samples or more, however busy the machine.
        _ = Harness.waitFor(30) {
            guard let path = try? Harness.files(in: dir, suffix: ".open").first, let r = try? BundleReader(path: path) else {
                return false
            }
            var n = 0
            while let rec = r.next() { if rec.type == .sample { n += 1 } }
            return n >= 3
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let open = try #require(try Harness.files(in: dir, suffix: ".zst.open").first)
        let name = String(open.dropLast(".open".count))

        let again = try Harness.fieldagent(["--interval", "0.1", "--duration", "0.3", "--spool", dir, "--device-id", "crash"])
        #expect(again.status == 0)
        #expect(again.stderr.contains("recovered"), "\(again.stderr)")
        #expect(try Harness.files(in: dir, suffix: ".open").isEmpty)
        #expect(FileManager.default.fileExists(atPath: name))
        let reader = try BundleReader(path: name)
        var last: RawRecord?
        var samples = 0
        while let r = reader.next() {
            if r.type == .sample { samples += 1 }
            last = r
        }
        #expect(reader.isComplete)
        #expect(samples >= 3)
        #expect(try RecordCodec.decodeEnd(try #require(last).payload).reason == "recovered")
    }

    @Test func spoolQuotaDropsOldBundlesAndRecordsTheLoss() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Bundles of about 30 KB each (rotated by size), a spool of 100 KB: older ones must go.
        let run = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "4", "--spool", dir, "--device-id", "quota",
            "--bundle-bytes", "30K", "--spool-max-bytes", "100K",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("dropped"), "no bundle was dropped; stderr: \(run.stderr)")
        let kept = try Harness.files(in: dir, suffix: ".zst")
        let total = try kept.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: $1)[.size] as! Int) }
        #expect(total <= 100 * 1024 + 30 * 1024, "spool holds \(total) bytes")
        // Bundle sequence numbers keep counting across rotations, so a gap is visible to the host.
        let headers = try records(in: dir).filter { $0.type == .header }.map { try RecordCodec.decodeHeader($0.payload) }
        #expect(headers.map(\.sequence).max()! >= UInt64(headers.count))
        // A drop at the run's last rotation (no bundle opened after it: on a slow machine, e.g. under qemu) waits
        // in pending-losses for the next start's first bundle: a short second run writes it, with room to spare.
        let next = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "0.3", "--spool", dir, "--device-id", "quota", "--spool-max-bytes", "100M",
        ])
        #expect(next.status == 0, "\(next.stderr)")
        let losses = try records(in: dir).filter { $0.type == .loss }.map { try RecordCodec.decodeLoss($0.payload) }
        #expect(!losses.isEmpty)
        #expect(losses.allSatisfy { $0.reason == "spool-quota" && $0.bundles > 0 && $0.bytes > 0 && !$0.names.isEmpty })
        // The dropped names are bundles that are no longer there.
        let keptNames = Set(kept.map { URL(fileURLWithPath: $0).lastPathComponent })
        #expect(losses.flatMap(\.names).allSatisfy { !keptNames.contains($0) })
    }

    /// `--trace-samples`: one `begin SEQ MONO_NS` line per sample, before it is captured (the fault harness counts
    /// a kill's interrupted samples from it).
    @Test func theTraceNamesEverySampleBegun() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trace = dir + "/trace"
        let run = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "0.55", "--spool", dir + "/spool", "--trace-samples", trace,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        let begun = lines.map { $0.split(separator: " ") }
        #expect(begun.allSatisfy { $0.count == 3 && $0[0] == "begin" && UInt64($0[2]) != nil }, "\(lines)")
        let ss = try samples(in: dir + "/spool")
        #expect(!ss.isEmpty)
        #expect(begun.compactMap { UInt64($0[1]) } == ss.map(\.sequence))
        // Each began no later than it was stamped.
        for (b, s) in zip(begun, ss) { #expect(UInt64(b[2])! <= s.monoNanos) }
        let bad = try Harness.fieldagent(["--duration", "0.1", "--spool", dir + "/spool", "--trace-samples", dir + "/no/such/file"])
        #expect(bad.status != 0 && bad.stderr.contains("--trace-samples"), "\(bad.stderr)")
    }

    /// A run whose last bundle was closed by a rotation (here after every sample) has no bundle open at the stop:
    /// it still says how many samples it took, and every one of them is in a bundle.
    @Test func aStopWithNoBundleOpenStillSaysItsCount() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "0.45", "--bundle-bytes", "1", "--spool", dir + "/spool",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.text.contains("fieldagent: wrote "), "\(run.text)")
        let said = run.text.split(separator: "\n").first { $0.hasPrefix("fieldagent: stopped with no bundle open (") }
        let count = said.flatMap { $0.split(separator: "(").last?.split(separator: " ").first }.flatMap { Int($0) }
        let ss = try samples(in: dir + "/spool")
        #expect(count != nil && count == ss.count, "\(run.text)")
        #expect(ss.count >= 2)
    }

    @Test func pidAndMatchSelectProcesses() throws {
        let sleeper = try startSleeper()
        defer { sleeper.terminate() }
        let pid = sleeper.processIdentifier
        for args in [["--pid", String(pid)], ["--match", "^sle+p$"]] {
            let dir = try Harness.tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let run = try Harness.fieldagent(["--interval", "0.1", "--duration", "0.35", "--spool", dir] + args)
            #expect(run.status == 0, "\(run.stderr)")
            let ss = try samples(in: dir)
            #expect(!ss.isEmpty)
            let pids = Set(ss.flatMap(\.files).compactMap { f -> String? in
                let parts = f.path.split(separator: "/")
                return parts.count >= 3 && parts[1].allSatisfy(\.isNumber) ? String(parts[1]) : nil
            })
            #expect(pids.contains(String(pid)), "\(args): \(pids)")
            if args[0] == "--pid" { #expect(pids == [String(pid)]) }
            // System files are still captured.
            #expect(ss[0].files.contains { $0.path == "/proc/meminfo" && $0.status == .ok })
        }
    }

    /// Deep files of an unchanging process are read on first sight and then every --deep-every samples.
    @Test func deepFilesFollowTheSchedule() throws {
        let sleeper = try startSleeper()
        defer { sleeper.terminate() }
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "1.25", "--spool", dir, "--pid", String(sleeper.processIdentifier), "--deep-every", "5",
        ])
        #expect(run.status == 0)
        let ss = try samples(in: dir)
        let maps = ss.filter { $0.files.contains { $0.path.hasSuffix("/maps") } }.map(\.sequence)
        #expect(ss.count >= 11)
        #expect(maps == Array(stride(from: 0, to: UInt64(ss.count), by: 5)), "maps read in samples \(maps) of \(ss.count)")
        // Cheap files every sample, with the thread names on deep samples.
        #expect(ss.allSatisfy { $0.files.contains { $0.path.hasSuffix("/status") } })
        #expect(ss[0].files.contains { $0.path.hasSuffix("/task/\(sleeper.processIdentifier)/comm") && $0.bytes == Array("sleep\n".utf8) })
    }

    /// Without root: root-only files are recorded as denied, nothing fails.
    @Test(.enabled(if: getuid() == 0, "needs root to switch to nobody; unprivileged, every other test covers it"))
    func runsAsAnUnprivilegedUser() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o777)
        let run = try Harness.run("/usr/sbin/runuser", ["-u", "nobody", "--"] + Harness.agentCommand + [
            "--interval", "0.1", "--duration", "0.5", "--spool", dir, "--deep-every", "1"])
        #expect(run.status == 0, "\(run.stderr)")
        let ss = try samples(in: dir)
        #expect(!ss.isEmpty)
        let files = ss.flatMap(\.files)
        // slabinfo is mode 0400 root; other users' maps are not readable either.
        #expect(files.contains { $0.path == "/proc/slabinfo" && $0.status == .denied })
        #expect(files.contains { $0.path == "/proc/1/maps" && $0.status == .denied })
        #expect(files.contains { $0.path == "/proc/meminfo" && $0.status == .ok })
    }
}

extension AgentBehaviourTests {
    /// A cgroup with a pids limit (v1 or v2, whichever this machine has): the agent records pids.max and
    /// pids.current for a process inside it. Skipped only where no pids controller can be written.
    /// A cgroup hierarchy with the pids controller, where root can make a child group.
    static let pidsCgroupBase: String? = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"].first {
        FileManager.default.fileExists(atPath: $0 + "/cgroup.procs") && (
            FileManager.default.fileExists(atPath: $0 + "/pids.current") || $0.hasSuffix("/pids")
                || ((try? String(contentsOfFile: $0 + "/cgroup.subtree_control", encoding: .utf8)) ?? "").contains("pids"))
    }

    @Test(.enabled(if: getuid() == 0 && AgentBehaviourTests.pidsCgroupBase != nil, "needs root and a pids cgroup controller"))
    func cgroupPidsLimitIsCaptured() throws {
        let group = try #require(Self.pidsCgroupBase) + "/field-test-\(getpid())"
        try #require(mkdir(group, 0o755) == 0, "cannot create \(group): errno \(errno)")
        defer { rmdir(group) }
        try #require(FileManager.default.fileExists(atPath: group + "/pids.max"))
        try "37".write(toFile: group + "/pids.max", atomically: false, encoding: .utf8)
        let sleeper = try startSleeper()
        defer { sleeper.terminate(); sleeper.waitUntilExit() }
        try "\(sleeper.processIdentifier)".write(toFile: group + "/cgroup.procs", atomically: false, encoding: .utf8)
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Harness.fieldagent(["--interval", "0.1", "--duration", "0.3", "--spool", dir, "--pid", String(sleeper.processIdentifier)])
        #expect(run.status == 0)
        let files = try samples(in: dir).flatMap(\.files)
        let max = try #require(files.first { $0.path.hasSuffix("/field-test-\(getpid())/pids.max") })
        #expect(max.status == .ok && max.bytes == Array("37\n".utf8))
        #expect(files.contains { $0.path.hasSuffix("/field-test-\(getpid())/pids.current") && $0.bytes == Array("1\n".utf8) })
    }

    /// Kernel log lines written while the agent runs are in the bundle as events.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isWritableFile(atPath: "/dev/kmsg"), "needs root to write /dev/kmsg"))
    func kernelLogLinesBecomeEvents() throws {
        let kmsg = try #require(FileHandle(forWritingAtPath: "/dev/kmsg"))
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        Harness.configureAgent(p, ["--interval", "0.1", "--duration", "1.5", "--spool", dir, "--pid", "1"])
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        #expect(Harness.waitFor(10) { ((try? Harness.files(in: dir, suffix: ".open")) ?? []).count == 1 })
        usleep(300_000)
        let marker = "field-e2e-marker-\(getpid())"
        kmsg.write(Data("<6>\(marker)\n".utf8))
        try kmsg.close()
        p.waitUntilExit()
        let events = try records(in: dir).filter { $0.type == .event }.map { try RecordCodec.decodeEvent($0.payload) }
        #expect(events.contains { $0.source == "/dev/kmsg" && $0.lines.contains { String(decoding: $0, as: UTF8.self).hasSuffix(";\(marker)") } })
    }
}

extension AgentBehaviourTests {
    /// The spool's filesystem fills up (a 128 KiB tmpfs, room for two or three bundles of one sample each, and a quota larger than the disk): the agent says so, keeps
    /// sampling, leaves only readable bundles, and still stops cleanly.
    @Test(.enabled(if: getuid() == 0, "needs root to mount a tmpfs"))
    func fullDiskIsSurvived() throws {
        let mnt = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: mnt) }
        try #require(try Harness.run("/bin/mount", ["-t", "tmpfs", "-o", "size=128k", "tmpfs", mnt]).status == 0)
        defer { _ = try? Harness.run("/bin/umount", [mnt]) }
        let run = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "3", "--spool", mnt, "--device-id", "full",
            "--bundle-bytes", "8K", "--spool-max-bytes", "4M", "--deep-every", "1",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("No space left on device"), "\(run.stderr)")
        // Every closed bundle is intact; an abandoned .open (if any) still yields its records.
        for path in try Harness.files(in: mnt, suffix: ".zst") {
            let r = try BundleReader(path: path)
            while r.next() != nil {}
            #expect(r.isComplete, "\(path): \(String(describing: r.damage))")
        }
        // Failed starts leave nothing behind. A bundle whose writing failed is sealed at once (recovered into a
        // closed bundle); where the full disk stopped that too, it waits as `.crashed`, which keeps what it had
        // flushed. None is left `.open`, where neither the quota nor the upload would see it.
        #expect(try Harness.files(in: mnt, suffix: ".open").isEmpty, "\(run.stderr.suffix(1500))")
        let open = try Harness.files(in: mnt, suffix: ".crashed")
        #expect(open.count <= 2, "\(open.count) leftover .crashed files")
        for path in open {
            let r = try BundleReader(path: path)
            var n = 0
            while r.next() != nil { n += 1 }
            #expect(n >= 1, "\(path) holds nothing readable")
        }
        // Room was made by dropping the oldest closed bundles, and the drop is on record in a later bundle
        // (closed, or still open if the disk filled again while closing it).
        #expect(run.stderr.contains("disk full: dropped"), "\(run.stderr)")
        var losses: [LossReport] = []
        for path in try Harness.files(in: mnt, suffix: ".zst") + Harness.files(in: mnt, suffix: ".crashed") {
            let r = try BundleReader(path: path)
            while let rec = r.next() {
                if rec.type == .loss { losses.append(try RecordCodec.decodeLoss(rec.payload)) }
            }
        }
        // A drop after the last bundle opened waits in `pending-losses` for the next start's first bundle.
        let pending = (try? String(contentsOfFile: mnt + "/pending-losses", encoding: .utf8)) ?? ""
        #expect(losses.contains { $0.reason == "disk-full" && $0.bundles >= 1 } || pending.hasPrefix("disk-full "), "no disk-full loss record survives: \(run.stderr.suffix(1500)) \(losses) in \((try? FileManager.default.contentsOfDirectory(atPath: mnt)) ?? [])")
    }
}
