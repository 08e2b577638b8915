import FieldLinux
import Foundation
import Glibc
import Testing

/// The parsers over this machine's real /proc: what the kernel prints today must parse without skipped lines.
@Suite struct LiveProcTests {
    let pid = getpid()

    @Test func ownMapsHaveTheHeapOrStackAndOurExecutable() throws {
        let raw = try procFile("/proc/self/maps")
        let maps = MapsParser.parse(raw)
        #expect(maps.skippedLines == 0)
        #expect(maps.mappings.count > 10)
        #expect(maps.mappings.contains { $0.kind == .heap || $0.kind == .mainStack })
        #expect(maps.mappings.contains { if case .file = $0.kind { true } else { false } })
        #expect(maps.mappings.allSatisfy { $0.start < $0.end })
        // Mappings come in address order and never overlap.
        #expect(zip(maps.mappings, maps.mappings.dropFirst()).allSatisfy { $0.end <= $1.start })
    }

    @Test func ownStatusAndStatAgree() throws {
        let status = StatusParser.parse(try procFile("/proc/self/status"))
        #expect(status.skippedLines == 0)
        #expect(status.pid == pid && status.tgid == pid && status.ppid == getppid())
        #expect((status.threads ?? 0) >= 1)
        #expect((status.vmRSS ?? 0) > 0 && (status.vmSize ?? 0) >= (status.vmRSS ?? 0))
        #expect(status.uid == getuid())
        #expect(status.name != nil && status.signalQueue != nil && status.fdSize != nil)

        let stat = try #require(StatParser.parse(try procFile("/proc/self/stat")))
        #expect(stat.pid == pid && stat.ppid == getppid())
        #expect((stat.threads ?? 0) >= 1 && (stat.virtualBytes ?? 0) > 0 && (stat.residentPages ?? 0) > 0)
        #expect(stat.rest.count >= 49)
        let comm = CommParser.parse(try procFile("/proc/self/comm"))
        #expect(comm == stat.comm && comm == status.name)
    }

    @Test func ownLimitsMatchGetrlimit() throws {
        let limits = LimitsParser.parse(try procFile("/proc/self/limits"))
        #expect(limits.skippedLines == 0 && limits.limits.count == 16)
        var rl = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
        let files = try #require(limits.openFiles)
        #expect(files.soft == (rl.rlim_cur == rlim_t.max ? nil : UInt64(rl.rlim_cur)))
        #expect(files.hard == (rl.rlim_max == rlim_t.max ? nil : UInt64(rl.rlim_max)))
        #expect(files.unit == "files")
    }

    @Test func ownSmapsRollupWhenTheKernelHasIt() throws {
        guard let raw = readProcFile("/proc/self/smaps_rollup") else { return }  // before 4.14
        let r = SmapsRollupParser.parse(raw)
        #expect(r.skippedLines == 0 && r.start != nil)
        #expect((r.rss ?? 0) > 0 && (r.pss ?? 0) > 0 && (r.pss ?? 0) <= (r.rss ?? 0))
    }

    @Test func ownCmdlineTasksAndDescriptors() throws {
        let args = CmdlineParser.parse(try procFile("/proc/self/cmdline"))
        #expect(!args.isEmpty && args.count == CommandLine.arguments.count)
        let tasks = TaskListParser.parse(try listing("/proc/self/task"))
        #expect(tasks.skippedLines == 0 && tasks.threadIDs.contains(pid))
        let fds = FDListParser.count(try listing("/proc/self/fd"))
        #expect(fds >= 3)
        for tid in tasks.threadIDs.prefix(5) {
            guard let raw = readProcFile("/proc/self/task/\(tid)/comm") else { continue }  // it may have exited
            #expect((CommParser.parse(raw)?.utf8.count ?? 99) <= 15)
        }
    }

    @Test func systemFiles() throws {
        let mem = MeminfoParser.parse(try procFile("/proc/meminfo"))
        #expect(mem.skippedLines == 0)
        #expect((mem.memTotal ?? 0) > 0 && (mem.memFree ?? 0) <= (mem.memTotal ?? 0))
        #expect((mem.availableEstimate ?? 0) > 0 && (mem.kernelStack ?? 0) > 0)

        let load = try #require(LoadavgParser.parse(try procFile("/proc/loadavg")))
        #expect(load.total >= 1 && load.runnable >= 1 && load.one >= 0)

        let vm = VMStatParser.parse(try procFile("/proc/vmstat"))
        #expect(vm.skippedLines == 0 && vm["nr_free_pages"] != nil)

        if let raw = readProcFile("/proc/pressure/memory") {  // 4.20+ with PSI enabled
            let p = PressureParser.parse(raw)
            #expect(p.some != nil && p.skippedLines == 0)
            #expect((p.some?.avg10 ?? -1) >= 0 && p.some?.totalMicroseconds != nil)
        }

        let version = try #require(VersionParser.parse(try procFile("/proc/version")))
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #expect(version.release == release && version.major != nil)

        for path in ["/proc/sys/kernel/threads-max", "/proc/sys/kernel/pid_max", "/proc/sys/vm/max_map_count"] {
            let n = NumberFileParser.parse(try procFile(path))
            #expect((n ?? 0) > 0, "\(path)")
        }
        let nr = try #require(FileNrParser.parse(try procFile("/proc/sys/fs/file-nr")))
        #expect(nr.allocated > 0 && nr.allocated <= nr.maximum)

        if let raw = readProcFile("/proc/slabinfo") {  // root only
            let slab = SlabinfoParser.parse(raw)
            #expect(slab.version?.hasPrefix("2.") == true && slab.skippedLines == 0 && !slab.caches.isEmpty)
        }
    }

    @Test func cgroupPidsFilesWhenMounted() throws {
        // cgroup v2 puts pids.* in the process's own cgroup directory; v1 under the pids hierarchy.
        let candidates = ["/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/unified/pids.max"]
        for path in candidates {
            guard let raw = readProcFile(path) else { continue }
            #expect(CgroupPidsParser.parseMax(raw) != nil, "\(path)")
            if let current = readProcFile(path.replacingOccurrences(of: "pids.max", with: "pids.current")) {
                #expect(CgroupPidsParser.parseCurrent(current) != nil)
            }
        }
    }

    @Test func kernelLogWhenReadable() throws {
        // Reading /dev/kmsg needs privileges; without them there is nothing to check.
        let fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var raw: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        for _ in 0..<5000 {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EPIPE { continue }  // a record was overwritten while we read: skip it
            if n <= 0 { break }
            raw.append(contentsOf: buf[0..<n])
        }
        let log = KmsgParser.parse(raw)
        #expect(log.skippedLines == 0)
        #expect(zip(log.records, log.records.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
    }
}
