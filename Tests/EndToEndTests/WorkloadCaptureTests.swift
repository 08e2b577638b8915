import FieldBundle
import FieldModel
import Foundation
import Testing

/// The real agent samples the real leak workloads (tools/workloads) and the bundle holds what they did.
@Suite(.serialized) struct WorkloadCaptureTests {
    static let workloads: String = {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("field-workloads-\(getpid())").path
        let r = try? Harness.run("/bin/bash", [Harness.root + "/tools/workloads/build.sh", out])
        precondition(r?.status == 0, "tools/workloads/build.sh failed: \(r?.stderr ?? "did not run")")
        return out
    }()

    func start(_ name: String, _ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.workloads + "/" + name)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Sizes of `rw-p` anonymous regions in a maps text.
    func anonymousRegionSizes(_ maps: [UInt8]) -> [UInt64] {
        String(decoding: maps, as: UTF8.self).split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count == 5, f[1] == "rw-p" else { return nil }  // no name: anonymous
            let r = f[0].split(separator: "-")
            guard r.count == 2, let a = UInt64(r[0], radix: 16), let b = UInt64(r[1], radix: 16) else { return nil }
            return b - a
        }
    }

    @Test func unjoinedStacksAndGrowingThreadsShowInTheBundle() throws {
        let unjoined = try start("leak-unjoined", ["--count", "40", "--interval-ms", "60", "--hold-seconds", "4"])
        let growing = try start("leak-growing", ["--count", "40", "--interval-ms", "60", "--hold-seconds", "4"])
        defer {
            unjoined.terminate()
            growing.terminate()
        }
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // By pid: other suites run workloads of the same names at the same time.
        let run = try Harness.fieldagent([
            "--interval", "0.25", "--duration", "3", "--spool", dir, "--deep-every", "4",
            "--pid", String(unjoined.processIdentifier), "--pid", String(growing.processIdentifier),
        ])
        #expect(run.status == 0, "\(run.stderr)")
        var samples: [Sample] = []
        for path in try Harness.files(in: dir, suffix: ".zst") {
            let r = try BundleReader(path: path)
            var decoder = SampleDecoder(window: 0)
            while let rec = r.next() {
                if rec.type == .header { decoder = SampleDecoder(header: try RecordCodec.decodeHeader(rec.payload)) }
                if rec.type == .sample { samples.append(try decoder.decode(rec.payload)) }
            }
        }
        #expect(samples.count >= 10)
        let u = unjoined.processIdentifier, g = growing.processIdentifier

        // Unjoined: 8 MiB stack regions pile up in maps while the live thread count stays at 1.
        let stacks = samples.compactMap { s in s.files.first { $0.path == "/proc/\(u)/maps" } }
            .map { anonymousRegionSizes($0.bytes).filter { $0 == 8 << 20 }.count }
        #expect(stacks.count >= 3, "maps of the unjoined workload read \(stacks.count) times")
        #expect(stacks.last! > stacks.first! + 10, "8 MiB stacks over time: \(stacks)")
        let threads = samples.compactMap { s in s.files.first { $0.path == "/proc/\(u)/status" } }
            .compactMap { String(decoding: $0.bytes, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("Threads:") } }
        // A new thread is alive for an instant before it ends, so a read can catch 2; never more, mostly 1.
        #expect(threads.allSatisfy { $0.hasSuffix("\t1") || $0.hasSuffix("\t2") }, "\(Set(threads))")
        #expect(threads.filter { $0.hasSuffix("\t1") }.count * 10 >= threads.count * 7, "\(threads)")

        // Growing: the thread list grows and the thread names say "worker".
        let lastDeep = try #require(samples.last { s in s.files.contains { $0.path.hasPrefix("/proc/\(g)/task/") && $0.path.hasSuffix("/comm") } })
        let workers = lastDeep.files.filter { $0.path.hasPrefix("/proc/\(g)/task/") && $0.bytes == Array("worker\n".utf8) }.count
        #expect(workers >= 10, "threads named worker in the last deep sample: \(workers)")
        let taskCounts = samples.compactMap { s in s.files.first { $0.path == "/proc/\(g)/task" } }
            .map { $0.bytes.filter { $0 == 0x0A }.count }
        #expect(taskCounts.last! > taskCounts.first!, "\(taskCounts)")

        // Only the selected processes were sampled.
        let pids = Set(samples.flatMap(\.files).compactMap { f -> String? in
            let parts = f.path.split(separator: "/")
            return parts.count >= 3 && parts[1].allSatisfy(\.isNumber) ? String(parts[1]) : nil
        })
        #expect(pids == [String(u), String(g)])
    }
}
