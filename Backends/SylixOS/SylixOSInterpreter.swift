import FieldModel

extension SylixOSBackend {
    /// A fresh interpreter for one device's samples.
    public func makeInterpreter() -> any SampleInterpreter { SylixOSInterpreter() }
}

/// SylixOS captures to observations: every `kernel/objects` row is a system quota (limit `total`, `used`, peak
/// `max-used`); each process's `mem` gives its heap, mmap and total bytes, `filedesc` its descriptors, `cmdline`
/// its program; `kernel/affinity` (SMP builds) lists threads with their process.
///
/// SylixOS shows no process start time, so a reused pid cannot be told from the process before it.
public final class SylixOSInterpreter: SampleInterpreter {
    /// The last program name seen per pid (`cmdline` is a deep file).
    var names: [Int32: String] = [:]

    /// Creates an interpreter.
    public init() {}

    struct Files {
        var mem: [UInt8]?
        var filedesc: [UInt8]?
        var cmdline: [UInt8]?
        var threads: [String] = []
    }

    public func interpret(wallNanos: Int64, files: [FileCapture]) -> SampleObservations {
        var obs = SampleObservations(wallNanos: wallNanos)
        var order: [Int32] = []
        var byPID: [Int32: Files] = [:]
        func touch(_ pid: Int32) { if byPID[pid] == nil { order.append(pid); byPID[pid] = Files() } }
        for f in files where f.status == .ok {
            switch f.path {
            case "/proc/kernel/objects":
                let objects = KernelObjectsParser.parse(f.bytes)
                for pool in objects.pools {
                    obs.system.quotas.append(QuotaReading(resource: pool.name, limit: Double(pool.total), used: Double(pool.used),
                        peak: Double(pool.maxUsed), source: "kernel/objects total"))
                }
                obs.unusable += UnusableValue.skippedLines(objects.skippedLines, first: objects.firstSkippedLine, in: f.path)
            case "/proc/kernel/affinity":
                let list = AffinityParser.list(f.bytes)
                for t in list.threads {
                    touch(t.pid)
                    byPID[t.pid]!.threads.append(t.name)
                }
                obs.unusable += UnusableValue.skippedLines(list.skippedLines, first: list.firstSkippedLine, in: f.path)
            default:
                guard let (pid, leaf) = Self.processFile(f.path) else { continue }
                touch(pid)
                switch leaf {
                case "mem": byPID[pid]!.mem = f.bytes
                case "filedesc": byPID[pid]!.filedesc = f.bytes
                case "cmdline": byPID[pid]!.cmdline = f.bytes
                default: break
                }
            }
        }
        var seen: [Int32: String] = [:]
        for pid in order {
            guard let files = byPID[pid], files.mem != nil || files.filedesc != nil else { continue }
            // The program is the first word of the command line (NUL- or space-separated).
            let first = files.cmdline?.split(whereSeparator: { $0 == 0 || $0 == 0x20 || $0 == 0x0A }).first
            let name = first.map { String(decoding: $0, as: UTF8.self) } ?? names[pid] ?? "pid \(pid)"
            seen[pid] = name
            var p = ProcessObservation(pid: pid, name: name)
            if let m = files.mem.map({ ProcessMemory.parse($0) }) {
                p.residentBytes = m.totalBytes
                p.heapBytes = m.heapBytes
                p.mappedBytes = m.mmapBytes
                obs.unusable += m.unusable.map { $0.at("/proc/\(pid)/mem") }
            }
            if let fd = files.filedesc { p.descriptors = FiledescParser.count(fd) }
            if !files.threads.isEmpty {
                p.threads = files.threads.count
                var counts: [String: UInt64] = [:]
                for n in files.threads { counts[n, default: 0] += 1 }
                p.threadNames = counts.sorted { $0.key < $1.key }.map { NamedAmount($0.key, $0.value) }  // by name: the same each run
            }
            obs.processes.append(p)
        }
        names = seen
        return obs
    }

    /// SylixOS has no kernel log in procfs.
    public func events(inLogLines lines: [[UInt8]]) -> [ObservedEvent] { [] }


    /// `/proc/PID/LEAF` -> (PID, LEAF).
    static func processFile(_ path: String) -> (Int32, String)? {
        let parts = path.split(separator: "/")
        guard parts.count == 3, parts[0] == "proc", let pid = Int32(parts[1]) else { return nil }
        return (pid, String(parts[2]))
    }
}
