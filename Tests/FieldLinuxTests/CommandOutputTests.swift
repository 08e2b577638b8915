import FieldLinux
import FieldModel
import Testing

/// `top -b` and `free` as procps-ng and BusyBox print them (procps-ng 4.0 top.c and free.c, BusyBox 1.35
/// procps/top.c and procps/free.c), and the interpreter's reading of imported hand-made logs: processes seen only
/// through status, maps or a top row.
@Suite struct CommandOutputTests {
    static let procpsTop = """
        top - 01:14:23 up 12 min,  0 user,  load average: 2.24, 1.77, 0.99
        Tasks:  83 total,   1 running,  82 sleeping,   0 stopped,   0 zombie
        %Cpu(s):  0.0 us,100.0 sy,  0.0 ni,  0.0 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st
        MiB Mem :  24105.3 total,  20066.2 free,   1434.0 used,   2909.6 buff/cache
        MiB Swap:      0.0 total,      0.0 free,      0.0 used.  22671.3 avail Mem

            PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND
           5184 root      20   0 1296052 703452  40520 S  93.8   2.8   0:01.90 fieldPack+
             86 root      20   0       0      0      0 I   6.2   0.0   0:02.66 kworker/u4:2-events_unbound
           7001 app       20   0    2.1g   1.5g   1200 S   0.0   6.3   1:00.00 big app

        """

    @Test func procpsTopScreen() {
        let t = CommandOutputParser.parseTop(bytes(Self.procpsTop))
        #expect(t.clockSeconds == 1 * 3600 + 14 * 60 + 23)
        #expect(t.memoryTotal.map { abs(Double($0) - 24105.3 * 1_048_576) < 1_048_576 } == true)
        #expect(t.memoryAvailable.map { abs(Double($0) - 22671.3 * 1_048_576) < 1_048_576 } == true)
        #expect(t.rows.count == 3 && t.skippedLines == 0)
        #expect(t.rows[0].pid == 5184 && t.rows[0].name == "fieldPack+" && t.rows[0].residentBytes == 703_452 * 1024
                && t.rows[0].virtualBytes == 1_296_052 * 1024 && t.rows[0].threads == nil)
        #expect(t.rows[1].name == "kworker/u4:2-events_unbound" && t.rows[1].residentBytes == 0)
        // Scaled columns, and a command with a space.
        #expect(t.rows[2].name == "big app" && t.rows[2].residentBytes == UInt64(1.5 * 1_073_741_824) && t.rows[2].virtualBytes == UInt64(2.1 * 1_073_741_824))
    }

    @Test func busyboxTopScreen() {
        let text = """
            Mem: 2962460K used, 21721332K free, 9868K shrd, 29444K buff, 2407912K cached
            CPU:   5% usr   5% sys   0% nic  90% idle   0% io   0% irq   0% sirq
            Load average: 1.51 1.65 1.07 1/105 21833
              PID  PPID USER     STAT   VSZ %VSZ %CPU COMMAND
            21820  5184 root     S     6416   0%  10% /usr/bin/fieldagent --interval 0.1
             3854  2640 root     S    1386m   5%   0% /opt/swift/usr/bin/swift-test --skip-build
                7     2 root     SW       0   0%   0% [ksoftirqd/0]
              412     1 root     S     2100   0%   0% {udhcpc} udhcpc -i eth0
            """
        let t = CommandOutputParser.parseTop(bytes(text))
        #expect(t.clockSeconds == nil)
        #expect(t.memoryTotal == (2_962_460 + 21_721_332) * 1024)
        #expect(t.memoryAvailable == (21_721_332 + 29_444 + 2_407_912) * 1024)
        #expect(t.rows.map(\.pid) == [21820, 3854, 7, 412])
        #expect(t.rows.map(\.name) == ["fieldagent", "swift-test", "[ksoftirqd/0]", "udhcpc"])
        #expect(t.rows[0].virtualBytes == 6416 * 1024 && t.rows[1].virtualBytes == 1386 * 1_048_576 && t.rows[0].residentBytes == nil)
    }

    @Test func freeOldAndNew() {
        let new = CommandOutputParser.parseFree(bytes("""
                           total        used        free      shared  buff/cache   available
            Mem:        24683792      283636    21721332        9868     2678824    24086652
            Swap:              0           0           0
            """))
        #expect(new.total == 24_683_792 * 1024 && new.available == 24_086_652 * 1024)
        // procps before 3.3.10 and old BusyBox: no available column.
        let old = CommandOutputParser.parseFree(bytes("""
                         total       used       free     shared    buffers     cached
            Mem:        505616     485276      20340          0       1200     130000
            -/+ buffers/cache:     354076     151540
            Swap:            0          0          0
            """))
        #expect(old.total == 505_616 * 1024 && old.available == (20340 + 1200 + 130_000) * 1024)
        // free -h.
        let human = CommandOutputParser.parseFree(bytes("""
                           total        used        free      shared  buff/cache   available
            Mem:            23Gi       1.4Gi        19Gi       9.6Mi       2.6Gi        22Gi
            """))
        #expect(human.total == 23 * 1_073_741_824 && human.available == 22 * 1_073_741_824)
        #expect(CommandOutputParser.parseFree(bytes("Mem: x y z\n")).total == nil)
    }

    @Test func processesWithoutStatFromStatusMapsAndTop() {
        let status = """
            Name:\tleak-heap
            Umask:\t0022
            State:\tS (sleeping)
            Tgid:\t4242
            Pid:\t4242
            PPid:\t1
            VmSize:\t   12000 kB
            VmRSS:\t    9000 kB
            Threads:\t3

            """
        let maps = """
            55d0c0000000-55d0c0001000 r--p 00000000 fe:00 100 /usr/bin/leak-heap
            55d0c1000000-55d0c2000000 rw-p 00000000 00:00 0 [heap]
            7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]

            """
        let i = LinuxInterpreter()
        let o = i.interpret(wallNanos: 1, files: [
            FileCapture(path: "/proc/4242/status", bytes: bytes(status)),
            FileCapture(path: "/proc/4242/maps", bytes: bytes(maps)),
            FileCapture(path: CommandOutputParser.topPath, bytes: bytes(Self.procpsTop)),
            FileCapture(path: CommandOutputParser.freePath, bytes: bytes("  total used free shared buff/cache available\nMem: 1000 100 800 0 100 850\n")),
        ])
        let p = o.processes.first { $0.pid == 4242 }
        #expect(p?.name == "leak-heap" && p?.threads == 3 && p?.residentBytes == 9000 * 1024 && p?.virtualBytes == 12000 * 1024)
        #expect(p?.addressSpace?.heapBytes == 16 * 1_048_576, "\(String(describing: p?.addressSpace))")
        // Top's rows are processes too; status wins where both are there.
        #expect(o.processes.map(\.pid).sorted() == [86, 4242, 5184, 7001])
        #expect(o.processes.first { $0.pid == 7001 }?.residentBytes == UInt64(1.5 * 1_073_741_824))
        // No meminfo: free says what memory is available (before top, whose summary is rounded).
        #expect(o.system.memoryAvailable == 850 * 1024 && o.system.memoryTotal == 1000 * 1024)
        // A file of no known shape is not a process.
        let none = i.interpret(wallNanos: 2, files: [FileCapture(path: "/proc/77/limits", bytes: bytes("Limit\n"))])
        #expect(none.processes.isEmpty)
    }
}
