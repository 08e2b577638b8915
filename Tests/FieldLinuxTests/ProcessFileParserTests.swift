import FieldLinux
import Testing

@Suite struct StatusParserTests {
    /// A 5.x kernel's status (tab after the key, values right-aligned in kB).
    static let modern = """
        Name:\tmy worker
        Umask:\t0022
        State:\tS (sleeping)
        Tgid:\t4242
        Ngid:\t0
        Pid:\t4242
        PPid:\t1
        TracerPid:\t0
        Uid:\t1000\t1001\t1002\t1003
        Gid:\t1000\t1000\t1000\t1000
        FDSize:\t256
        Groups:\t4 24 27
        VmPeak:\t 1052672 kB
        VmSize:\t 1048576 kB
        VmLck:\t       0 kB
        VmPin:\t       0 kB
        VmHWM:\t   20480 kB
        VmRSS:\t   16384 kB
        RssAnon:\t   12288 kB
        RssFile:\t    4000 kB
        RssShmem:\t      96 kB
        VmData:\t  925000 kB
        VmStk:\t     132 kB
        VmExe:\t      64 kB
        VmLib:\t    5000 kB
        VmPTE:\t     300 kB
        VmSwap:\t      12 kB
        HugetlbPages:\t       0 kB
        CoreDumping:\t0
        THP_enabled:\t1
        Threads:\t130
        SigQ:\t3/31503
        SigPnd:\t0000000000000000
        voluntary_ctxt_switches:\t150
        nonvoluntary_ctxt_switches:\t7

        """

    @Test func typedFieldsAreInBytes() {
        let s = StatusParser.parse(bytes(Self.modern))
        #expect(s.skippedLines == 0)
        #expect(s.name == "my worker" && s.state == "S")
        #expect(s.tgid == 4242 && s.pid == 4242 && s.ppid == 1 && s.uid == 1000)
        #expect(s.threads == 130 && s.fdSize == 256)
        #expect(s.vmPeak == 1_052_672 * 1024 && s.vmSize == 1_048_576 * 1024)
        #expect(s.vmLck == 0 && s.vmHWM == 20480 * 1024 && s.vmRSS == 16384 * 1024)
        #expect(s.rssAnon == 12288 * 1024 && s.rssFile == 4000 * 1024 && s.rssShmem == 96 * 1024)
        #expect(s.vmData == 925_000 * 1024 && s.vmStk == 132 * 1024 && s.vmExe == 64 * 1024)
        #expect(s.vmLib == 5000 * 1024 && s.vmPTE == 300 * 1024 && s.vmSwap == 12 * 1024)
        #expect(s.signalQueue == SignalQueue(used: 3, limit: 31503))
    }

    @Test func keepsEveryFieldInOrder() {
        let s = StatusParser.parse(bytes(Self.modern))
        #expect(s.fields.count == 35)
        #expect(s.fields.first == StatusField(name: "Name", value: "my worker"))
        #expect(s.value(named: "Groups") == "4 24 27")
        #expect(s.value(named: "THP_enabled") == "1")
        #expect(s.value(named: "VmPMD") == nil)
    }

    @Test func oldKernelsLackFieldsAndThatIsFine() {
        // 2.6.32: no RssAnon/RssFile/RssShmem (4.5+), no VmSwap (2.6.34+); the fields it has still parse.
        let text = """
            Name:\tinit
            State:\tS (sleeping)
            Tgid:\t1
            Pid:\t1
            PPid:\t0
            TracerPid:\t0
            Uid:\t0\t0\t0\t0
            FDSize:\t32
            Groups:\t
            VmPeak:\t    2084 kB
            VmSize:\t    2080 kB
            VmLck:\t       0 kB
            VmHWM:\t     636 kB
            VmRSS:\t     636 kB
            VmData:\t     176 kB
            VmStk:\t      84 kB
            VmExe:\t      32 kB
            VmLib:\t    1780 kB
            VmPTE:\t      12 kB
            Threads:\t1
            SigQ:\t0/16382
            """
        let s = StatusParser.parse(bytes(text))
        #expect(s.rssAnon == nil && s.rssFile == nil && s.rssShmem == nil && s.vmSwap == nil)
        #expect(s.vmRSS == 636 * 1024 && s.threads == 1 && s.ppid == 0 && s.uid == 0)
        #expect(s.value(named: "Groups") == "")
    }

