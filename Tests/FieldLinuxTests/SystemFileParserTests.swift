import FieldLinux
import Testing

@Suite struct SystemFileParserTests {
    @Test func meminfoInBytesWithUnitlessHugePages() {
        let text = """
            MemTotal:         505616 kB
            MemFree:           20340 kB
            MemAvailable:     150000 kB
            Buffers:            1200 kB
            Cached:           130000 kB
            Active(anon):      99000 kB
            SwapTotal:             0 kB
            Shmem:              4096 kB
            Slab:              30000 kB
            SReclaimable:      12000 kB
            SUnreclaim:        18000 kB
            KernelStack:        2400 kB
            PageTables:         3000 kB
            CommitLimit:      252808 kB
            Committed_AS:     900000 kB
            VmallocTotal:   34359738367 kB
            HugePages_Total:       4
            HugePages_Free:        2
            Hugepagesize:       2048 kB

            """
        let m = MeminfoParser.parse(bytes(text))
        #expect(m.skippedLines == 0 && m.values.entries.count == 19)
        #expect(m.memTotal == 505_616 * 1024 && m.memFree == 20340 * 1024 && m.memAvailable == 150_000 * 1024)
        #expect(m.availableEstimate == 150_000 * 1024)
        #expect(m.buffers == 1200 * 1024 && m.cached == 130_000 * 1024 && m.swapTotal == 0 && m.swapFree == nil)
        #expect(m.shmem == 4096 * 1024 && m.slab == 30000 * 1024)
        #expect(m.slabReclaimable == 12000 * 1024 && m.slabUnreclaimable == 18000 * 1024)
        #expect(m.kernelStack == 2400 * 1024 && m.pageTables == 3000 * 1024)
        #expect(m.commitLimit == 252_808 * 1024 && m.committedAS == 900_000 * 1024)
        #expect(m["Active(anon)"] == 99000 * 1024 && m["VmallocTotal"] == 34_359_738_367 * 1024)
        #expect(m["HugePages_Total"] == 4 && m["Hugepagesize"] == 2048 * 1024)
        #expect(m.values.entries.first { $0.name == "HugePages_Free" }?.unit == .count)
        #expect(m.values.entries.first { $0.name == "Hugepagesize" }?.unit == .bytes)
    }

    @Test func meminfoOfOldKernelsHasNoMemAvailable() {
        let m = MeminfoParser.parse(
            bytes("MemTotal: 60000 kB\nMemFree: 1000 kB\nBuffers: 100 kB\nCached: 900 kB\njunk\n"))
        #expect(m.memAvailable == nil && m.availableEstimate == 2000 * 1024 && m.skippedLines == 1)
        #expect(MeminfoParser.parse([]).memTotal == nil)
    }

    /// Whole numbers without a fraction (not printed by Linux, but possible in fixtures): the value, not a bit pattern.
    @Test func loadavgWithoutFractions() throws {
        let l = try #require(LoadavgParser.parse(bytes("3 1 12 3/412 29871\n")))
        #expect(l.one == 3 && l.five == 1 && l.fifteen == 12)
    }

    @Test func loadavg() throws {
        let l = try #require(LoadavgParser.parse(bytes("0.52 1.07 12.30 3/412 29871\n")))
        #expect(l.one == 0.52 && l.five == 1.07 && l.fifteen == 12.30)
        #expect(l.runnable == 3 && l.total == 412 && l.lastPID == 29871)
        #expect(LoadavgParser.parse(bytes("0.00 0.00 0.00 1/50"))?.lastPID == nil)
        #expect(LoadavgParser.parse(bytes("0.00 0.00 0.00 150")) == nil)
        #expect(LoadavgParser.parse(bytes("a b c 1/2 3")) == nil)
        #expect(LoadavgParser.parse([]) == nil)
    }

    @Test func vmstatByNameWithOOMKills() {
        let v = VMStatParser.parse(bytes("nr_free_pages 12000\npgmajfault 77\npswpin 1\npswpout 2\noom_kill 3\nbad\n"))
        #expect(v["nr_free_pages"] == 12000 && v.oomKills == 3 && v.majorFaults == 77)
        #expect(v.pagesSwappedIn == 1 && v.pagesSwappedOut == 2 && v.skippedLines == 1)
        #expect(VMStatParser.parse(bytes("nr_free_pages 1\n")).oomKills == nil)  // before 4.13
    }

