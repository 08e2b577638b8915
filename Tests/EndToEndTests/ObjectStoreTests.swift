import FieldBundle
import Foundation
import Testing

/// `fieldctl serve --store s3://BUCKET/PREFIX` against a real object store (SeaweedFS on loopback), and
/// `fieldctl devices` and `analyze` reading the bucket.
@Suite struct ObjectStoreTests {
    @Test func bundlesGoIntoTheBucketOnceAndAnalyzeReadsThemBack() throws {
        let s3 = try SeaweedFS.shared()
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let address = s3.newPrefix("one")
        let c = try CollectorUnderTest(dir: dir, store: address, environment: s3.environment)
        #expect(c.server.stdout.contains("store \(address) at \(s3.endpoint)"), "\(c.server.stdout)")
        try FileManager.default.createDirectory(atPath: dir + "/copies", withIntermediateDirectories: false)

        // The real agent, uploading, and copying each bundle aside for the comparison at the end.
        let agent = try Harness.fieldagent([
            "--interval", "0.1", "--duration", "3.3", "--bundle-seconds", "1", "--spool", dir + "/spool",
            "--device-id", "devA", "--upload", c.url, "--token-file", c.tokenFile(for: "devA"),
            "--copy-to", dir + "/copies", "--final-upload-seconds", "5",
        ])
        #expect(agent.status == 0, "\(agent.stderr)")
        let names = try Harness.files(in: dir + "/copies/devA", suffix: ".zst").map { ($0 as NSString).lastPathComponent }
        try #require(names.count >= 3, "\(agent.stderr)")
        #expect(try Harness.files(in: dir + "/spool", suffix: ".zst").isEmpty, "\(agent.stderr)")
        var keys = try s3.keys(under: address)
        #expect(keys.filter { $0.hasSuffix(".zst") } == names.map { "devA/\($0)" }, "\(keys)")
        #expect(keys.filter { $0.hasPrefix("devA/.index/") } == names.map { "devA/.index/\($0).json" })
        #expect(keys.filter { $0.hasPrefix("devA/.ids/") }.count == names.count)

        // The same bundle under another name is stored once; another bundle under a stored name is refused.
        let first = dir + "/copies/devA/" + names[0]
        let again = try c.put(device: "devA", name: "alias.zst", file: first, token: CollectorUnderTest.token("devA"))
        #expect(again.status == 200 && again.body.contains("already stored as \(names[0])"), "\(again)")
        let same = try c.put(device: "devA", name: names[0], file: first, token: CollectorUnderTest.token("devA"))
        #expect(same.status == 200 && same.body.contains("already stored"), "\(same)")
        let other = try c.put(
            device: "devA", name: names[0], file: dir + "/copies/devA/" + names[1], token: CollectorUnderTest.token("devA"))
        #expect(other.status == 409, "\(other)")
        keys = try s3.keys(under: address)
        #expect(keys.filter { $0.hasSuffix(".zst") } == names.map { "devA/\($0)" }, "\(keys)")

        // What devices and analyze say from the bucket is what they say from the copies.
        let listed = try Harness.run(
            Harness.binDir + "/fieldctl", ["devices", "--store", address, "--format", "json"], environment: s3.environment)
        #expect(listed.status == 0, "\(listed.stderr)")
        let devices = try JSONSerialization.jsonObject(with: listed.stdout) as? [[String: Any]] ?? []
        #expect(devices.count == 1 && devices.first?["device"] as? String == "devA" && devices.first?["bundles"] as? Int == names.count,
                "\(listed.text)")
        let fromBucket = try Harness.run(
            Harness.binDir + "/fieldctl", ["analyze", address + "/devA"], environment: s3.environment)
        let fromCopies = try Harness.fieldctl(["analyze", dir + "/copies/devA"])
        #expect(fromBucket.status == 0 && fromCopies.status == 0, "\(fromBucket.stderr)")
        #expect(fromBucket.text == fromCopies.text && fromBucket.text.contains("device devA"), "\(fromBucket.text)\n---\n\(fromCopies.text)")
        let whole = try Harness.run(Harness.binDir + "/fieldctl", ["analyze", address], environment: s3.environment)
        #expect(whole.text == fromCopies.text, "\(whole.text) \(whole.stderr)")
        #expect(c.server.stop() == 0)