    @Test func toleratesSpacesBlankLinesAndGarbage() {
        let text = """

            Name:   spaced out
            State:  R (running)
            no colon here
            :\tno key
            Threads:        x7
            VmRSS:    oops kB
            SigQ:   12
            Name-ish: stays a field
            """
        let s = StatusParser.parse(bytes(text))
        #expect(s.name == "spaced out" && s.state == "R")
        #expect(s.skippedLines == 2)
        #expect(s.threads == nil && s.vmRSS == nil && s.signalQueue == nil)
        #expect(s.value(named: "Name-ish") == "stays a field")
    }

    @Test func nameKeepsItsOwnLeadingAndTrailingSpaces() {
        let s = StatusParser.parse(bytes("Name:\t  two lead, one trail \nState:\tS (sleeping)\n"))
        #expect(s.name == "  two lead, one trail ")
    }

    @Test func emptyInputGivesAnEmptyStatus() {
        #expect(StatusParser.parse([]) == ProcessStatus())
    }
}

@Suite struct StatParserTests {
    @Test func readsTheFieldsAnalysisUses() throws {
        let line =
            "4242 (worker) S 1 4242 4242 0 -1 4194560 1500 0 3 0 250 75 0 0 20 0 130 0 987654 1073741824 4096"
            + " 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n"
        let s = try #require(StatParser.parse(bytes(line)))
        #expect(s.pid == 4242 && s.comm == "worker" && s.state == "S" && s.ppid == 1)
        #expect(s.minorFaults == 1500 && s.majorFaults == 3 && s.userTicks == 250 && s.systemTicks == 75)
        #expect(s.threads == 130 && s.startTicks == 987_654 && s.virtualBytes == 1_073_741_824)
        #expect(s.residentPages == 4096)
        #expect(s.field(1) == "4242" && s.field(2) == "worker" && s.field(25) == "18446744073709551615")
        #expect(s.field(0) == nil && s.field(200) == nil)
    }

    @Test func commWithSpacesAndParenthesesSplitsAtTheLastParenthesis() throws {
        let s = try #require(
            StatParser.parse(bytes("77 (my ) (app) x) R 2 0 0 0 -1 0 9 0 1 0 5 6 0 0 20 0 3 0 100 2048 7\n")))
        #expect(s.comm == "my ) (app) x")
        #expect(s.state == "R" && s.ppid == 2 && s.threads == 3 && s.startTicks == 100 && s.residentPages == 7)
    }

    @Test func commMayEvenHoldANewline() throws {
        let s = try #require(StatParser.parse(bytes("9 (two\nlines) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n")))
        #expect(s.comm == "two\nlines" && s.threads == 1 && s.virtualBytes == 0)
    }

    @Test func shortLinesOfOldKernelsLeaveTheMissingFieldsNil() throws {
        let s = try #require(StatParser.parse(bytes("12 (kthreadd) S 0 0 0 0 -1 2149613888 0 0 0 0 0 0 0 0 20 0 1 0")))
        #expect(s.threads == 1 && s.startTicks == nil && s.virtualBytes == nil && s.residentPages == nil)
        let tiny = try #require(StatParser.parse(bytes("1 (init)")))
        #expect(tiny.comm == "init" && tiny.state == nil && tiny.ppid == nil)
    }

    @Test func rejectsWhatHasNoHead() {
        #expect(StatParser.parse([]) == nil)
        #expect(StatParser.parse(bytes("garbage")) == nil)
        #expect(StatParser.parse(bytes("x (comm) S")) == nil)
        #expect(StatParser.parse(bytes("12 )comm( S")) == nil)
    }

    @Test func negativeAndHugeNumbersDoNotTrap() throws {
        let s = try #require(
            StatParser.parse(
                bytes("5 (k) S 2 0 0 0 -1 0 0 0 0 0 0 0 -9223372036854775808 0 0 -20 1 0 5 99999999999999999999 -3")))
        #expect(s.virtualBytes == nil && s.residentPages == -3 && s.field(16) == "-9223372036854775808")
    }
}