    @Test func pressureSomeAndFull() throws {
        let text = """
            some avg10=1.53 avg60=0.87 avg300=0.20 total=123456789
            full avg10=0.00 avg60=0.10 avg300=0.05 total=4321

            """
        let p = PressureParser.parse(bytes(text))
        let some = try #require(p.some)
        #expect(
            some.avg10 == 1.53 && some.avg60 == 0.87 && some.avg300 == 0.20 && some.totalMicroseconds == 123_456_789)
        #expect(p.full?.avg60 == 0.10 && p.full?.totalMicroseconds == 4321 && p.skippedLines == 0)
        // CPU pressure before 5.13 has no "full" line; unknown keys and lines are tolerated.
        let cpu = PressureParser.parse(bytes("some avg10=0.00 avg60=0.00 avg300=0.00 total=0 extra=1\nmystery 1\n"))
        #expect(cpu.full == nil && cpu.some?.totalMicroseconds == 0 && cpu.skippedLines == 1)
        #expect(PressureParser.parse([]) == Pressure())
    }

    @Test func slabinfo21() throws {
        let text = """
            slabinfo - version: 2.1
            # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
            task_struct          620    665   5952    5    8 : tunables    0    0    0 : slabdata    133    133      0
            kmalloc-64         40960  41984     64   64    1 : tunables  120   60    8 : slabdata    656    656      0
            dm_bufio_buffer:0000:01:00.0      0      0    256   16    1 : tunables    0    0    0 : slabdata      0      0      0
            broken row
            old-style            10     20    128
            """
        let s = SlabinfoParser.parse(bytes(text))
        #expect(s.version == "2.1" && s.caches.count == 4 && s.skippedLines == 1)
        let task = try #require(s.cache(named: "task_struct"))
        #expect(task.activeObjects == 620 && task.objects == 665 && task.objectSize == 5952)
        #expect(task.objectsPerSlab == 5 && task.pagesPerSlab == 8)
        #expect(task.activeSlabs == 133 && task.slabs == 133 && task.sharedAvailable == 0)
        #expect(task.objectBytes == 665 * 5952 && task.slabBytes(pageSize: 4096) == 133 * 8 * 4096)
        let k = try #require(s.cache(named: "kmalloc-64"))
        #expect(k.limit == 120 && k.batchCount == 60 && k.sharedFactor == 8)
        #expect(s.cache(named: "dm_bufio_buffer:0000:01:00.0")?.objectSize == 256)
        let old = try #require(s.cache(named: "old-style"))
        #expect(old.objectsPerSlab == nil && old.slabs == nil && old.slabBytes(pageSize: 4096) == nil)
        #expect(SlabinfoParser.parse([]) == SlabInfo())
    }

    @Test func emptyInputNeverTraps() {
        // An unreadable file is captured with no bytes: every parser must answer "nothing" instead of failing.
        let empty: [UInt8] = []
        #expect(MapsParser.parse(empty).mappings.isEmpty && StatusParser.parse(empty).fields.isEmpty)
        #expect(StatParser.parse(empty) == nil && LimitsParser.parse(empty).limits.isEmpty)
        #expect(SmapsRollupParser.parse(empty).rss == nil && CmdlineParser.parse(empty).isEmpty)
        #expect(CommParser.parse(empty) == nil && TaskListParser.parse(empty).threadIDs.isEmpty)
        #expect(FDListParser.count(empty) == 0 && CgroupPidsParser.parseMax(empty) == nil)
        #expect(MeminfoParser.parse(empty).values.isEmpty && LoadavgParser.parse(empty) == nil)
        #expect(VMStatParser.parse(empty).values.isEmpty && PressureParser.parse(empty).some == nil)
        #expect(SlabinfoParser.parse(empty).caches.isEmpty && NumberFileParser.parse(empty) == nil)
        #expect(FileNrParser.parse(empty) == nil && VersionParser.parse(empty) == nil)
        #expect(KmsgParser.parse(empty).records.isEmpty && KernelEventParser.parse("") == nil)
    }

    @Test func singleNumberFiles() {
        #expect(NumberFileParser.parse(bytes("63382\n")) == 63382)  // threads-max
        #expect(NumberFileParser.parse(bytes("4194304\n")) == 4_194_304)  // pid_max
        #expect(NumberFileParser.parse(bytes("65530")) == 65530)  // max_map_count
        #expect(NumberFileParser.parse(bytes("12 34\n")) == nil)
        #expect(NumberFileParser.parse(bytes("-1\n")) == nil)
        #expect(NumberFileParser.parse([]) == nil)
    }

    @Test func fileNr() {
        #expect(
            FileNrParser.parse(bytes("3424\t0\t9223372036854775807\n"))
                == FileHandleCounts(allocated: 3424, unused: 0, maximum: 9_223_372_036_854_775_807))
        #expect(FileNrParser.parse(bytes("1 2\n")) == nil)
        #expect(FileNrParser.parse([]) == nil)
    }

    @Test func versionKeepsTheLineAndTheRelease() throws {
        let v = try #require(
            VersionParser.parse(
                bytes(
                    "Linux version 3.10.108-rt123 (build@host) (gcc version 4.9.4 (GCC) ) #1 SMP PREEMPT Mon Jan 1 00:00:00 CST 2018\n"
                )))
        #expect(v.line.hasPrefix("Linux version 3.10.108-rt123 (build@host)") && v.line.hasSuffix("2018"))
        #expect(v.release == "3.10.108-rt123" && v.major == 3 && v.minor == 10 && v.patch == 108)
        #expect(v.isAtLeast(3, 4) && !v.isAtLeast(4, 5) && v.isAtLeast(3, 10) && !v.isAtLeast(3, 11))
        let short = try #require(VersionParser.parse(bytes("Linux version 6.1 (x@y)")))
        #expect(short.major == 6 && short.minor == 1 && short.patch == nil)
        let other = try #require(VersionParser.parse(bytes("SylixOS kernel version: 2.3.8\n")))
        #expect(other.release == nil && other.major == nil && !other.isAtLeast(0, 0))
        #expect(VersionParser.parse([]) == nil)
        #expect(VersionParser.parse(bytes("\n")) == nil)
    }
}

