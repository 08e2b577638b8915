import Foundation
import Testing

/// `GET /metrics` of a collector storing the real agent's bundles of a leaking and a healthy workload, scraped by
/// a real Prometheus server (Debian's `prometheus`, which .ci/run installs) and asked in PromQL.
@Suite struct MetricsTests {
    @Test func prometheusFindsTheLeakingDeviceAndOnlyIt() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try CollectorUnderTest(dir: dir, extra: ["--metrics-interval", "1"])
        // Each device is an agent watching one workload on this machine.
        let paced = ["--count", "80", "--interval-ms", "150", "--hold-seconds", "3"]
        let leaky = try AccuracyMatrixTests.start("leak-fd", paced)
        let steady = try AccuracyMatrixTests.start("ok-steady", paced)
        defer { for p in [leaky, steady] where p.isRunning { p.terminate() } }
        var agents: [Background] = []
        for (device, match) in [("devA", "^leak-fd$"), ("devB", "^ok-steady$")] {
            agents.append(
                try Background(
                    Harness.agentCommand[0],
                    Array(Harness.agentCommand.dropFirst()) + [
                        "--interval", "0.5", "--duration", "8", "--bundle-seconds", "2", "--spool", dir + "/spool-" + device,
                        "--device-id", device, "--match", match, "--upload", c.url, "--token-file", c.tokenFile(for: device),
                        "--final-upload-seconds", "5",
                    ], in: dir))
        }
        for a in agents { #expect(a.stop(0, within: 60) == 0, "\(a.stderr)") }  // signal 0: wait for the end

        // Prometheus itself, scraping every second.
        let promPort = try Self.freePort()
        let config = """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: field
                static_configs: [{targets: ["\(c.address)"]}]
            """
        try config.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try Background(
            "/usr/bin/prometheus",
            ["--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/tsdb",
             "--web.listen-address=127.0.0.1:\(promPort)"], in: dir)
        defer { prometheus.stop(SIGKILL) }

        // The devices with a leaking process (docs/fleet.md). Both devices are this one machine: a kernel-wide
        // finding (slab growth while CI builds beside the test) would be true of both, and is not asked here.
        let leaking = "sum by (device) (field_device_findings{kind=~\"thread-leak.*|heap-leak|anon-growth|shm-leak|fd-leak\"}) > 0"
        var answer: [String] = []
        let found = Harness.waitFor(60) {
            answer = (try? Self.query(promPort, leaking)) ?? []
            return !answer.isEmpty
        }
        #expect(found && answer == ["devA"], "\(answer); metrics: \((try? Self.metrics(c)) ?? "")\n\(prometheus.stderr.suffix(1500))")
        // Both devices report, and the leak's kind is the one the workload has.
        let reporting = try Self.query(promPort, "time() - field_device_last_upload_timestamp_seconds < 3600")
        #expect(reporting == ["devA", "devB"], "\(reporting)")
        #expect(try Self.query(promPort, "field_device_findings{kind=\"fd-leak\"} > 0") == ["devA"])

        // The exposition passes Prometheus's own lint (names, units, _total counters, help lines).
        let text = try Self.metrics(c)
        try text.write(toFile: dir + "/metrics.txt", atomically: true, encoding: .utf8)
        let lint = try Harness.run("/bin/sh", ["-c", "promtool check metrics < '\(dir)/metrics.txt'"])
        #expect(lint.status == 0, "\(lint.text) \(lint.stderr)")
        #expect(!text.contains("pid="), "per-process labels would explode cardinality")
        // The alerting rules docs/fleet.md gives are rules Prometheus accepts.
        let doc = try String(contentsOfFile: Harness.root + "/docs/fleet.md", encoding: .utf8)
        let rules = try #require(doc.components(separatedBy: "```yaml\n").dropFirst().first?.components(separatedBy: "```").first)
        try rules.write(toFile: dir + "/rules.yml", atomically: true, encoding: .utf8)
        let checked = try Harness.run("/usr/bin/promtool", ["check", "rules", dir + "/rules.yml"])
        #expect(checked.status == 0 && checked.text.contains("5 rules found"), "\(checked.text) \(checked.stderr)")

        // The analysis so far is in the store: a collector killed and started again reads no bundle and reports
        // the same findings.
        let read = try #require(Self.value(text, "field_collector_analysis_bundles_total"))
        #expect(read > 0)
        for device in ["devA", "devB"] {
            #expect(FileManager.default.fileExists(atPath: c.store + "/.analysis/\(device).state"), "no state for \(device)")
        }
        let findings = text.split(separator: "\n").filter { $0.hasPrefix("field_device_findings{") }.sorted()
        try c.killAndRestart(pauseSeconds: 0.2)
        var again = ""
        #expect(Harness.waitFor(30) {
            again = (try? Self.metrics(c)) ?? ""
            return Self.value(again, "field_collector_analyses_total").map { $0 >= 2 } ?? false
        }, "\(again)")
        #expect(Self.value(again, "field_collector_analysis_bundles_total") == 0, "\(again)")
        #expect(again.split(separator: "\n").filter { $0.hasPrefix("field_device_findings{") }.sorted() == findings)
        #expect(c.server.stop() == 0)
    }

    /// The value of an unlabelled sample in an exposition.
    static func value(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    static func metrics(_ c: CollectorUnderTest) throws -> String {
        try Harness.run("/usr/bin/curl", ["-s", "--max-time", "10", "http://\(c.address)/metrics"]).text
    }

    /// The `device` label of every series an instant query returns, sorted.
    static func query(_ port: Int, _ promql: String) throws -> [String] {
        let r = try Harness.run(
            "/usr/bin/curl", ["-s", "--max-time", "10", "--data-urlencode", "query=\(promql)", "http://127.0.0.1:\(port)/api/v1/query"])
        guard let doc = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any],
            doc["status"] as? String == "success", let data = doc["data"] as? [String: Any],
            let result = data["result"] as? [[String: Any]]
        else { throw HarnessError("Prometheus answered \(r.text)") }
        return result.compactMap { ($0["metric"] as? [String: String])?["device"] }.sorted()
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw HarnessError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
