import FieldModel

/// A small seeded generator (xorshift64*), so that randomised tests replay the same cases on every run.
public struct XorShiftRandom: RandomNumberGenerator {
    var state: UInt64

    /// A generator whose sequence `seed` decides.
    public init(seed: UInt64) { state = seed | 1 }

    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// Captures whose numbers are, at random, the values that break conversions: `UInt64.max` and one more, 2^63,
/// `Int64.min`, 40 digits, 1e308, infinities, NaN, negative numbers where the kernel prints unsigned ones. Every
/// numeric field the Linux and SylixOS parsers read gets them, in samples whose ordinary values grow (so that the
/// trend tests, forecasts and reports run on them too).
public struct ExtremeCaptures {
    /// The values, as text.
    public static let extremes = [
        "18446744073709551615", "18446744073709551616", "9223372036854775808", "9223372036854775807",
        "-9223372036854775808", "-1", "0", "1e308", "-1e308", "inf", "-inf", "nan",
        "4294967296", "2147483648", "1234567890123456789012345678901234567890", "99999999999999999999",
    ]
    /// The same in hexadecimal, for `maps` addresses and SylixOS thread ids.
    public static let hexExtremes = ["ffffffffffffffff", "10000000000000000", "0", "7fffffffffffffff", "8000000000000000", "-1", "fffffffffffff000"]

    var rng: XorShiftRandom
    /// Chance of an extreme per field, in percent.
    public var percent: UInt64

    /// A generator drawing extremes in `percent` % of fields, reproducibly from `seed`.
    public init(seed: UInt64, percent: UInt64 = 30) {
        rng = XorShiftRandom(seed: seed)
        self.percent = percent
    }

    mutating func next() -> UInt64 { rng.next() }

    /// An extreme in `percent` % of draws, else `normal`.
    public mutating func value(_ normal: UInt64) -> String {
        next() % 100 < percent ? Self.extremes[Int(next() % UInt64(Self.extremes.count))] : String(normal)
    }

    /// The same for hexadecimal fields.
    mutating func hex(_ normal: UInt64) -> String {
        next() % 100 < percent ? Self.hexExtremes[Int(next() % UInt64(Self.hexExtremes.count))] : String(normal, radix: 16)
    }

    static func file(_ path: String, _ text: String, kind: EntryKind = .file) -> FileCapture {
        FileCapture(path: path, kind: kind, bytes: Array(text.utf8))
    }

    /// One Linux sample (sample number `i`): the system files, and for each pid its stat, status, descriptors,
    /// threads, maps, limits and cgroup pids files.
    public mutating func linux(_ i: Int, pids: [Int32]) -> [FileCapture] {
        let n = UInt64(i)
        var out = [
            Self.file("/proc/meminfo", "MemTotal: \(value(8_000_000)) kB\nMemFree: \(value(4_000_000 - n)) kB\nMemAvailable: \(value(5_000_000 - 1000 * n)) kB\n"
                + "Buffers: \(value(1000)) kB\nCached: \(value(2000)) kB\n"),
            Self.file("/proc/sys/kernel/threads-max", "\(value(60_000))\n"),
            Self.file("/proc/sys/kernel/pid_max", "\(value(4_194_304))\n"),
            Self.file("/proc/sys/vm/max_map_count", "\(value(65_530))\n"),
            Self.file("/proc/loadavg", "\(value(1)).\(value(5)) 0.50 0.20 \(value(2))/\(value(300 + 10 * n)) \(value(4000))\n"),
            Self.file("/proc/sys/fs/file-nr", "\(value(1000 + 50 * n))\t0\t\(value(100_000))\n"),
            Self.file("/proc/slabinfo", "slabinfo - version: 2.1\n# name <active_objs> <num_objs> <objsize> ...\n"
                + "kmalloc-64 \(value(10_000 + 5000 * n)) \(value(20_000 + 5000 * n)) \(value(64)) 64 1 : tunables 0 0 0 : slabdata \(value(300)) \(value(300)) 0\n"
                + "dentry \(value(5000)) \(value(6000)) \(value(192)) 21 1 : tunables 0 0 0 : slabdata 10 10 0\n"),
        ]
        for pid in pids {
            let p = "/proc/\(pid)"
            let threads = 3 + 4 * n
            out.append(Self.file(p + "/stat", "\(pid) (worker \(pid)) S 1 \(pid) \(pid) 0 -1 4194560 \(value(100)) 0 \(value(0)) 0 \(value(10 * n)) \(value(n)) 0 0 20 0 "
                + "\(value(threads)) 0 \(value(1000 + UInt64(pid))) \(value(100_000_000 + 8_392_704 * n)) \(value(2000 + 10 * n)) 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"))
            out.append(Self.file(p + "/status", "Name:\tworker \(pid)\nState:\tS (sleeping)\nTgid:\t\(value(UInt64(pid)))\nPid:\t\(pid)\nPPid:\t\(value(1))\n"
                + "Uid:\t\(value(1000))\t1000\t1000\t1000\nFDSize:\t\(value(64))\nVmPeak:\t\(value(200_000 + 8200 * n)) kB\nVmSize:\t\(value(100_000 + 8200 * n)) kB\n"
                + "VmHWM:\t\(value(9000)) kB\nVmRSS:\t\(value(8000 + 400 * n)) kB\nRssAnon:\t\(value(4000)) kB\nVmData:\t\(value(50_000)) kB\nVmStk:\t\(value(132)) kB\n"
                + "VmSwap:\t\(value(0)) kB\nThreads:\t\(value(threads))\nSigQ:\t\(value(0))/\(value(63_000))\n"))
            let fds = (0..<(5 + 3 * i)).map { "\($0)\n" }.joined() + (next() % 100 < percent ? "\(value(7))\n" : "")
            out.append(Self.file(p + "/fd", fds, kind: .directory))
            let tids = (0..<Int(threads)).map { "\(pid + Int32($0))\n" }.joined()
            out.append(Self.file(p + "/task", tids + (next() % 100 < percent ? "\(value(1))\n" : ""), kind: .directory))
            var maps = "55d5c0a00000-55d5c0a21000 r-xp 00000000 08:01 \(value(1234)) /usr/bin/worker\n55d5c1000000-55d5c2000000 rw-p 00000000 00:00 0 [heap]\n"
            var base: UInt64 = 0x7f00_0000_0000
            for _ in 0..<(2 + 2 * i) {
                // A guard page under an 8 MiB stack, addresses now and then out of range.
                maps += "\(hex(base))-\(hex(base + 0x1000)) ---p 00000000 00:00 0 \n\(hex(base + 0x1000))-\(hex(base + 0x801000)) rw-p 00000000 00:00 0 \n"
                base += 0x80_1000
            }
            maps += "\(hex(0xffff_ffff_ff60_0000))-\(hex(0xffff_ffff_ff60_1000)) --xp 00000000 00:00 0 [vsyscall]\n"
            out.append(Self.file(p + "/maps", maps))
            out.append(Self.file(p + "/limits", "Limit                     Soft Limit           Hard Limit           Units     \n"
                + "Max processes             \(value(63_000))                \(value(63_000))                processes \n"
                + "Max open files            \(value(1024))                 \(value(4096))                 files     \n"
                + "Max address space         \(value(UInt64(1) << 40))            unlimited            bytes     \n"))
            out.append(Self.file(p + "/cgroup", "0::/field.slice\n"))
            out.append(Self.file("/sys/fs/cgroup/field.slice/pids.max", "\(value(10_000))\n"))
            out.append(Self.file("/sys/fs/cgroup/field.slice/pids.current", "\(value(20 + 4 * n))\n"))
            for t in 0..<3 { out.append(Self.file(p + "/task/\(pid + Int32(t))/comm", "worker\n")) }
        }
        return out
    }

