import Foundation
import Testing

/// Issue 14's end-to-end run: 50 simulated devices upload through two collectors, over TLS, into a real object
/// store (SeaweedFS); one collector is killed with SIGKILL mid-run. Every bundle ends up acknowledged and in the
/// bucket exactly once, and a real Prometheus, scraping the collector that lived, names exactly the devices that
/// were given a leak.
@Suite struct FleetTests {
    static let devices = (0..<50).map { String(format: "fleet-%02d", $0) }
    /// Every fifth device leaks descriptors; the others have the healthy twins of a leak.
    static func leaks(_ i: Int) -> Bool { i % 5 == 2 }

    /// An hour at 10 s of a small device, in 10-minute bundles (seven: the sample at the hour starts the last).
    static func scenario(_ i: Int) -> String {
        let leak = leaks(i)
            ? #"{"name": "leaky", "pid": 400, "descriptors": {"base": 12, "per_minute": 2, "noise": 2}},"#
            : #"{"name": "leaky", "pid": 400, "descriptors": {"base": 12, "ramp": 40, "ramp_minutes": 8, "noise": 2}},"#
        return """
            {"device": "\(devices[i])", "interval_seconds": 10, "duration_hours": 1, "deep_every": 6, "seed": \(i + 1),
             "processes": [
               \(leak)
               {"name": "pool", "pid": 203, "threads": {"base": 1, "ramp": 8, "ramp_minutes": 5, "quantum": 1}},
               {"name": "service", "pid": 300, "threads": {"base": 6, "noise": 1.4}, "heap_bytes": {"base": 16777216, "noise": 1048576},
                "descriptors": {"base": 20, "noise": 4}}
             ]}
            """
    }

    @Test func fiftyDevicesThroughTwoCollectorsOneKilledIntoTheBucketOverTLS() throws {
        let s3 = try SeaweedFS.shared()
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let started = Date()
        // The devices' bundles, from the soak synthesizer.
        nonisolated(unsafe) var made: [[String]] = Array(repeating: [], count: Self.devices.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: Self.devices.count) { i in
            let out = dir + "/bundles/" + Self.devices[i]
            let file = dir + "/scenario-\(i).json"
            try? Self.scenario(i).write(toFile: file, atomically: true, encoding: .utf8)
            _ = try? Harness.run(Harness.binDir + "/fieldsoak", [file, out, "--bundle-minutes", "10"])
            let files = (try? Harness.files(in: out, suffix: ".zst")) ?? []
            lock.lock()
            made[i] = files
            lock.unlock()
        }
        let bundles = made
        try #require(bundles.allSatisfy { $0.count == 7 }, "\(bundles.map(\.count))")  // 361 samples: 6 full bundles and the last sample

        // Two collectors on one bucket, over TLS.
        let ca = try TestCA(in: dir)
        let cert = try ca.issue("collector", altNames: "IP:127.0.0.1")
        let tokens = Self.devices.map { "\($0) \(CollectorUnderTest.token($0))" }.joined(separator: "\n") + "\n"
        _ = FileManager.default.createFile(atPath: dir + "/tokens", contents: Data(tokens.utf8), attributes: [.posixPermissions: 0o600])
        let address = s3.newPrefix("fleet")
        let options = ["--tls-cert", cert.cert, "--tls-key", cert.key, "--metrics-interval", "1"]
        let collectors = try (0..<2).map { _ in try CollectorUnderTest(dir: dir, store: address, extra: options, environment: s3.environment) }
        for c in collectors { c.curlOptions = ["--cacert", ca.caCert, "--max-time", "20"] }

        // Each device sends its bundles in order, each to one of the two as a load balancer would, and on no answer
        // or a 5xx to the other. The first collector is killed once a third of the bundles are acknowledged.
        let total = bundles.reduce(0) { $0 + $1.count }
        let tally = Tally()
        // Read only from the upload threads (curl does the work in processes of its own), but for the one kill.
        nonisolated(unsafe) let balanced = collectors
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 10
        for (i, files) in bundles.enumerated() {
            queue.addOperation {
                for (k, file) in files.enumerated() {
                    var status = -1
                    for attempt in 0..<40 where !(200...201).contains(status) {
                        let c = balanced[(i + k + attempt) % 2]
                        status = (try? c.put(
                            device: Self.devices[i], name: (file as NSString).lastPathComponent, file: file,
                            token: CollectorUnderTest.token(Self.devices[i])).status) ?? -1
                        if !(200...201).contains(status) {
                            tally.retried()
                            usleep(100_000)
                        }
                    }
                    if tally.answered(status, of: total) == total / 3 { balanced[0].server.stop(SIGKILL) }
                }
            }
        }
        let uploadStart = Date()
        queue.waitUntilAllOperationsAreFinished()
        let uploadSeconds = Date().timeIntervalSince(uploadStart)
        #expect(!collectors[0].server.process.isRunning, "the first collector was not killed")
        #expect(tally.acknowledged == total, "\(tally.acknowledged) of \(total) acknowledged; answers \(tally.statuses)")

        // Every bundle in the bucket once, under its own name, and nothing else.
        let keys = try s3.keys(under: address).filter { $0.hasSuffix(".zst") }
        let expected = bundles.enumerated().flatMap { i, files in files.map { "\(Self.devices[i])/\(($0 as NSString).lastPathComponent)" } }.sorted()
        let exactlyOnce = keys == expected
        #expect(exactlyOnce, "\(keys.count) keys, \(expected.count) bundles; extra \(Set(keys).subtracting(expected)), missing \(Set(expected).subtracting(keys))")

        // Prometheus scrapes the collector that lived and names the leaking devices.
        let survivor = collectors[1]
        let port = try MetricsTests.freePort()
        let config = """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: field
                scheme: https
                tls_config: {ca_file: "\(ca.caCert)"}
                static_configs: [{targets: ["\(survivor.address)"]}]
            """
        try config.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try Background(
            "/usr/bin/prometheus",
            ["--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/tsdb", "--web.listen-address=127.0.0.1:\(port)"],
            in: dir)
        defer { prometheus.stop(SIGKILL) }
        let leaking = "sum by (device) (field_device_findings{kind=~\"thread-leak.*|heap-leak|anon-growth|shm-leak|fd-leak\"}) > 0"
        let given = Self.devices.indices.filter(Self.leaks).map { Self.devices[$0] }
        var answer: [String] = []
        var analyzed: [String] = []
        let settled = Harness.waitFor(180) {
            analyzed = (try? MetricsTests.query(port, "field_device_analysis_timestamp_seconds")) ?? []
            answer = (try? MetricsTests.query(port, leaking)) ?? []
            return analyzed.count == Self.devices.count
        }
        #expect(settled, "\(analyzed.count) devices analyzed")
        print(
            "fleet: \(total) bundles of \(Self.devices.count) devices in \(String(format: "%.1f", uploadSeconds)) s through two "
                + "collectors, one killed after \(total / 3) acknowledged; final answers \(tally.statuses), \(tally.retries) "
                + "attempts retried; Prometheus named \(answer.count) leaking devices; \(String(format: "%.0f", Date().timeIntervalSince(started))) s in all")
        #expect(answer == given, "leaking \(answer), given \(given)")
        // The analyses so far are in the bucket, one per device, for a restarted or second collector.
        let states = try s3.keys(under: address).filter { $0.hasPrefix(".analysis/") }
        #expect(states == Self.devices.map { ".analysis/\($0).state" }, "\(states)")
        #expect(survivor.server.stop() == 0)
    }
}

