import FieldSylixOS
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
