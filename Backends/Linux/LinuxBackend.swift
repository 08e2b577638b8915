import CFieldPlatform
import FieldModel
import FieldSystem

/// The Linux procfs backend: what to read, and (in the parser files beside this one) what it means.
public final class LinuxBackend: Backend {
    public let identifier = "linux"

    /// Creates the backend.
    public init() {}

    /// Linux prints `Linux version ` at the start of `/proc/version` (fs/proc/version.c).
    public func detect(procRoot: String) -> Bool {
        let v = ProcFS.readFile(procRoot + "/version", maxBytes: 256)
        return v.status == .ok && v.bytes.starts(with: Array("Linux version ".utf8))
    }

    /// `sys/kernel/random/boot_id`: a UUID drawn at boot (drivers/char/random.c).
    public func bootID(procRoot: String) -> String? {
        let c = ProcFS.readFile(procRoot + "/sys/kernel/random/boot_id", maxBytes: 64)
        let text = String(decoding: c.bytes.filter { $0 > 0x20 }, as: UTF8.self)
        return c.status == .ok && !text.isEmpty ? text : nil
    }

    /// Cheap every interval: what grows when something leaks (sizes, counts, the thread and descriptor lists).
    /// Deep on change or every few intervals: `maps` (takes the target's mmap lock; 60k lines on big processes),
    /// `smaps_rollup` (walks every mapping), thread names, limits, command line, cgroup, `slabinfo` (root only).
    public var capturePlan: [CapturePlanEntry] {
        let cheapSystem = [
            "meminfo", "loadavg", "vmstat", "pressure/memory", "sys/kernel/threads-max", "sys/kernel/pid_max",
            "sys/vm/max_map_count", "sys/fs/file-nr",
        ].map { CapturePlanEntry(path: "/proc/" + $0, scope: .system) }
        return cheapSystem + [
            CapturePlanEntry(path: "/proc/slabinfo", scope: .system, tier: .deep, every: 10),
            CapturePlanEntry(path: "/proc/[pid]/stat", scope: .process),
            CapturePlanEntry(path: "/proc/[pid]/status", scope: .process),
            CapturePlanEntry(path: "/proc/[pid]/fd", scope: .process, kind: .directory),
            CapturePlanEntry(path: "/proc/[pid]/task", scope: .process, kind: .directory),
            CapturePlanEntry(path: "/proc/[pid]/maps", scope: .process, tier: .deep, every: 10),
            CapturePlanEntry(path: "/proc/[pid]/smaps_rollup", scope: .process, tier: .deep, every: 10),
            CapturePlanEntry(path: "/proc/[pid]/limits", scope: .process, tier: .deep, every: 10),
            CapturePlanEntry(path: "/proc/[pid]/cmdline", scope: .process, tier: .deep, every: 10),
            CapturePlanEntry(path: "/proc/[pid]/cgroup", scope: .process, tier: .deep, every: 10),
            CapturePlanEntry(path: "/proc/[pid]/task/[tid]/comm", scope: .thread, tier: .deep, every: 10),
        ]
    }

    /// VmSize and Threads from `status` (fs/proc/array.c prints `Key:\tvalue`), and the number of open descriptors.
    public func cheapSignals(_ captures: [FileCapture]) -> [UInt64] {
        var out: [UInt64] = []
        for c in captures where c.status == .ok {
            if c.path.hasSuffix("/status") {
                out.append(Self.number(after: "VmSize:", in: c.bytes) ?? 0)
                out.append(Self.number(after: "Threads:", in: c.bytes) ?? 0)
            } else if c.kind == .directory && c.path.hasSuffix("/fd") {
                out.append(UInt64(c.bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }))
            }
        }
        return out
    }

    /// The process's cgroup `pids.max` and `pids.current` (a thread ceiling, e.g. systemd's TasksMax), found from
    /// `/proc/PID/cgroup`: `0::PATH` is cgroup v2, mounted at `/sys/fs/cgroup` or, on hybrid systems, at
    /// `/sys/fs/cgroup/unified`; `N:...pids...:PATH` is the v1 pids controller at `/sys/fs/cgroup/pids`
    /// (Documentation/admin-guide/cgroup-v2.rst, cgroup-v1/pids.rst). The root cgroup has no `pids.max`.
    public func derivedPaths(fromDeep captures: [FileCapture]) -> [String] {
        guard let cgroup = captures.first(where: { $0.path.hasSuffix("/cgroup") && $0.status == .ok }) else { return [] }
        var dirs: [String] = []
        for line in cgroup.bytes.split(separator: 0x0A) {
            let fields = line.split(separator: 0x3A, maxSplits: 2, omittingEmptySubsequences: false)  // id:controllers:path
            guard fields.count == 3 else { continue }
            let path = String(decoding: fields[2], as: UTF8.self)
            // No ".." component. (Not `String.contains(String)`: that one lives in _StringProcessing, whose regex
            // engine then links into the agent, 1.5 MB of it.)
            guard path.hasPrefix("/"), !path.split(separator: "/" as Character).contains(where: { $0 == ".." }) else { continue }
            let suffix = path == "/" ? "" : path
            if fields[0].elementsEqual("0".utf8) && fields[1].isEmpty {
                dirs += ["/sys/fs/cgroup" + suffix, "/sys/fs/cgroup/unified" + suffix]
            } else if fields[1].split(separator: 0x2C).contains(where: { $0.elementsEqual("pids".utf8) }) {
                dirs.append("/sys/fs/cgroup/pids" + suffix)
            }
        }
        return dirs.flatMap { [$0 + "/pids.max", $0 + "/pids.current"] }
    }

    /// The kernel log device: `prio,seq,usec,flags;text` records, one per read (Documentation/ABI/testing/dev-kmsg).
    public var kernelLog: String? { "/dev/kmsg" }

    /// The decimal number after `key` at the start of a line (one pass, no allocation); nil when no line starts
    /// with the key or its value is not a number that fits 64 bits. Analysis uses `scan` on hot paths where the
    /// full `StatusParser` would build every field.
    public static func number(after key: StaticString, in bytes: [UInt8]) -> UInt64? {
        scan(after: key, in: bytes)?.value
    }

    /// What follows `key` at the start of the first line that starts with it: the first word as a decimal number
    /// (nil when it is not one that fits 64 bits), and where the value's line goes on (for a report). Nil when no
    /// line starts with the key.
    static func scan(after key: StaticString, in bytes: [UInt8]) -> (value: UInt64?, line: Range<Int>)? {
        bytes.withUnsafeBufferPointer { b -> (value: UInt64?, line: Range<Int>)? in
            let k = UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
            let n = b.count
            var i = 0
            while i + k.count <= n {
                if b[i] == k[0] && memcmp(b.baseAddress! + i, k.baseAddress!, k.count) == 0 {
                    var j = i + k.count
                    while j < n && ProcText.isBlank(b[j]) { j += 1 }
                    let first = j
                    while j < n && !ProcText.isBlank(b[j]) && b[j] != ProcText.newline { j += 1 }
                    var end = j
                    while end < n && b[end] != ProcText.newline { end += 1 }
                    return (ProcText.decimal(b, first..<j), first..<end)
                }
                // Next line.
                guard let nl = memchr(b.baseAddress! + i, 0x0A, n - i) else { return nil }
                i = b.baseAddress!.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
            }
            return nil
        }
    }
}