@Suite struct LimitsParserTests {
    static let text = """
        Limit                     Soft Limit           Hard Limit           Units    \u{20}
        Max cpu time              unlimited            unlimited            seconds  \u{20}
        Max file size             unlimited            unlimited            bytes    \u{20}
        Max data size             unlimited            unlimited            bytes    \u{20}
        Max stack size            8388608              unlimited            bytes    \u{20}
        Max core file size        0                    unlimited            bytes    \u{20}
        Max resident set          unlimited            unlimited            bytes    \u{20}
        Max processes             3791                 3791                 processes\u{20}
        Max open files            1024                 524288               files    \u{20}
        Max locked memory         8388608              8388608              bytes    \u{20}
        Max address space         3221225472           unlimited            bytes    \u{20}
        Max file locks            unlimited            unlimited            locks    \u{20}
        Max pending signals       3791                 3791                 signals  \u{20}
        Max msgqueue size         819200               819200               bytes    \u{20}
        Max nice priority         0                    0                   \u{20}
        Max realtime priority     0                    0                   \u{20}
        Max realtime timeout      unlimited            unlimited            us       \u{20}

        """

    @Test func readsEveryRowWithUnlimitedAsNil() throws {
        let l = LimitsParser.parse(bytes(Self.text))
        #expect(l.skippedLines == 0 && l.limits.count == 16)
        #expect(l.openFiles == ResourceLimit(name: "Max open files", soft: 1024, hard: 524_288, unit: "files"))
        #expect(l.stackSize?.soft == 8_388_608 && l.stackSize?.hard == nil)
        #expect(l.processes?.soft == 3791 && l.processes?.unit == "processes")
        #expect(l.addressSpace?.soft == 3_221_225_472)
        #expect(l.dataSize?.soft == nil && l.lockedMemory?.hard == 8_388_608 && l.pendingSignals?.hard == 3791)
        let nice = try #require(l.limit(named: "Max nice priority"))
        #expect(nice.soft == 0 && nice.hard == 0 && nice.unit == nil)
        #expect(l.limit(named: "Max realtime timeout")?.unit == "us")
    }

    @Test func doesNotDependOnColumnWidths() {
        let text = "Limit Soft Limit Hard Limit Units\nMax open files 4096 8192 files\nMax nice priority 0 0\n"
        let l = LimitsParser.parse(bytes(text))
        #expect(l.openFiles?.soft == 4096 && l.openFiles?.hard == 8192)
        #expect(l.limit(named: "Max nice priority")?.unit == nil)
    }

    @Test func badRowsAreSkipped() {
        let l = LimitsParser.parse(bytes("Max open files lots many files\nshort\n\nMax processes 5 6 processes\n"))
        #expect(l.skippedLines == 2 && l.limits.count == 1 && l.processes?.hard == 6)
        #expect(LimitsParser.parse([]) == ProcessLimits())
    }
}

@Suite struct SmapsRollupParserTests {
    @Test func readsSummedFieldsByNameInBytes() {
        let text = """
            55d0c8a00000-7ffd5a2d6000 ---p 00000000 00:00 0                          [rollup]
            Rss:               16384 kB
            Pss:               12000 kB
            Pss_Dirty:          9000 kB
            Pss_Anon:           8000 kB
            Pss_File:           3500 kB
            Pss_Shmem:           500 kB
            Shared_Clean:       4000 kB
            Shared_Dirty:        384 kB
            Private_Clean:      2000 kB
            Private_Dirty:     10000 kB
            Referenced:        15000 kB
            Anonymous:         12288 kB
            KSM:                   0 kB
            LazyFree:             64 kB
            AnonHugePages:      2048 kB
            ShmemPmdMapped:        0 kB
            FilePmdMapped:         0 kB
            Shared_Hugetlb:        0 kB
            Private_Hugetlb:       0 kB
            Swap:                128 kB
            SwapPss:             100 kB
            Locked:                0 kB

            """
        let r = SmapsRollupParser.parse(bytes(text))
        #expect(r.skippedLines == 0 && r.values.entries.count == 22)
        #expect(r.start == 0x55d0_c8a0_0000 && r.end == 0x7ffd_5a2d_6000)
        #expect(r.rss == 16384 * 1024 && r.pss == 12000 * 1024 && r.pssDirty == 9000 * 1024)
        #expect(r.pssAnon == 8000 * 1024 && r.pssFile == 3500 * 1024 && r.pssShmem == 500 * 1024)
        #expect(r.sharedClean == 4000 * 1024 && r.sharedDirty == 384 * 1024)
        #expect(r.privateClean == 2000 * 1024 && r.privateDirty == 10000 * 1024 && r.referenced == 15000 * 1024)
        #expect(r.anonymous == 12288 * 1024 && r.lazyFree == 64 * 1024 && r.anonHugePages == 2048 * 1024)
        #expect(r.swap == 128 * 1024 && r.swapPss == 100 * 1024 && r.locked == 0)
        #expect(r.values["KSM"] == 0 && r.values["THPeligible"] == nil)
    }

