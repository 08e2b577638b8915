import FieldBundle
import FieldModel
import Foundation
import Testing

/// A build of the agent other than the one beside the tests (`FIELD_AGENT`, maybe under `FIELD_AGENT_EMULATOR`:
/// an Embedded build, an ARM build under qemu-user) samples the same leak workloads at the same time as the normal
/// build, and analysis reaches the same verdicts from both bundles. tools/test-agents.sh runs it for every target.
@Suite(.serialized) struct AgentBuildTests {
    static let underTest = ProcessInfo.processInfo.environment["FIELD_AGENT"].map { !$0.isEmpty } ?? false

    /// The leak findings of one spool's analysis: per workload, the kinds of the accuracy matrix it was named for
    /// (other kinds, such as a forecast, depend on the exact sampling instants of each agent).
    func verdicts(_ dir: String, _ pids: [String: Int32]) throws -> [String: Set<String>] {
        let analysis = try Harness.fieldctl(["analyze", "--format", "json", dir])
        #expect(analysis.status == 0, "\(analysis.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: analysis.stdout) as? [String: Any])
        let findings = try #require(doc["findings"] as? [[String: Any]])
        let leakKinds = Set(AccuracyMatrixTests.expected.compactMap { $0.kind })
        var out: [String: Set<String>] = [:]
        for (name, pid) in pids {
            let kinds = findings.filter { ($0["pid"] as? Int) == Int(pid) }.compactMap { $0["kind"] as? String }
            out[name] = Set(kinds.filter { leakKinds.contains($0) })
        }
        return out
    }

    @Test(.enabled(if: underTest, "set FIELD_AGENT to the build under test (tools/test-agents.sh)"))
    func sameVerdictsAsTheNormalBuildOnTheSameWorkloads() throws {
        let procs = try AccuracyMatrixTests.startWorkloads()
        defer { for p in procs.values where p.isRunning { p.terminate() } }
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = ["--interval", "0.5", "--duration", "8", "--match", "^(leak|ok)-", "--deep-every", "2"]
        // Both at once, so that they see the same processes doing the same things.
        let reference = Process()
        reference.executableURL = URL(fileURLWithPath: Harness.binDir + "/fieldagent")
        reference.arguments = args + ["--spool", dir + "/reference", "--device-id", "reference"]
        reference.standardOutput = FileHandle.nullDevice
        reference.standardError = FileHandle.nullDevice
        try reference.run()
        let run = try Harness.fieldagent(args + ["--spool", dir + "/target", "--device-id", "target"])
        reference.waitUntilExit()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(reference.terminationStatus == 0)

        let pids = procs.mapValues { $0.processIdentifier }
        let expected = try verdicts(dir + "/reference", pids)
        let got = try verdicts(dir + "/target", pids)
        for (w, kind) in AccuracyMatrixTests.expected.map({ ($0.label, $0.kind) }) {
            #expect(got[w] == expected[w], "\(w): \(Harness.agentCommand.last!) found \(got[w] ?? []), the normal build \(expected[w] ?? [])")
            if let k = kind {
                #expect(got[w]?.contains(k) == true, "\(w): expected \(k), got \(got[w] ?? [])")
            } else {
                #expect(got[w]?.isEmpty == true, "\(w) is healthy but was flagged: \(got[w] ?? [])")
            }
        }
        // The bundles say which agent wrote them and hold intact, closed streams.
        for f in try Harness.files(in: dir + "/target", suffix: ".zst") {
            let reader = try BundleReader(path: f)
            while reader.next() != nil {}
            #expect(reader.isComplete, "\(f): \(reader.damage?.reason ?? "")")
        }
    }

    /// What the build links is what the README says: a glibc build needs the C library (and libm) only, a musl
    /// build is static and names no interpreter.
    @Test(.enabled(if: underTest, "set FIELD_AGENT to the build under test (tools/test-agents.sh)"))
    func linksOnlyTheCLibrary() throws {
        let agent = Harness.agentCommand.last!
        let dynamic = try Harness.run("/usr/bin/env", ["readelf", "-d", agent])
        let program = try Harness.run("/usr/bin/env", ["readelf", "-l", agent])
        #expect(dynamic.status == 0 && program.status == 0, "\(dynamic.stderr) \(program.stderr)")
        let needed = dynamic.text.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { line in
            line.split(separator: "[").last?.split(separator: "]").first.map(String.init)
        }
        let target = ProcessInfo.processInfo.environment["FIELD_AGENT_TARGET"] ?? ""
        if target.contains("musl") {
            #expect(needed.isEmpty, "a musl build must be static: \(needed)")
            #expect(!program.text.contains("interpreter"), "a static build names no interpreter")
        } else {
            // glibc's loader counts as the C library: on ARM it exports the stack protector's guard.
            let cLibrary = ["libc.so", "libm.so", "ld-linux"]
            #expect(!needed.isEmpty && needed.allSatisfy { n in cLibrary.contains { n.hasPrefix($0) } }, "\(needed)")
            // The newest glibc symbol version it needs is what the README promises (2.34: pthread in libc, 64-bit
            // time on 32-bit ARM). A glibc 2.36 symbol (arc4random_buf) once slipped in through the stdlib.
            let versions = try Harness.run("/usr/bin/env", ["readelf", "-V", agent])
            let newest = versions.text.split(separator: " ").compactMap { word -> Int? in
                guard word.hasPrefix("GLIBC_2.") else { return nil }
                return Int(word.dropFirst("GLIBC_2.".count).prefix { $0.isNumber })
            }.max() ?? 0
            #expect(newest <= 34, "\(agent) needs GLIBC_2.\(newest)")
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: agent)[.size] as? Int)
        #expect(size <= 2 << 20, "\(agent): \(size) bytes, over the 2 MiB budget")
    }
}