@Suite struct KmsgParserTests {
    static let log = """
        6,1234,5678901,-;Out of memory: Kill process 4321 (leaky (app)) score 912 or sacrifice child
        3,1235,5678950,-;Killed process 4321 (leaky (app)) total-vm:1048576kB, anon-rss:524288kB, file-rss:1024kB, shmem-rss:0kB
        3,2001,9000000,-;Out of memory: Killed process 999 (worker 2) total-vm:204800kB, anon-rss:102400kB, file-rss:512kB, shmem-rss:8kB, UID:1000 pgtables:400kB oom_score_adj:-17
        3,2002,9000001,-;Memory cgroup out of memory: Killed process 1001 (svc) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0
        4,2003,9000002,c;Memory cgroup out of memory: Kill process 1002 (x) score 1000 or sacrifice child
        6,3000,12000000,-;my app[x][3141]: segfault at 0 ip 000055d0c8a01234 sp 00007ffd5a203e80 error 4 in my daemon[55d0c8a00000+6000]
        6,3001,12000001,-;crashy[77]: segfault at deadbeef ip 00007f1c2c03a1b2 sp 00007f1c2bffed00 error 6 in libc.so.6[7f1c2c028000+195000] likely on CPU 1 (core 1, socket 0)
        6,3002,12000002,-;bare[8]: segfault at 10 ip 0000000000401000 sp 00007ffc00000000 error 14
        12,3003,12000003,-,caller=T42;plain user message; with a semicolon
         SUBSYSTEM=pci
         DEVICE=+pci:0000:00:1f.0
        not a record
        6,3004,12000004;no flag at all
        2,3005,12000005,-;Out of memory: kill process 55 (old) score 3 or a child
        2,3006,12000006,-;Killed process 55 (old) vsz:2048kB, anon-rss:1024kB, file-rss:4kB

        """

