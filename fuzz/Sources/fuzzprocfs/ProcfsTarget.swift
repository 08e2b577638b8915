import FieldLinux
import FieldSylixOS
import FuzzSupport

// Every procfs parser of every backend on arbitrary bytes. The input's first line names the file it stands for
// (`linux/stat`, `sylixos/kernel/objects`, ...: the names below); the rest is that file's content. With any other
// first line, the whole input goes through every parser. Parsers never fail: odd lines are skipped or give nil.
//
// Where two paths read the same thing, they must agree: `StatParser.essentials` (what analysis reads per process
// per sample) and `StatParser.parse` on the four fields both give.
let parsers: [(name: String, parse: @Sendable ([UInt8]) -> Void)] = [
    ("linux/stat", { b in
        let full = StatParser.parse(b)
        let fast = StatParser.essentials(b)
        Fuzz.check(
            (full == nil) == (fast == nil),
            "stat: parse \(String(describing: full)) essentials \(String(describing: fast))")
        if let full, let fast {
            Fuzz.check(
                fast.comm == full.comm && fast.threads == full.threads && fast.startTicks == full.startTicks
                    && fast.virtualBytes == full.virtualBytes, "stat: parse \(full) essentials \(fast)")
            for n in 0...(full.rest.count + 3) { _ = full.field(n) }
        }
    }),
    ("linux/status", { b in
        let s = StatusParser.parse(b)
        _ = s.value(named: "VmRSS")
        _ = LinuxBackend.number(after: "Threads:", in: b)
        _ = LinuxBackend.number(after: "VmRSS:", in: b)
    }),
    ("linux/maps", { b in
        let maps = MapsParser.parse(b)
        _ = MapsSummary(maps)
        _ = maps.totalSize
        for m in maps.mappings { _ = m.permissions.text }
        b.withUnsafeBytes { _ = MapsParser.parse($0) }
        for line in b.split(separator: 0x0A).prefix(4) { _ = MapsParser.parseLine(Array(line)) }
    }),
    ("linux/smaps_rollup", { b in _ = SmapsRollupParser.parse(b).pss }),
    ("linux/meminfo", { b in _ = MeminfoParser.parse(b).availableEstimate }),
    ("linux/vmstat", { b in _ = VMStatParser.parse(b) }),
    ("linux/slabinfo", { b in
        for c in SlabinfoParser.parse(b).caches {
            _ = c.objectBytes
            _ = c.slabBytes(pageSize: 4096)
        }
    }),
    ("linux/limits", { b in
        let l = LimitsParser.parse(b)
        _ = (l.openFiles, l.processes, l.addressSpace, l.stackSize)
    }),
    ("linux/loadavg", { b in _ = LoadavgParser.parse(b) }),
    ("linux/sys/fs/file-nr", { b in _ = FileNrParser.parse(b) }),
    ("linux/sys/kernel/threads-max", { b in _ = NumberFileParser.parse(b) }),
    ("linux/pids.max", { b in _ = CgroupPidsParser.parseMax(b)?.value }),
    ("linux/pids.current", { b in _ = CgroupPidsParser.parseCurrent(b) }),
    ("linux/cmdline", { b in _ = CmdlineParser.parse(b) }),
    ("linux/comm", { b in _ = CommParser.parse(b) }),
    ("linux/fd", { b in _ = FDListParser.count(b) }),
    ("linux/task", { b in _ = TaskListParser.parse(b) }),
    ("linux/pressure/memory", { b in _ = PressureParser.parse(b) }),
    ("linux/top", { b in _ = CommandOutputParser.parseTop(b).rows.count }),
    ("linux/free", { b in _ = CommandOutputParser.parseFree(b).available }),
    ("linux/version", { b in _ = VersionParser.parse(b)?.isAtLeast(4, 5) }),
    ("linux/kmsg", { b in
        for r in KmsgParser.parse(b).records { _ = (r.level, r.facility, r.event) }
        _ = KmsgParser.parse(lines: b.split(separator: 0x0A).map(Array.init))
        _ = KernelEventParser.parse(String(decoding: b, as: UTF8.self))
    }),
    ("sylixos/kernel/objects", { b in _ = KernelObjectsParser.parse(b) }),
    ("sylixos/mem", { b in _ = ProcessMemory.parse(b) }),
    ("sylixos/filedesc", { b in _ = FiledescParser.count(b) }),
    ("sylixos/kernel/affinity", { b in _ = AffinityParser.parse(b) }),
    ("sylixos/version", { b in _ = SylixVersion.parse(b) }),
    ("sylixos/kernel/tick", { b in _ = SylixTick.parse(b).uptimeSeconds }),
    ("sylixos/posix/pnamed", { b in _ = NamedObject.parse(b) }),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.input(data, size)
    let newline = bytes.firstIndex(of: 0x0A) ?? bytes.count
    let name = String(decoding: bytes[..<newline], as: UTF8.self)
    if let p = parsers.first(where: { $0.name == name }) {
        p.parse(Array(bytes[min(newline + 1, bytes.count)...]))
    } else {
        for p in parsers { p.parse(bytes) }
    }
    return 0
}