    @Test func olderKernelsWithoutPssSplitAndMissingHeader() {
        // 4.14-5.7 have no Pss_Anon/Pss_File/Pss_Shmem; a capture may also have lost the header line.
        let r = SmapsRollupParser.parse(bytes("Rss:  100 kB\nPss:   50 kB\nbroken line\nSwap: x kB\n"))
        #expect(r.rss == 102_400 && r.pss == 51_200 && r.pssAnon == nil && r.swap == nil)
        #expect(r.start == nil && r.skippedLines == 2)
        #expect(SmapsRollupParser.parse([]).values.isEmpty)
    }
}

@Suite struct SmallProcessFileTests {
    @Test func cmdlineSplitsAtNULs() {
        #expect(
            CmdlineParser.parse(bytes("/usr/bin/app\0--config\0/etc/my app.conf\0")) == [
                "/usr/bin/app", "--config", "/etc/my app.conf",
            ])
        #expect(CmdlineParser.parse(bytes("no-trailing-nul\0last")) == ["no-trailing-nul", "last"])
        #expect(CmdlineParser.parse(bytes("a\0\0b\0")) == ["a", "", "b"])
        #expect(CmdlineParser.parse(bytes("nginx: worker process\0\0\0\0\0\0")) == ["nginx: worker process"])
        #expect(CmdlineParser.parse([]) == [])  // a kernel thread
        #expect(CmdlineParser.parse([0, 0]) == [])
    }

    @Test func commLosesOnlyItsNewline() {
        #expect(CommParser.parse(bytes("JS Helper\n")) == "JS Helper")
        #expect(CommParser.parse(bytes("kworker/0:1H\n")) == "kworker/0:1H")
        #expect(CommParser.parse(bytes("trailing \n")) == "trailing ")
        #expect(CommParser.parse(bytes("no newline")) == "no newline")
        #expect(CommParser.parse(bytes("\n")) == "")
        #expect(CommParser.parse([]) == nil)
    }

    @Test func taskListingGivesThreadIDs() {
        let list = TaskListParser.parse(bytes("4242\n4243\n.\n..\n4250\nnot-a-tid\n\n"))
        #expect(list.threadIDs == [4242, 4243, 4250] && list.skippedLines == 1)
        #expect(TaskListParser.parse([]) == ThreadList())
        #expect(TaskListParser.parse(bytes("99999999999\n0\n")).skippedLines == 2)
    }

    @Test func fdListingCountsEntries() {
        #expect(FDListParser.count(bytes("0\n1\n2\n3\n255\n")) == 5)
        #expect(FDListParser.count(bytes(".\n..\n0\n")) == 1)
        #expect(FDListParser.count(bytes("0\n1")) == 2)
        #expect(FDListParser.count([]) == 0)
    }

    @Test func cgroupPidsFiles() {
        #expect(CgroupPidsParser.parseMax(bytes("max\n")) == .unlimited)
        #expect(CgroupPidsParser.parseMax(bytes("4915\n")) == .limit(4915))
        #expect(CgroupPidsParser.parseMax(bytes("4915\n"))?.value == 4915)
        #expect(PidsMax.unlimited.value == nil)
        #expect(CgroupPidsParser.parseMax(bytes("maximum\n")) == nil)
        #expect(CgroupPidsParser.parseMax([]) == nil)
        #expect(CgroupPidsParser.parseCurrent(bytes("37\n")) == 37)
        #expect(CgroupPidsParser.parseCurrent(bytes("-1\n")) == nil)
    }
}
