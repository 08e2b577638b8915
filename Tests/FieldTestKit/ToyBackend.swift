import FieldModel

/// A third OS for tests: what adding one under `Backends/` means, with nothing changed in analysis.
///
/// "ToyOS" prints its kernel pools in `/proc/toy/pools` (`NAME LIMIT USED PEAK` per line) and each task in
/// `/proc/PID/toytask` (`name threads resident-bytes`).
public final class ToyBackend: Backend {
    public let identifier = "toyos"
    public init() {}
    public func detect(procRoot: String) -> Bool { false }
    public var capturePlan: [CapturePlanEntry] {
        [CapturePlanEntry(path: "/proc/toy/pools", scope: .system), CapturePlanEntry(path: "/proc/[pid]/toytask", scope: .process)]
    }
    public func bootID(procRoot: String) -> String? { nil }
    public func cheapSignals(_ captures: [FileCapture]) -> [UInt64] { [] }
    public var kernelLog: String? { nil }
    public func derivedPaths(fromDeep captures: [FileCapture]) -> [String] { [] }
    public func makeInterpreter() -> any SampleInterpreter { ToyInterpreter() }

    /// A sample's files: the pools, and one task per (pid, name, threads, resident bytes).
    public static func files(pools: [(name: String, limit: Int, used: Int, peak: Int)], tasks: [(pid: Int32, name: String, threads: Int, resident: Int)]) -> [FileCapture] {
        let text = pools.map { "\($0.name) \($0.limit) \($0.used) \($0.peak)\n" }.joined()
        return [FileCapture(path: "/proc/toy/pools", bytes: Array(text.utf8))]
            + tasks.map { FileCapture(path: "/proc/\($0.pid)/toytask", bytes: Array("\($0.name) \($0.threads) \($0.resident)\n".utf8)) }
    }
}

/// ToyOS captures to observations.
public final class ToyInterpreter: SampleInterpreter {
    public init() {}

    public func interpret(wallNanos: Int64, files: [FileCapture]) -> SampleObservations {
        var o = SampleObservations(wallNanos: wallNanos)
        for f in files where f.status == .ok {
            let text = String(decoding: f.bytes, as: UTF8.self)
            if f.path == "/proc/toy/pools" {
                for line in text.split(separator: "\n") {
                    let w = line.split(separator: " ")
                    guard w.count == 4, let limit = Double(w[1]), let used = Double(w[2]), let peak = Double(w[3]) else { continue }
                    o.system.quotas.append(QuotaReading(resource: String(w[0]), limit: limit, used: used, peak: peak, source: "toy pool size"))
                }
            } else if f.path.hasSuffix("/toytask"), let pid = Int32(f.path.split(separator: "/")[1]) {
                let w = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
                guard w.count == 3 else { continue }
                var p = ProcessObservation(pid: pid, name: String(w[0]))
                p.threads = Int(w[1])
                p.residentBytes = UInt64(w[2])
                p.heapBytes = UInt64(w[2])
                o.processes.append(p)
            }
        }
        return o
    }

    public func events(inLogLines lines: [[UInt8]]) -> [ObservedEvent] { [] }
}
