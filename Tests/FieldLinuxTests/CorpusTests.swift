import FieldLinux
import Foundation
import Testing

/// The parsers over the prometheus/procfs corpus (../shared/corpora), extracted to a temporary proc root.
///
/// The corpus is hand-assembled from several kernels: it checks robustness (no trap, no skipped lines where the
/// content is well-formed) and a few values known from its files.
@Suite struct CorpusTests {
    func corpus() throws -> PrometheusCorpus.Loaded {
        try PrometheusCorpus.loaded.get()
    }

    func file(_ relative: String) throws -> [UInt8] {
        try procFile(try corpus().procRoot + "/" + relative)
    }

    /// The numeric (process) directories of the extracted proc root.
    func processDirectories() throws -> [String] {
        let root = try corpus().procRoot
        return try FileManager.default.contentsOfDirectory(atPath: root)
            .filter { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
            .sorted()
            .map { root + "/" + $0 }
    }

    @Test func ttarReaderDecodesNulEofEscapesAndHeaderLookalikes() throws {
        let archive = """
            # Archive created by hand
            Directory: fixtures/proc
            Mode: 755
            # ttar - - - - - -
            Path: fixtures/proc/a
            Lines: 3
            Path: not/a/header
            xNULLBYTEy\\NULLBYTE
            lastEOF
            Mode: 644
            # ttar - - - - - -
            Path: fixtures/proc/b
            Lines: 1
            ends with \\EOF
            Mode: 644
            # ttar - - - - - -
            Path: fixtures/proc/c
            Lines: 0
            Mode: 644
            # ttar - - - - - -
            Path: fixtures/proc/link
            SymlinkTo: a
            # ttar - - - - - -

            """
        let t = try TTarArchive(bytes: bytes(archive))
        #expect(t.entries.count == 5)
        guard case .file(let a) = t.entries[1].kind, case .file(let b) = t.entries[2].kind,
            case .file(let c) = t.entries[3].kind, case .symlink(let target) = t.entries[4].kind
        else {
            Issue.record("unexpected entry kinds")
            return
        }
        #expect(a == bytes("Path: not/a/header\nx\0yNULLBYTE\nlast"))
        #expect(b == bytes("ends with EOF\n"))
        #expect(c.isEmpty && target == "a")
    }

    @Test func extractsTheArchiveToAProcRoot() throws {
        let c = try corpus()
        #expect(c.files.count > 100)
        #expect(FileManager.default.fileExists(atPath: c.procRoot + "/meminfo"))
        #expect(try processDirectories().count >= 6)
        // NULLBYTE and the EOF marker decode to a NUL-separated cmdline without a trailing newline.
        #expect(c.files["26231/cmdline"] == Array("vim\0test.go\0+10\0".utf8))
    }

    @Test func everyProcessFileParses() throws {
        var parsed = 0
        for dir in try processDirectories() {
            if let raw = readProcFile(dir + "/maps") {
                #expect(MapsParser.parse(raw).skippedLines == 0, "\(dir)/maps")
                parsed += 1
            }
            if let raw = readProcFile(dir + "/status") {
                #expect(StatusParser.parse(raw).skippedLines == 0, "\(dir)/status")
                parsed += 1
            }
            if let raw = readProcFile(dir + "/stat") {
                #expect(StatParser.parse(raw) != nil, "\(dir)/stat")
                parsed += 1
            }
            if let raw = readProcFile(dir + "/limits") {
                #expect(LimitsParser.parse(raw).skippedLines == 0, "\(dir)/limits")
                parsed += 1
            }
            if let raw = readProcFile(dir + "/smaps_rollup") {
                #expect(SmapsRollupParser.parse(raw).skippedLines == 0, "\(dir)/smaps_rollup")
                parsed += 1
            }
            if let raw = readProcFile(dir + "/cmdline") { _ = CmdlineParser.parse(raw) }
            if let raw = readProcFile(dir + "/comm") { #expect(CommParser.parse(raw) != nil) }
            if let raw = listingCapture(dir + "/task") {
                let tasks = TaskListParser.parse(raw)
                #expect(tasks.skippedLines == 0)
                for tid in tasks.threadIDs {
                    guard let s = readProcFile(dir + "/task/\(tid)/stat") else { continue }
                    #expect(StatParser.parse(s)?.pid == tid, "\(dir)/task/\(tid)/stat")
                }
            }
            if let raw = listingCapture(dir + "/fd") { _ = FDListParser.count(raw) }
        }
        #expect(parsed == 11)  // maps 2, status 2, stat 4, limits 2, smaps_rollup 1
    }

    @Test func everySystemFileParses() throws {
        let root = try corpus().procRoot
        let mem = MeminfoParser.parse(try file("meminfo"))
        #expect(mem.skippedLines == 0 && mem.memTotal == 15_666_184 * 1024)
        #expect(mem["HugePages_Total"] == 0 && mem["Hugepagesize"] == 2048 * 1024)
        #expect(mem.memAvailable == nil && mem.availableEstimate != nil)  // this capture has no MemAvailable

        let load = try #require(LoadavgParser.parse(try file("loadavg")))
        #expect(load.one == 0.02 && load.five == 0.04 && load.fifteen == 0.05)
        #expect(load.runnable == 1 && load.total == 497 && load.lastPID == 11947)

        let memoryPressure = PressureParser.parse(try file("pressure/memory"))
        #expect(memoryPressure.some?.avg10 == 0.10 && memoryPressure.some?.totalMicroseconds == 15)
        #expect(memoryPressure.full?.avg300 == 4.95 && memoryPressure.full?.totalMicroseconds == 25)
        for kind in ["cpu", "io"] {
            if let raw = readProcFile(root + "/pressure/" + kind) {
                #expect(PressureParser.parse(raw).some != nil, "pressure/\(kind)")
            }
        }

        let slab = SlabinfoParser.parse(try file("slabinfo"))
        #expect(slab.version == "2.1" && slab.skippedLines == 0 && slab.caches.count == 300)
        let pid3 = try #require(slab.cache(named: "pid_3"))
        #expect(pid3.activeObjects == 375 && pid3.objects == 532 && pid3.objectSize == 576)
        #expect(pid3.objectsPerSlab == 28 && pid3.pagesPerSlab == 4 && pid3.slabs == 19)
        #expect(slab.cache(named: "iwl_cmd_pool:0000:04:00.0")?.objects == 128)

        #expect(NumberFileParser.parse(try file("sys/vm/max_map_count")) == 65530)
        for optional in ["vmstat", "sys/kernel/threads-max", "sys/kernel/pid_max", "sys/fs/file-nr", "version"] {
            guard let raw = readProcFile(root + "/" + optional) else { continue }
            switch optional {
            case "vmstat": #expect(VMStatParser.parse(raw).skippedLines == 0)
            case "sys/fs/file-nr": #expect(FileNrParser.parse(raw) != nil)
            case "version": #expect(VersionParser.parse(raw)?.release != nil)
            default: #expect(NumberFileParser.parse(raw) != nil, "\(optional)")
            }
        }
    }

    @Test func knownProcessContent() throws {
        // 26231: a status with a blank first line; tabs; every memory field.
        let status = StatusParser.parse(try file("26231/status"))
        #expect(status.name == "prometheus" && status.state == "S" && status.pid == 26231 && status.ppid == 1)
        #expect(status.uid == 1000 && status.threads == 1 && status.fdSize == 128)
        #expect(status.vmRSS == 6716 * 1024 && status.rssAnon == 2092 * 1024 && status.vmSwap == 660 * 1024)
        #expect(status.signalQueue == SignalQueue(used: 8, limit: 63965))

        // 26235: keys separated from values by spaces rather than a tab.
        let spaced = StatusParser.parse(try file("26235/status"))
        #expect(spaced.name == "kube-proxy" && spaced.threads == 51 && spaced.tgid == 26235)
        #expect(spaced.vmSize == 758_200 * 1024 && spaced.rssFile == 17800 * 1024)

        // 584/stat: a comm with spaces and parentheses, and a second line that is not part of stat.
        let odd = try #require(StatParser.parse(try file("584/stat")))
        #expect(odd.pid == 1020 && odd.comm == "(a b ) ( c d) " && odd.state == "R" && odd.ppid == 28378)
        #expect(odd.threads == 1 && odd.startTicks == 10_839_175 && odd.virtualBytes == 10_395_648)
        #expect(odd.residentPages == 155)

        // 26232/stat: a kernel thread with extreme values in fields we do not type.
        let kthread = try #require(StatParser.parse(try file("26232/stat")))
        #expect(kthread.comm == "ata_sff" && kthread.ppid == 2 && kthread.threads == 1 && kthread.virtualBytes == 0)

        let vim = try #require(StatParser.parse(try file("26231/stat")))
        #expect(vim.comm == "vim" && vim.threads == 1 && vim.startTicks == 82375)
        #expect(vim.virtualBytes == 56_274_944 && vim.residentPages == 1981)
    }

    @Test func knownMapsContent() throws {
        // 26232: 64-bit with [vsyscall]; a "rwxs" line.
        let maps = MapsParser.parse(try file("26232/maps"))
        #expect(maps.mappings.count == 9)
        #expect(maps.mappings[1].permissions == [.read, .write, .execute, .shared])
        #expect(maps.mappings.map(\.kind).contains(.heap) && maps.mappings.map(\.kind).contains(.mainStack))
        #expect(maps.mappings.last?.kind == .special("vsyscall") && maps.mappings.last?.start == 0xffff_ffff_ff60_0000)
        #expect(maps.mappings[3].kind == .file("/usr/lib/locale/locale-archive"))

        // 26234: an old 32-bit kernel, a single space before the name.
        let old = MapsParser.parse(try file("26234/maps"))
        #expect(old.mappings.count == 4 && old.skippedLines == 0)
        #expect(old.mappings.map(\.name) == ["/bin/tcsh", "/bin/tcsh", "", "/lib/ld-2.3.2.so"])
        #expect(old.mappings[0].start == 0x0804_8000 && old.mappings[0].device == DeviceNumber(major: 3, minor: 1))
        #expect(old.mappings[2].kind == .anonymous && old.mappings[2].permissions == [.read, .write, .execute])
    }

    @Test func knownLimitsRollupCmdlineTasksAndFds() throws {
        let limits = LimitsParser.parse(try file("26231/limits"))
        #expect(limits.limits.count == 16)
        #expect(limits.openFiles == ResourceLimit(name: "Max open files", soft: 2048, hard: 4096, unit: "files"))
        #expect(limits.addressSpace?.soft == 8_589_934_592 && limits.addressSpace?.hard == nil)
        #expect(limits.lockedMemory?.soft == 18_446_744_073_708_503_040)
        #expect(limits.limit(named: "Max nice priority")?.unit == nil)

        let rollup = SmapsRollupParser.parse(try file("26231/smaps_rollup"))
        #expect(rollup.start == 0x40_0000 && rollup.end == 0xffff_ffff_ff60_1000)
        #expect(rollup.rss == 29948 * 1024 && rollup.pss == 29944 * 1024 && rollup.swap == 1940 * 1024)
        #expect(rollup.anonymous == 20756 * 1024 && rollup.pssAnon == nil)

        #expect(CmdlineParser.parse(try file("26231/cmdline")) == ["vim", "test.go", "+10"])
        #expect(CmdlineParser.parse(try file("26232/cmdline")) == [])
        #expect(CmdlineParser.parse(try file("26233/cmdline")) == ["com.github.uiautomator"])
        #expect(CommParser.parse(try file("26231/comm")) == "vim")

        let root = try corpus().procRoot
        let tasks = TaskListParser.parse(try listing(root + "/27079/task"))
        #expect(tasks.threadIDs.sorted() == [27079, 27080, 27081, 27082, 27083])
        #expect(FDListParser.count(try listing(root + "/26231/fd")) == 5)
    }

    @Test func noParserTrapsOnAnyCorpusFile() throws {
        // Every file through every parser: wrong formats must give empty or nil results, never a crash.
        for (_, raw) in try corpus().files {
            _ = MapsParser.parse(raw)
            _ = StatusParser.parse(raw)
            _ = StatParser.parse(raw)
            _ = LimitsParser.parse(raw)
            _ = SmapsRollupParser.parse(raw)
            _ = CmdlineParser.parse(raw)
            _ = CommParser.parse(raw)
            _ = TaskListParser.parse(raw)
            _ = FDListParser.count(raw)
            _ = CgroupPidsParser.parseMax(raw)
            _ = MeminfoParser.parse(raw)
            _ = LoadavgParser.parse(raw)
            _ = VMStatParser.parse(raw)
            _ = PressureParser.parse(raw)
            _ = SlabinfoParser.parse(raw)
            _ = NumberFileParser.parse(raw)
            _ = FileNrParser.parse(raw)
            _ = VersionParser.parse(raw)
            _ = KmsgParser.parse(raw).events
        }
    }
}
