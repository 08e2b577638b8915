import FieldAnalysis
import FieldBundle
@testable import FieldImport
import FieldModel
import Testing

/// The hand-made log reader: the time lines it accepts, the blocks it recognises by shape, how it groups them into
/// iterations, and what it leaves out and says.
@Suite struct HandLogTests {
    static func line(_ s: String) -> ArraySlice<UInt8> { Array(s.utf8)[...] }

    /// 2026-12-04T01:03:15Z.
    static let t0: Int64 = 1_796_346_195 * 1_000_000_000

    @Test func timeLinesInTheFormatsDatePrints() {
        let cases: [(String, Int64, Bool)] = [
            ("Fri Dec  4 01:03:15 UTC 2026", Self.t0, true),  // date (C locale)
            ("Fri Dec 4 01:03:15 2026", Self.t0, true),  // BusyBox without a zone
            ("Fri, 04 Dec 2026 02:03:15 +0100", Self.t0, true),  // date -R
            ("2026-12-04T01:03:15+00:00", Self.t0, true),  // date -Iseconds
            ("2026-12-04T03:33:15+02:30", Self.t0, true),
            ("2026-12-04T01:03:15Z", Self.t0, true),
            ("2026-12-04 01:03:15", Self.t0, true),  // date '+%F %T'
            ("2026-12-04T01:03:15,250000000+00:00", Self.t0 + 250_000_000, true),  // date -Ins
            ("1796346195", Self.t0, true),  // date +%s
            ("Fri Dec  4 01:03:15 CET 2026", Self.t0, false),  // a zone by name: read as UTC, said so
        ]
        for (text, nanos, known) in cases {
            let t = HandLogScanner.time(Self.line(text))
            #expect(t?.nanos == nanos && t?.zoneKnown == known, "\(text): \(String(describing: t))")
        }
        for text in ["12345", "99999999999", "MemTotal:  1234 kB", "2026-13-04 01:03:15", "Fri Dec  4 25:03:15 UTC 2026", "1999-01-01 00:00:00"] {
            #expect(HandLogScanner.time(Self.line(text)) == nil, "\(text)")
        }
    }

    static func items(_ text: String, complete: Bool = true) -> [HandLogScanner.Item] {
        var s = HandLogScanner()
        var out: [HandLogScanner.Item] = []
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        for l in lines { out += s.feed(line(l)) }
        return out + s.finish(lastLineComplete: complete)
    }

    static func kinds(_ items: [HandLogScanner.Item]) -> [String] {
        items.map {
            switch $0 {
            case .time: return "time"
            case .block(let b): return b.kind.rawValue + (b.pid.map { " \($0)" } ?? "")
            case .other: return "other"
            }
        }
    }

    static let status = "Name:\tsleepy\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t77\nPid:\t77\nPPid:\t1\nGroups:\t\nVmSize:\t    4104 kB\nVmRSS:\t    1000 kB\nThreads:\t1\n"
    static let maps = "00400000-00401000 r-xp 00000000 fe:00 12 /bin/sleepy\n00800000-00c01000 rw-p 00000000 00:00 0 [heap]\n"

    @Test func blocksByShape() {
        let text = """
            Fri Dec  4 01:03:15 UTC 2026
            MemTotal:       24683792 kB
            MemFree:        20547772 kB
            HugePages_Total:       0
            \(Self.status)\(Self.maps)\(Self.maps)slabinfo - version: 2.1
            # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
            kmalloc-64          1024   1024     64   64    1 : tunables    0    0    0 : slabdata     16     16      0
            0.52 0.58 0.59 1/467 12345
                           total        used        free      shared  buff/cache   available
            Mem:        24683792      283636    21721332        9868     2678824    24086652
            Swap:              0           0           0
            top - 01:14:23 up 12 min,  0 user,  load average: 2.24, 1.77, 0.99
            Tasks:  83 total,   1 running,  82 sleeping,   0 stopped,   0 zombie

                PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND
                 77 root      20   0    4104   1000    100 S   0.0   0.0   0:00.01 sleepy

            something else
            """
        let items = Self.items(text)
        // Two maps blocks back to back are told apart by their addresses starting again.
        #expect(Self.kinds(items) == ["time", "meminfo", "status 77", "maps", "maps", "slabinfo", "loadavg", "free", "top", "other"], "\(Self.kinds(items))")
        guard case .block(let top) = items[8], case .block(let st) = items[2], case .block(let m) = items[3] else {
            Issue.record("not blocks")
            return
        }
        #expect(top.clock == 1 * 3600 + 14 * 60 + 23 && top.lineCount == 5)
        #expect(st.vmSize == 4104 * 1024 && m.mappedBytes == 0x1000 + 0x401000)
        // A last line without its newline: the block it is in was cut.
        guard case .block(let cut)? = Self.items("MemTotal: 1 kB\nMemFree: 1", complete: false).last else {
            Issue.record("no block")
            return
        }
        #expect(cut.cut)
    }

    static func run(_ text: String, mode: HandLogAssembler.Mode, pid: Int32? = nil) -> (samples: [Sample], losses: [String], notes: [String]) {
        var a = HandLogAssembler(mode: mode, mapsPID: pid, intervalNanos: 2_000_000_000, source: "log")
        var events: [CaptureLogParser.Event] = []
        for i in Self.items(text) { events += a.take(i) }
        events += a.finish()
        var out: ([Sample], [String], [String]) = ([], [], [])
        for e in events {
            switch e {
            case .sample(let s): out.0.append(s)
            case .lost(let reason, let what, _): out.1.append(reason + ": " + what)
            case .note(let n): out.2.append(n)
            case .segment: break
            }
        }
        return out
    }