/// Answers of the uploads, counted across threads.
final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var acknowledged = 0
    private(set) var statuses: [Int: Int] = [:]
    private(set) var retries = 0

    func retried() {
        lock.lock()
        retries += 1
        lock.unlock()
    }

    /// Counts a final answer; returns the acknowledged count after it.
    func answered(_ status: Int, of total: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        statuses[status, default: 0] += 1
        if (200...201).contains(status) { acknowledged += 1 }
        return acknowledged
    }
}

/// `fieldctl analyze` over a store of several devices: the fleet first, the devices analyzed in parallel with
/// the same result as one at a time.
@Suite struct FleetAnalysisTests {
    @Test func aStoreOfDevicesIsSummarizedFirstAndAnalyzedInParallelAsInSeries() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<6 {
            try FleetTests.scenario(i).write(toFile: dir + "/s\(i).json", atomically: true, encoding: .utf8)
            let r = try Harness.run(
                Harness.binDir + "/fieldsoak", [dir + "/s\(i).json", dir + "/store/" + FleetTests.devices[i], "--bundle-minutes", "10"])
            try #require(r.status == 0, "\(r.stderr)")
        }
        let serial = try Harness.fieldctl(["analyze", "--format", "json", "--jobs", "1", dir + "/store"])
        let parallel = try Harness.fieldctl(["analyze", "--format", "json", "--jobs", "4", dir + "/store"])
        #expect(serial.status == 0 && parallel.status == 0, "\(serial.stderr) \(parallel.stderr)")
        let same = serial.stdout == parallel.stdout
        #expect(same, "the parallel analysis differs from the serial one")
        let text = try Harness.fieldctl(["analyze", dir + "/store"]).text
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // fleet-02 is the one device of the six given a leak.
        #expect(lines.first == "fleet: 6 devices, 1 with findings (1 critical, 0 warning only)", "\(text)")
        #expect(lines.count > 2 && lines[1] == "  CRITICAL fleet-02: fd-leak", "\(text)")
        #expect(lines.count > 3 && lines[2].hasPrefix("  earliest exhaustion in the fleet: fd of pid 400 (leaky) on fleet-02, in "), "\(text)")
        #expect(text.contains("\ndevice fleet-05 (linux)"))
    }
}