    /// Kernel log lines with extreme numbers: an OOM kill and a segfault.
    public mutating func kernelLog(_ i: Int) -> [[UInt8]] {
        [
            Array("3,\(value(UInt64(i))),\(value(1_000_000)),-;Out of memory: Killed process \(value(4242)) (victim) total-vm:\(value(900_000))kB, anon-rss:\(value(800_000))kB, file-rss:\(value(0))kB, shmem-rss:0kB, UID:\(value(0)) pgtables:\(value(2000))kB oom_score_adj:0".utf8),
            Array("6,\(value(UInt64(i) + 1)),\(value(1_000_001)),-;crasher[\(value(77))]: segfault at \(hex(0)) ip \(hex(0x4005d6)) sp \(hex(0x7ffd1000)) error 6 in crasher[400000+1000]".utf8),
        ]
    }

    /// One SylixOS sample: the object pools, tick, thread list, named objects, and each pid's memory, descriptors
    /// and command line.
    public mutating func sylixos(_ i: Int, pids: [Int32]) -> [FileCapture] {
        let n = UInt64(i)
        var objects = "object      total    used     max-used\n"
        for (name, total, used) in [("thread", 200, 20 + 5 * n), ("event", 1000, 100 + n), ("msgqueue", 50, 5), ("timer", 64, 2 * n)] as [(String, UInt64, UInt64)] {
            objects += "\(name.padding(12))\(value(total).padding(9))\(value(used).padding(9))\(value(used + 1))\n"
        }
        var affinity = "NAME             TID     PID  CPU\n---------------- ------- ----- ---\n"
        for pid in pids {
            for t in 0..<(2 + i) { affinity += "t\(t)".padding(17) + "\(hex(0x10000 + UInt64(t)))".padding(8) + "\(value(UInt64(pid)))".padding(6) + "\(value(0))\n" }
        }
        var out = [
            Self.file("/proc/kernel/objects", objects),
            Self.file("/proc/kernel/tick", "tick rate    : \(value(1000)) hz\ntick         : \(value(5000 + 1000 * n))\n"),
            Self.file("/proc/kernel/affinity", affinity),
            Self.file("/proc/posix/pnamed", "TYPE OPEN NAME\n---- ------ ----\nSEM  \(value(2)) /sem0\n"),
        ]
        for pid in pids {
            let p = "/proc/\(pid)"
            out.append(Self.file(p + "/mem", "static memory : \(value(65_536)) Bytes\nheap memory : \(value(100_000 + 40_000 * n)) Bytes\n"
                + "mmap memory : \(value(8192 * n)) Bytes\ntotal memory : \(value(200_000 + 48_000 * n)) Bytes"))
            out.append(Self.file(p + "/filedesc", "FD NAME\n" + (0..<(3 + 2 * i)).map { "\($0) /dev/ttyS0\n" }.joined() + "\(value(9)) /x\n"))
            out.append(Self.file(p + "/cmdline", "/apps/app\(pid)\0--run\0"))
        }
        return out
    }
}

extension String {
    fileprivate func padding(_ n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
}