    @Test func recordsAndContinuationLines() throws {
        let log = KmsgParser.parse(bytes(Self.log))
        #expect(log.records.count == 12 && log.skippedLines == 1)
        let first = try #require(log.records.first)
        #expect(first.priority == 6 && first.level == 6 && first.facility == 0)
        #expect(first.sequence == 1234 && first.timestampMicros == 5_678_901 && first.flag == "-")
        let user = log.records[8]
        #expect(user.facility == 1 && user.level == 4 && user.text == "plain user message; with a semicolon")
        #expect(
            user.metadata == [
                KernelLogMetadata(key: "SUBSYSTEM", value: "pci"),
                KernelLogMetadata(key: "DEVICE", value: "+pci:0000:00:1f.0"),
            ])
        #expect(log.records[4].flag == "c")
        #expect(log.records[9].flag == nil && log.records[9].text == "no flag at all")
    }

    @Test func oomKillsInOldAndNewForms() throws {
        let records = KmsgParser.parse(bytes(Self.log)).records
        #expect(
            records[0].event
                == .oomVictimSelected(OOMVictimSelection(pid: 4321, comm: "leaky (app)", score: 912, scope: .system)))
        guard case .oomKill(let old) = records[1].event else { Issue.record("no kill in \(records[1].text)"); return }
        #expect(old.pid == 4321 && old.comm == "leaky (app)" && old.scope == .unknown)
        #expect(old.totalVM == 1_048_576 * 1024 && old.anonRSS == 524_288 * 1024 && old.fileRSS == 1024 * 1024)
        #expect(old.shmemRSS == 0 && old.uid == nil && old.pageTables == nil && old.oomScoreAdj == nil)

        guard case .oomKill(let new) = records[2].event else { Issue.record("no kill in \(records[2].text)"); return }
        #expect(new.pid == 999 && new.comm == "worker 2" && new.scope == .system)
        #expect(new.anonRSS == 102_400 * 1024 && new.shmemRSS == 8 * 1024 && new.uid == 1000)
        #expect(new.pageTables == 400 * 1024 && new.oomScoreAdj == -17)

        guard case .oomKill(let cgroup) = records[3].event else { Issue.record("no kill"); return }
        #expect(cgroup.scope == .memoryCgroup && cgroup.comm == "svc" && cgroup.uid == 0)
        #expect(
            records[4].event
                == .oomVictimSelected(OOMVictimSelection(pid: 1002, comm: "x", score: 1000, scope: .memoryCgroup)))

        #expect(
            records[10].event == .oomVictimSelected(OOMVictimSelection(pid: 55, comm: "old", score: 3, scope: .system)))
        guard case .oomKill(let ancient) = records[11].event else { Issue.record("no kill"); return }
        #expect(ancient.totalVM == 2048 * 1024 && ancient.fileRSS == 4096)
    }

    @Test func segfaults() throws {
        let records = KmsgParser.parse(bytes(Self.log)).records
        guard case .segfault(let a) = records[5].event else { Issue.record("no segfault"); return }
        #expect(a.comm == "my app[x]" && a.pid == 3141 && a.address == 0)
        #expect(a.instructionPointer == 0x55d0_c8a0_1234 && a.stackPointer == 0x7ffd_5a20_3e80 && a.errorCode == 4)
        #expect(a.mappingName == "my daemon" && a.mappingBase == 0x55d0_c8a0_0000 && a.mappingSize == 0x6000)

        guard case .segfault(let b) = records[6].event else { Issue.record("no segfault"); return }
        #expect(b.comm == "crashy" && b.pid == 77 && b.address == 0xdead_beef && b.errorCode == 6)
        #expect(b.mappingName == "libc.so.6" && b.mappingBase == 0x7f1c_2c02_8000 && b.mappingSize == 0x195000)

        guard case .segfault(let c) = records[7].event else { Issue.record("no segfault"); return }
        #expect(c.errorCode == 0x14 && c.mappingName == nil && c.mappingBase == nil)
    }

    @Test func eventsListsOnlyRecordsWithEvents() {
        let log = KmsgParser.parse(bytes(Self.log))
        #expect(log.events.count == 10)
        #expect(log.records[8].event == nil && log.records[9].event == nil)
    }

    @Test func eventBatchLinesParseTheSame() {
        let lines = Self.log.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.utf8) }
        #expect(KmsgParser.parse(lines: lines) == KmsgParser.parse(bytes(Self.log)))
        #expect(KmsgParser.parse(lines: [bytes(" ORPHAN=1"), []]) == KernelLog(records: [], skippedLines: 1))
    }

    @Test func textsThatAreNotEventsGiveNil() {
        #expect(KernelEventParser.parse("") == nil)
        #expect(KernelEventParser.parse("Out of memory and no killable processes...") == nil)
        #expect(KernelEventParser.parse("Killed process x (y)") == nil)
        #expect(KernelEventParser.parse("a[1]: segfault at ") == .segfault(Segfault(comm: "a", pid: 1)))
        #expect(KernelEventParser.parse("nopid[]: segfault at 0 ip 0 sp 0 error 4") == nil)
        #expect(KmsgParser.parse([]) == KernelLog())
    }
}