    @Test func iterationsByDateBeforeOrAfterAndByRepetition() {
        let mem = "MemTotal: 100 kB\nMemFree: 50 kB\n"
        // A date after each iteration: the blocks before it are its sample; blocks after the last date have no time.
        let after = "\(mem)\(Self.status)1796346195\n\(mem)\(Self.status)1796346197\n\(mem)"
        var survey = HandLogAssembler.Survey()
        for i in Self.items(after) { survey.take(i) }
        #expect(survey.mode == .dates(before: false))
        let r = Self.run(after, mode: .dates(before: false))
        #expect(r.samples.map(\.wallNanos) == [Self.t0, Self.t0 + 2_000_000_000])
        #expect(r.samples[0].files.map(\.path) == ["/proc/meminfo", "/proc/77/status"])
        #expect(r.losses == ["capture-cut: the iteration at line 27"], "\(r.losses)")
        #expect(r.notes.contains { $0.contains("have no time: left out") }, "\(r.notes)")

        // A date before each: blocks before the first cannot be placed.
        let before = "\(mem)1796346195\n\(mem)\(Self.status)\(Self.maps)1796346197\n\(mem)\(Self.maps)"
        let b = Self.run(before, mode: .dates(before: true))
        #expect(b.samples.count == 2)
        #expect(b.notes.contains { $0.contains("1 block(s) before the first time line, from line 1, cannot be placed in time") }, "\(b.notes)")
        // Maps go to the status whose VmSize they add up to; without a status in the iteration they are left out.
        #expect(b.samples[0].files.map(\.path) == ["/proc/meminfo", "/proc/77/status", "/proc/77/maps"])
        // (Its maps are then not identified either: recorded as missing, beside the note.)
        #expect(b.samples[1].files.map { "\($0.path) \($0.status)" } == ["/proc/meminfo ok", "/proc/77/maps missing", "/proc/77/status missing"],
                "\(b.samples[1].files)")
        #expect(b.notes.contains { $0.contains("1 maps block(s) of an unknown process left out (give --pid PID") }, "\(b.notes)")
        #expect(b.losses == ["log-file-missing: /proc/77/maps from 20261204T010317.000Z (1 iteration(s))",
                             "log-file-missing: /proc/77/status from 20261204T010317.000Z (1 iteration(s))"], "\(b.losses)")
        // --pid says whose.
        #expect(Self.run(before, mode: .dates(before: true), pid: 77).samples[1].files.contains { $0.path == "/proc/77/maps" && $0.status == .ok })

        // No times: a new iteration where the first block's file comes again, `interval` apart; a missing file is
        // recorded as such, and a cut meminfo (fewer lines than before) as a read error.
        let none = "\(mem)\(Self.status)\(mem)\(mem)\(Self.status)MemTotal: 100 kB\n\(Self.status)"
        let n = Self.run(none, mode: .repetition)
        #expect(n.samples.map(\.wallNanos) == [0, 2_000_000_000, 4_000_000_000, 6_000_000_000])
        #expect(n.samples[1].files.map { "\($0.path) \($0.status)" } == ["/proc/meminfo ok", "/proc/77/status missing"])
        #expect(n.samples[3].files.map { "\($0.path) \($0.status)" } == ["/proc/meminfo error", "/proc/77/status ok"])
        #expect(n.notes.contains { $0.contains("1 block(s) shorter than the others of their file (cut mid-file)") }, "\(n.notes)")
    }

    @Test func mapsOwnerByVmSizeThenByNeighbour() {
        func block(_ kind: HandLogScanner.Kind, pid: Int32? = nil, vm: UInt64? = nil, mapped: UInt64 = 0) -> HandLogScanner.Block {
            var b = HandLogScanner.Block(kind: kind, firstLine: 1)
            b.pid = pid
            b.vmSize = vm
            b.mappedBytes = mapped
            return b
        }
        let mib: UInt64 = 1 << 20
        // Two processes of different sizes: whichever order, the size decides.
        let two = [block(.status, pid: 1, vm: 100 * mib), block(.status, pid: 2, vm: 400 * mib), block(.maps, mapped: 100 * mib)]
        #expect(HandLogAssembler.owner(ofMapsAt: 2, in: two) == 1)
        // Two of the same size: the neighbour decides; with no matching neighbour nobody is named.
        let same = [block(.status, pid: 1, vm: 100 * mib), block(.maps, mapped: 100 * mib), block(.status, pid: 2, vm: 100 * mib), block(.maps, mapped: 100 * mib)]
        #expect(HandLogAssembler.owner(ofMapsAt: 1, in: same) == 1 && HandLogAssembler.owner(ofMapsAt: 3, in: same) == 2)
        let apart = [block(.status, pid: 1, vm: 100 * mib), block(.status, pid: 2, vm: 100 * mib), block(.meminfo), block(.maps, mapped: 100 * mib)]
        #expect(HandLogAssembler.owner(ofMapsAt: 3, in: apart) == nil)
        // No status of that size.
        #expect(HandLogAssembler.owner(ofMapsAt: 2, in: [block(.status, pid: 1, vm: 10 * mib), block(.meminfo), block(.maps, mapped: 100 * mib)]) == nil)
    }
}
