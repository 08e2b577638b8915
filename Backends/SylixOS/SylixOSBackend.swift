import FieldModel
import FieldSystem

/// The SylixOS procfs backend: detection, capture plan, and (in the files beside this one) the parsers.
///
/// Shell command captures (`ts`, `ss`, `free`) are designed for but not implemented. On targets where the shell
/// prints what procfs does not (per-thread state, stack high-water marks, heap usage), a plan entry of a new
/// `EntryKind` (`cmd`, its path the command line) would hold the command's output as raw bytes. Bundles stay
/// v1: readers map kinds they do not know to a file, and the bytes are kept. The parsers would live here, keyed
/// by command: `ts` rows split from the right (SAFE and FPU may be blank), `ss` and `free` by their printf
/// formats (reference/sylixos-procfs.md). Pasted text from a console would go through the same parsers.
public final class SylixOSBackend: Backend {
    public let identifier = "sylixos"

    /// Creates the backend.
    public init() {}

    /// SylixOS prints `SylixOS kernel version: ` first in `/proc/version` (procKernel.c); a tree with
    /// `kernel/objects` is SylixOS as well, whatever `version` says.
    public func detect(procRoot: String) -> Bool {
        let v = ProcFS.readFile(procRoot + "/version", maxBytes: 256)
        if v.status == .ok && v.bytes.starts(with: Array("SylixOS kernel version".utf8)) { return true }
        return ProcFS.readFile(procRoot + "/kernel/objects", maxBytes: 64).status == .ok
    }

    /// SylixOS has no boot identifier in procfs.
    public func bootID(procRoot: String) -> String? { nil }

    /// A fingerprint (FNV-1a) of each cheap file: `mem` and `filedesc` are small, and any change in them counts.
    public func cheapSignals(_ captures: [FileCapture]) -> [UInt64] {
        captures.filter { $0.status == .ok }.map { c in
            c.bytes.reduce(0xCBF2_9CE4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
        }
    }

    /// Nothing is derived on SylixOS: its procfs names everything it has.
    public func derivedPaths(fromDeep captures: [FileCapture]) -> [String] { [] }

    /// SylixOS has no kernel log device in procfs.
    public var kernelLog: String? { nil }

    /// Cheap every interval: the object pools, the tick, the thread list (SMP builds), named IPC objects, and each
    /// process's memory and descriptors. Deep: the command line (it identifies the process; it rarely changes).
    public var capturePlan: [CapturePlanEntry] {
        [
            CapturePlanEntry(path: "/proc/kernel/objects", scope: .system),
            CapturePlanEntry(path: "/proc/kernel/tick", scope: .system),
            CapturePlanEntry(path: "/proc/kernel/affinity", scope: .system),
            CapturePlanEntry(path: "/proc/posix/pnamed", scope: .system),
            CapturePlanEntry(path: "/proc/[pid]/mem", scope: .process),
            CapturePlanEntry(path: "/proc/[pid]/filedesc", scope: .process),
            CapturePlanEntry(path: "/proc/[pid]/cmdline", scope: .process, tier: .deep, every: 10),
        ]
    }
}
