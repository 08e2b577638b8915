@testable import FieldAnalysis
import Testing

@Suite struct ComparisonTests {
    func q(_ device: String, _ os: String, _ resource: String, limit: Double, used: Double, eta: Double?, binding: String? = nil,
           pid: Int32? = nil, scope: String = "process") -> Quota {
        Quota(os: os, device: device, resource: resource, scope: scope, pid: pid, process: pid.map { "p\($0)" }, limit: limit,
            used: used, peak: used, binding: binding, etaSeconds: eta)
    }

    @Test func theFirstToRunOutLeadsAndEachDeviceGetsItsThreadRow() {
        let quotas = [
            q("board", "linux", "thread", limit: 32754, used: 61, eta: 13000, binding: "max_map_count", pid: 7),
            q("board", "linux", "thread", limit: 32754, used: 5, eta: nil, binding: "pid_max", pid: 8),
            q("board", "linux", "memory", limit: 1e9, used: 5e8, eta: nil, binding: "MemTotal", scope: "system"),
            q("plc", "sylixos", "thread", limit: 500, used: 42, eta: 91, scope: "system"),
            q("plc", "sylixos", "event", limit: 5000, used: 38, eta: nil, scope: "system"),
        ]
        let rows = Comparison.rows(quotas)
        #expect(rows.filter { $0.resource == "thread" }.map(\.device) == ["board", "plc"])
        #expect(rows.first { $0.device == "board" }?.pid == 7)  // the process that runs out first
        #expect(!rows.contains { $0.resource == "memory" || $0.resource == "event" })  // only one device has them
        let v = Comparison.verdict(rows)
        #expect(v.hasPrefix("first to run out of threads: plc (sylixos) runs out in 91 s"), "\(v)")
        #expect(v.contains("board (linux) runs out in 3.6 h") && v.contains("max_map_count"))
        let plc = rows.first { $0.device == "plc" }!
        #expect(plc.percent == 8.4)
        #expect(abs(plc.growthPerHour - (500 - 42) / 91 * 3600) < 0.01)
    }
}
