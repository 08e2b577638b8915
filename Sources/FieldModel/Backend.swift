/// An operating system's view of the device, read under a proc root.
///
/// Implementation requirements:
/// - `detect` must be cheap and must not throw on odd or unreadable trees: it answers "not mine" instead.
/// - Every path is relative to the proc root given by the caller, so the same code reads the live `/proc`,
///   a fixture tree or a simulated SylixOS tree.
/// - OS knowledge (formats, limits, quirks) lives only in the backend's own folder under `Backends/`.
///
/// - Conforming types are final classes: the agent is built in Embedded Swift too, which allows existentials of
///   class-bound protocols only (no `any P` of a value protocol, no metatypes). The registry is a list of
///   instances, and every requirement is an instance member.
///
/// The reading and parsing requirements are added as the agent and the analyzer grow (see DESIGN.md).
public protocol Backend: AnyObject, Sendable {
    /// Stable identifier recorded in bundle headers, e.g. `linux`, `sylixos`.
    var identifier: String { get }

    /// Whether the tree under `procRoot` belongs to this backend's OS.
    func detect(procRoot: String) -> Bool

    /// What the agent reads, cheap and deep, system and per process.
    var capturePlan: [CapturePlanEntry] { get }

    /// An identifier that changes at every boot, when the OS offers one; it tells reboots apart.
    func bootID(procRoot: String) -> String?

    /// A few numbers from one process's cheap captures (e.g. virtual size, thread count, descriptor count) whose
    /// change makes the agent read that process's deep files now rather than at the next periodic deep read.
    /// Must be cheap: it runs for every process every interval. Missing captures give fewer numbers, not errors.
    func cheapSignals(_ captures: [FileCapture]) -> [UInt64]

    /// A kernel log to follow, as a path under the device root (e.g. `/dev/kmsg`), or nil.
    var kernelLog: String? { get }

    /// Further files to read for a process whose deep files were just read, found from their content: e.g. on
    /// Linux its cgroup's `pids.max` and `pids.current`, located through `/proc/PID/cgroup`. Paths are logical:
    /// `/proc/...` under the proc root, `/sys/...` under the sys root. Only paths that may exist; the agent
    /// records those it finds.
    func derivedPaths(fromDeep captures: [FileCapture]) -> [String]

    /// The host half: a fresh interpreter for one device's samples, in time order (analysis makes one per
    /// device and bundle stream).
    func makeInterpreter() -> any SampleInterpreter
}
