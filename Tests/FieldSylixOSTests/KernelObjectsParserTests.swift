import FieldSylixOS
import Foundation
import Testing

@Suite struct KernelObjectsParserTests {
    /// The table published by a SylixOS user, in the kernel's `%-12s%-9d%-9d%d` format.
    static let published = """
        object      total    used     max-used
        event       5000     238      240
        eventset    500      0        0
        heap        52       1        1
        msgqueue    500      8        8
        partition   50       8        8
        rms         32       0        0
        thread      500      31       33
        timer       50       2        2
        dpma        2        0        0
        threadpool  2        0        0

        """

    func parse(_ s: String) -> KernelObjects { KernelObjectsParser.parse(Array(s.utf8)) }

    @Test func publishedTable() {
        let k = parse(Self.published)
        #expect(k.pools.count == 10 && k.skippedLines == 0)
        #expect(k.pool("thread") == KernelObjectPool(name: "thread", total: 500, used: 31, maxUsed: 33))
        #expect(k.pool("event")?.maxUsed == 240)
        #expect(k.pools.map(\.name) == ["event", "eventset", "heap", "msgqueue", "partition", "rms", "thread", "timer", "dpma", "threadpool"])
    }

    @Test func poolThatRanDry() {
        let k = parse("object      total    used     max-used\nthread      1000     412      1000\n")
        let t = k.pool("thread")
        #expect(t?.maxUsed == t?.total)
        #expect(t?.used == 412)
    }

    @Test func threadvarUnknownAndMissingRows() {
        // Non-SMP builds print threadvar; an old or patched kernel may add rows; options off remove rows.
        let k = parse("object      total    used     max-used\nthreadvar   16       3        5\npowerm      8        1        1\nthread      500      31       33\n")
        #expect(k.pool("threadvar")?.total == 16)
        #expect(k.pool("powerm")?.used == 1)
        #expect(k.pool("event") == nil)
        #expect(k.pools.count == 3)
    }

    @Test func longNameRunsIntoTheNumbers() {
        // "%-12s" does not truncate: a 12-character name leaves no space before the total.
        let k = parse("object      total    used     max-used\nthreadpoolxx2        0        0\n")
        #expect(k.skippedLines == 1 || k.pools.first?.name == "threadpoolxx2")
    }

    @Test func damagedTextKeepsTheRest() {
        let k = parse("object      total    used     max-used\nevent       5000     23\u{00}\u{01} garbage\nthread      500      31       33\nmsgqu")
        #expect(k.pool("thread")?.used == 31)
        #expect(k.skippedLines == 2)
        #expect(parse("").pools.isEmpty)
    }

    @Test func memFiledescAndAffinity() {
        let mem = ProcessMemory.parse(Array("static memory : 40960 Bytes\nheap memory   : 1048576 Bytes\nmmap memory   : 0 Bytes\ntotal memory  : 1089536 Bytes".utf8))
        #expect(mem.heapBytes == 1_048_576 && mem.totalBytes == 1_089_536 && mem.staticBytes == 40960)
        #expect(FiledescParser.count(Array("FD NAME\n0 /dev/ttyS0\n1 /dev/ttyS0\n3 (unknown)\n".utf8)) == 3)
        let threads = AffinityParser.parse(Array("""
                  NAME         TID    PID  CPU
            ----------------  ------- ----- ---
            t_idle0          4010000     0   0
            worker           401001c     3   *
            my thread        401001d     3   1

            """.utf8))
        #expect(threads.count == 3)
        #expect(threads[1] == SylixThread(name: "worker", tid: 0x401001C, pid: 3))
        #expect(threads[2].name == "my thread")
    }
}

@Suite struct SylixSystemFileTests {
    @Test func version() {
        let v = SylixVersion.parse(Array("SylixOS kernel version: 2.3.8 Code name: Enterprise BSP: Mini2440\n(compile time: Oct 10 2022 10:00:00)\nGCC:4.9.3\n".utf8))
        #expect(v?.version == "2.3.8" && v?.codeName == "Enterprise")
        #expect(SylixVersion.parse(Array("SylixOS kernel version: 1.4.2 BSP: old\n".utf8))?.codeName == nil)
        #expect(SylixVersion.parse(Array("Linux version 6.1\n".utf8)) == nil)
    }

    @Test func tick() {
        let t = SylixTick.parse(Array("""
            tick rate    : 1000 hz
            tick         : 3600500
            monotonic    : 1:00:00.500000000
            realtime UTC : Sat Nov 21 10:00:00 2026
            realtime LCL : Sat Nov 21 18:00:00 2026

            """.utf8))
        #expect(t.rate == 1000 && t.ticks == 3_600_500)
        #expect(t.uptimeSeconds == 3600.5)
    }

    @Test func pnamed() {
        let rows = NamedObject.parse(Array("TYPE  OPEN               NAME\n---- ------ ----------------\nSEM       2 /run/lock\nMQ        0 /queue one\n".utf8))
        #expect(rows == [NamedObject(type: "SEM", openCount: 2, name: "/run/lock"), NamedObject(type: "MQ", openCount: 0, name: "/queue one")])
    }

    /// The simulator's files parse (the simulator writes the documented formats).
    @Test func simulatorOutputParses() throws {
        let root = "/tmp/field-sim-parse-\(getpid())"
        defer { _ = try? FileManager.default.removeItem(atPath: root) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let pkg = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        p.arguments = ["python3", pkg + "/tools/sylixos-sim/sylixos_sim.py", "--root", root, "--scenario", "steady", "--duration", "1", "--tick", "0.2"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        func file(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + path))) }
        #expect(SylixVersion.parse(try file("version"))?.version == "2.3.8")
        #expect(KernelObjectsParser.parse(try file("kernel/objects")).skippedLines == 0)
        #expect(KernelObjectsParser.parse(try file("kernel/objects")).pool("thread") != nil)
        #expect(SylixTick.parse(try file("kernel/tick")).rate == 1000)
        #expect(AffinityParser.parse(try file("kernel/affinity")).count >= 10)
        #expect(ProcessMemory.parse(try file("3/mem")).totalBytes != nil)
    }
}
