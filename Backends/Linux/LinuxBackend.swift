import FieldModel
import FieldSystem

/// The Linux procfs backend.
///
/// This first version answers detection and the capture plan; the parsers and the adaptive deep tier come with
/// the agent (see the issue on the Linux backend).
public struct LinuxBackend: Backend {
    public static let identifier = "linux"

    /// Creates the backend.
    public init() {}

    /// Linux prints `Linux version ` at the start of `/proc/version` (fs/proc/version.c).
    public static func detect(procRoot: String) -> Bool {
        let v = ProcFS.readFile(procRoot + "/version", maxBytes: 256)
        return v.status == .ok && v.bytes.starts(with: Array("Linux version ".utf8))
    }

    /// `sys/kernel/random/boot_id`: a UUID drawn at boot (drivers/char/random.c).
    public func bootID(procRoot: String) -> String? {
        let c = ProcFS.readFile(procRoot + "/sys/kernel/random/boot_id", maxBytes: 64)
        let text = String(decoding: c.bytes.filter { $0 > 0x20 }, as: UTF8.self)
        return c.status == .ok && !text.isEmpty ? text : nil
    }

    public var capturePlan: [CapturePlanEntry] {
        let system = [
            "meminfo", "loadavg", "vmstat", "pressure/memory", "sys/kernel/threads-max", "sys/kernel/pid_max",
            "sys/vm/max_map_count", "sys/fs/file-nr",
        ].map { CapturePlanEntry(path: "/proc/" + $0, scope: .system) }
        let perProcess = ["stat", "status"].map { CapturePlanEntry(path: "/proc/[pid]/" + $0, scope: .process) }
        return system + perProcess + [
            CapturePlanEntry(path: "/proc/[pid]/maps", scope: .process, tier: .deep, every: 10),
            CapturePlanEntry(path: "/proc/[pid]/task", scope: .process, tier: .deep, every: 10, kind: .directory),
        ]
    }
}