        // A collector that stored none of them serves the fleet's numbers from the bucket alone.
        let later = try CollectorUnderTest(
            dir: dir, store: address, extra: ["--metrics-interval", "1"], environment: s3.environment)
        var metrics = ""
        let served = Harness.waitFor(30) {
            metrics = (try? MetricsTests.metrics(later)) ?? ""
            return metrics.contains("field_device_analysis_timestamp_seconds{device=\"devA\"}")
        }
        #expect(served && metrics.contains("field_device_bundles_received_total{device=\"devA\"} \(names.count)\n"), "\(metrics)")
        #expect(metrics.contains("field_device_last_sample_timestamp_seconds{device=\"devA\"}"), "\(metrics)")
        #expect(metrics.contains("field_collector_analysis_failures_total 0\n"), "\(metrics)")
        #expect(later.server.stop() == 0)
    }

    /// Two collectors behind one load balancer: each bundle reaches both, under its name and under another, all
    /// at once. Every bundle is in the bucket once, under its own name; exactly one upload of each is 201.
    @Test func twoCollectorsOnOneBucketStoreEachBundleOnce() throws {
        let s3 = try SeaweedFS.shared()
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let address = s3.newPrefix("two")
        let c1 = try CollectorUnderTest(dir: dir, store: address, environment: s3.environment)
        let c2 = try CollectorUnderTest(dir: dir, store: address, environment: s3.environment)
        var bundles: [(device: String, path: String)] = []
        for device in ["devA", "devB"] {
            bundles += try BundleMaker.make(in: dir, device: device, seconds: 3.3, extra: ["--bundle-seconds", "1"]).map { (device, $0) }
        }
        try #require(bundles.count >= 6)
        struct Attempt { var bundle: Int; var collector: CollectorUnderTest; var name: String }
        var attempts: [Attempt] = []
        for (i, b) in bundles.enumerated() {
            let name = (b.path as NSString).lastPathComponent
            attempts += [Attempt(bundle: i, collector: c1, name: name), Attempt(bundle: i, collector: c2, name: name),
                         Attempt(bundle: i, collector: i % 2 == 0 ? c1 : c2, name: "alias-" + name)]
        }
        let statuses = Statuses(count: attempts.count)
        // Read only, from every thread (curl does the work in processes of its own).
        nonisolated(unsafe) let all = attempts
        nonisolated(unsafe) let made = bundles
        DispatchQueue.concurrentPerform(iterations: all.count) { k in
            let a = all[k]
            let b = made[a.bundle]
            let r = try? a.collector.put(device: b.device, name: a.name, file: b.path, token: CollectorUnderTest.token(b.device))
            statuses.set(k, r?.status ?? -1)
        }
        for (i, b) in bundles.enumerated() {
            let mine = attempts.indices.filter { attempts[$0].bundle == i }.map { statuses.get($0) }
            #expect(mine.filter { $0 == 201 }.count == 1 && mine.allSatisfy { $0 == 201 || $0 == 200 }, "\(b.path): \(mine)")
        }
        let keys = try s3.keys(under: address).filter { $0.hasSuffix(".zst") }
        let expected = bundles.map { "\($0.device)/\(($0.path as NSString).lastPathComponent)" }.sorted()
        #expect(keys == expected, "\(keys)")
        #expect(c1.server.stop() == 0)
        #expect(c2.server.stop() == 0)
    }

    @Test func aStoreThatCannotBeReachedOrRefusesTheKeyStopsTheStart() throws {
        let s3 = try SeaweedFS.shared()
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "devA token-of-devA-0123456789\n".write(toFile: dir + "/tokens", atomically: true, encoding: .utf8)
        chmod(dir + "/tokens", 0o600)
        var wrongKey = s3.environment
        wrongKey["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        var noStore = s3.environment
        noStore["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  // discard: nothing listens
        var noKey = s3.environment
        noKey["AWS_ACCESS_KEY_ID"] = ""
        let cases: [(env: [String: String], store: String, says: String)] = [
            (wrongKey, s3.newPrefix("x"), "403"),
            (noStore, s3.newPrefix("x"), "127.0.0.1"),
            (noKey, s3.newPrefix("x"), "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
            (s3.environment, "s3://No_Such/x", "is not a bucket name"),
        ]
        for (env, store, says) in cases {
            let r = try Harness.run(
                Harness.binDir + "/fieldctl",
                ["serve", "--listen", "127.0.0.1:0", "--store", store, "--tokens", dir + "/tokens"], timeout: 60,
                environment: env)
            #expect(r.status != 0 && r.stderr.contains(says), "\(store): exit \(r.status), \(r.stderr)")
        }
    }
}

/// Answers of concurrent uploads, by attempt.
final class Statuses: @unchecked Sendable {
    private var values: [Int]
    private let lock = NSLock()
    init(count: Int) { values = Array(repeating: 0, count: count) }
    func set(_ i: Int, _ v: Int) { lock.lock(); values[i] = v; lock.unlock() }
    func get(_ i: Int) -> Int { lock.lock(); defer { lock.unlock() }; return values[i] }
}
