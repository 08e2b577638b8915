// fieldsoak: writes the bundles of a simulated soak (a scenario file, see tools/soak/README.md), so that analysis
// of long soaks is tested and measured in seconds.
//
//   fieldsoak SCENARIO.json OUTDIR [--bundle-minutes N] [--hours H]
import FieldBundle
import FieldModel
import FieldSoak
import Foundation

func fail(_ message: String, _ code: Int32 = 64) -> Never {
    FileHandle.standardError.write(Data("fieldsoak: \(message)\n".utf8))
    exit(code)
}

var args = Array(CommandLine.arguments.dropFirst())
if args.contains("--help") || args.contains("-h") {
    print("usage: fieldsoak SCENARIO.json OUTDIR [--bundle-minutes N] [--hours H]\n\nWrites the bundles of the simulated soak SCENARIO describes into OUTDIR (one bundle per N simulated minutes, default 60).\n--hours H overrides the scenario's duration_hours (one scenario, soaks of any length).\nThe scenario format is in tools/soak/README.md.")
    exit(0)
}
var bundleMinutes = 60.0
if let i = args.firstIndex(of: "--bundle-minutes") {
    guard i + 1 < args.count, let v = Double(args[i + 1]), v > 0 else { fail("--bundle-minutes wants a positive number") }
    bundleMinutes = v
    args.removeSubrange(i...(i + 1))
}
var hours: Double?
if let i = args.firstIndex(of: "--hours") {
    guard i + 1 < args.count, let v = Double(args[i + 1]), v > 0, v <= 24 * 366 else { fail("--hours wants a positive number of hours (at most a year)") }
    hours = v
    args.removeSubrange(i...(i + 1))
}
guard args.count == 2 else { fail("usage: fieldsoak SCENARIO.json OUTDIR [--bundle-minutes N] [--hours H]") }
var scenario: Scenario
do {
    scenario = try JSONDecoder().decode(Scenario.self, from: Data(contentsOf: URL(fileURLWithPath: args[0])))
} catch {
    fail("cannot read the scenario \(args[0]): \(error)", 65)
}
if let h = hours { scenario.durationHours = h }
let out = args[1]
do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch { fail("cannot create \(out): \(error)", 73) }

let r = SoakRenderer(scenario)
let runs = r.runs
let perBundle = max(1, Int(bundleMinutes * 60 / scenario.intervalSeconds))
var writer: BundleWriter?
var bundles = 0
let total = scenario.sampleCount
for i in 0..<total {
    let s = r.sample(i, runs: runs)
    do {
        if i % perBundle == 0 {
            if let w = writer { _ = try w.close(reason: "rotate", wallNanos: s.wallNanos, monoNanos: s.monoNanos) }
            let h = r.header(atMinute: Double(i) * scenario.intervalSeconds / 60)
            let header = BundleHeader(agent: "fieldsoak", backend: h.backend, osIdentity: Array("Linux version 6.1.0 (simulated)".utf8),
                deviceID: h.device, bootID: "soak-boot", wallNanos: h.wallNanos, monoNanos: s.monoNanos, intervalNanos: h.intervalNanos,
                procRoot: "/proc", sequence: UInt64(bundles), plan: [])
            writer = try BundleWriter(path: out + "/\(scenario.device)-\(String(format: "%04d", bundles)).zst", header: header)
            bundles += 1
        }
        try writer!.append(s)
    } catch {
        fail("cannot write a bundle in \(out): \(error.message)", 74)
    }
    if i % 5000 == 0 && isatty(2) != 0 { FileHandle.standardError.write(Data("\rsample \(i)/\(total)".utf8)) }
}
if let w = writer, let last = Optional(r.sample(total - 1, runs: [])) {
    do { _ = try w.close(reason: "end", wallNanos: last.wallNanos, monoNanos: last.monoNanos) } catch { fail("cannot close: \(error.message)", 74) }
}
if isatty(2) != 0 { FileHandle.standardError.write(Data("\r".utf8)) }
print("fieldsoak: \(total) samples of \(scenario.processes.reduce(0) { $0 + $1.copies }) process(es) over \(scenario.durationHours) h in \(bundles) bundle(s) in \(out)")
