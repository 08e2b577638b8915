import FieldBundle
import Foundation
import Testing

/// The real collector on loopback, driven by curl: what it stores, what it refuses and why.
@Suite struct CollectorRefusalTests {
    @Test func storesOnceAndAnswersRepeatsAndRefusals() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try CollectorUnderTest(dir: dir)
        let bundle = try #require(try BundleMaker.make(in: dir, device: "devA").first)
        let name = (bundle as NSString).lastPathComponent
        let token = CollectorUnderTest.token("devA")

        // Stored, then the same again: success, stored once.
        #expect(try c.put(device: "devA", name: name, file: bundle, token: token).status == 201)
        #expect(try c.put(device: "devA", name: name, file: bundle, token: token).status == 200)
        #expect(c.stored("devA") == [name])
        #expect(c.indexLines("devA").count == 1)
        #expect(FileManager.default.contentsEqual(atPath: bundle, andPath: c.store + "/devA/" + name))

        // Credentials.
        #expect(try c.put(device: "devA", name: "other.zst", file: bundle, token: nil).status == 401)
        #expect(try c.put(device: "devA", name: "other.zst", file: bundle, token: "not-the-token-at-all").status == 403)
        #expect(
            try c.put(device: "devA", name: "other.zst", file: bundle, token: CollectorUnderTest.token("devB")).status
                == 403)
        #expect(try c.put(device: "nobody", name: "other.zst", file: bundle, token: token).status == 403)
        #expect(
            try c.put(
                device: "devA", name: "other.zst", file: bundle, token: nil,
                extra: ["-H", "Authorization: Basic Zm9vOmJhcg=="]
            ).status == 401)

        // Names that are not plain, whatever the token: nothing is written outside the store.
        for path in [
            "/v1/devices/../bundles/x.zst", "/v1/devices/devA/bundles/..", "/v1/devices/devA/bundles/.hidden.zst",
            "/v1/devices/%2e%2e/bundles/x.zst", "/v1/devices/devA/bundles/..%2Fescape.zst",
            "/v1/devices/devA/bundles/a%2Fb.zst",
            "/v1/devices/devA/bundles/notes.txt", "/v1/devices//bundles/x.zst", "/v1/devices/devA/bundles/",
        ] {
            let r = try c.put(device: "", name: "", file: bundle, token: token, path: path)
            #expect(r.status == 400, "\(path): \(r.status) \(r.body)")
        }
        #expect(
            try c.put(device: "", name: "", file: bundle, token: token, path: "/v1/devices/devA/bundles/x.zst/more")
                .status == 404)

        // Digests: required and checked.
        var r = try c.put(
            device: "devA", name: "nodigest.zst", file: nil, token: token, extra: ["--data-binary", "@" + bundle])
        #expect(r.status == 400 && r.body.contains("Content-Digest"))
        let wrong = ContentDigest.header(sha256: SHA256.hash(Array("something else".utf8)))
        r = try c.put(device: "devA", name: "wrongdigest.zst", file: bundle, token: token, digest: wrong)
        #expect(r.status == 400 && r.body.contains("does not match"))

        // The same name with other content is a conflict, and the stored bundle is untouched.
        let other = try #require(try BundleMaker.make(in: dir, device: "devA").first)
        r = try c.put(device: "devA", name: name, file: other, token: token)
        #expect(r.status == 409)
        #expect(FileManager.default.contentsEqual(atPath: bundle, andPath: c.store + "/devA/" + name))

        // Damaged bundles: cut short, a flipped byte, and another device's bundle under this device's name.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: bundle))
        let cut = dir + "/cut.zst"
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        r = try c.put(device: "devA", name: "cut.zst", file: cut, token: token)
        #expect(r.status == 422 && r.body.contains("not valid"), "\(r.body)")
        var flippedBytes = bytes
        flippedBytes[bytes.count / 2] ^= 0x5A
        let flipped = dir + "/flipped.zst"
        try flippedBytes.write(to: URL(fileURLWithPath: flipped))
        r = try c.put(device: "devA", name: "flipped.zst", file: flipped, token: token)
        #expect(r.status == 422, "\(r.body)")
        let devB = try #require(try BundleMaker.make(in: dir, device: "devB").first)
        r = try c.put(device: "devA", name: "fromb.zst", file: devB, token: token)
        #expect(r.status == 422 && r.body.contains("devB"), "\(r.body)")

        // Health, and the request log has one line per request.
        let health = try Harness.run("/usr/bin/curl", ["-s", "-w", " %{http_code}", c.url + "/v1/health"])
        #expect(health.text.hasSuffix(" 200") && health.text.contains("1 bundles"))
        #expect(c.server.stop() == 0)
        let requests = c.server.stdout.split(separator: "\n").filter { $0.contains(" PUT ") || $0.contains(" GET ") }
        #expect(requests.count == 24, "\(c.server.stdout)")

        // Only the one bundle and its index were written, and nothing beside the store.
        #expect(c.allFiles() == ["devA", "devA/\(name)", "devA/index.jsonl"])
        #expect(!FileManager.default.fileExists(atPath: dir + "/escape.zst"))
    }

    @Test func tooLargeIsRefusedWithOrWithoutALength() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try CollectorUnderTest(dir: dir, extra: ["--max-bundle-bytes", "4096"])
        let bundle = try #require(try BundleMaker.make(in: dir, device: "devA").first)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: bundle)[.size] as? Int)
        try #require(size > 4096)
        let token = CollectorUnderTest.token("devA")
        #expect(try c.put(device: "devA", name: "big.zst", file: bundle, token: token).status == 413)
        // Chunked: no Content-Length, so the limit is found while reading.
        #expect(
            try c.put(
                device: "devA", name: "big.zst", file: bundle, token: token,
                extra: ["-H", "Transfer-Encoding: chunked"]
            ).status == 413)
        c.server.stop()
        #expect(c.allFiles().filter { $0.hasSuffix(".zst") || $0.hasSuffix(".part") }.isEmpty, "\(c.allFiles())")
    }

    /// A store on a tiny tmpfs: 507, and nothing half-written stays.
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func fullDiskAnswers507AndKeepsNothing() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = dir + "/store"
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        try #require(try Harness.run("/bin/mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", store]).status == 0)
        defer { _ = try? Harness.run("/bin/umount", [store]) }
        let c = try CollectorUnderTest(dir: dir, store: store)
        let bundle = try #require(try BundleMaker.make(in: dir, device: "devA", seconds: 1).first)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: bundle)[.size] as? Int)
        try #require(size > 16 << 10, "the bundle must not fit: \(size) bytes")
        let r = try c.put(
            device: "devA", name: (bundle as NSString).lastPathComponent, file: bundle,
            token: CollectorUnderTest.token("devA"))
        #expect(r.status == 507, "\(r.status) \(r.body)")
        // Still serving, and nothing of the upload left behind.
        let health = try Harness.run(
            "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", c.url + "/v1/health"])
        #expect(health.text == "200")
        c.server.stop()
        #expect(c.allFiles().filter { $0 != "devA" }.isEmpty, "\(c.allFiles())")
    }

    @Test func refusesATokensFileOthersCanRead() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tokens = dir + "/tokens"
        _ = FileManager.default.createFile(
            atPath: tokens, contents: Data("devA 0123456789abcdef0123\n".utf8), attributes: [.posixPermissions: 0o644])
        let r = try Harness.fieldctl([
            "serve", "--listen", "127.0.0.1:0", "--store", dir + "/store", "--tokens", tokens,
        ])
        #expect(r.status != 0)
        #expect(r.stderr.contains("chmod 600"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/store"))
    }

    /// A restart tidies the store: uploads a kill cut off are removed, bundles missing from the index are indexed.
    @Test func restartRepairsTheStore() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = try CollectorUnderTest(dir: dir)
        // Two bundles at least, also on a machine busy enough to delay the agent's second sample.
        let bundles = try BundleMaker.make(in: dir, device: "devA", seconds: 2.3, extra: ["--bundle-seconds", "1"])
        try #require(bundles.count >= 2)
        for b in bundles {
            #expect(
                try c.put(
                    device: "devA", name: (b as NSString).lastPathComponent, file: b,
                    token: CollectorUnderTest.token("devA")
                ).status == 201)
        }
        c.server.stop(SIGKILL)
        // What a kill leaves: a partial upload, and a bundle renamed into place whose index line was never written.
        _ = FileManager.default.createFile(atPath: c.store + "/devA/.x.zst.123.part", contents: Data([1, 2, 3]))
        let index = c.indexLines("devA")
        try (index.dropLast().joined(separator: "\n") + "\n").write(
            toFile: c.store + "/devA/index.jsonl", atomically: true, encoding: .utf8)
        c = try CollectorUnderTest(dir: dir)
        #expect(c.indexLines("devA").count == bundles.count)
        #expect(!c.allFiles().contains { $0.hasSuffix(".part") })
        #expect(c.server.stdout.contains("indexed devA/"))
        let list = try Harness.fieldctl(["devices", "--store", c.store, "--format", "json"])
        #expect(list.status == 0)
        let devices = try JSONSerialization.jsonObject(with: list.stdout) as? [[String: Any]]
        #expect(devices?.first?["bundles"] as? Int == bundles.count)
        #expect(c.server.stop() == 0)
    }
}

/// 50 simulated devices upload at once (a small version of tools/bench/upload.sh): every bundle is stored exactly
/// once, re-sends are answered 200, and the store matches what was sent byte for byte.
@Suite struct CollectorLoadTests {
    @Test func fiftyDevicesAtOnceLoseAndDuplicateNothing() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tokens =
            (0..<50).map { String(format: "bench%02d token-of-bench%02d-0123456789", $0, $0) }.joined(separator: "\n")
            + "\n"
        _ = FileManager.default.createFile(
            atPath: dir + "/tokens", contents: Data(tokens.utf8), attributes: [.posixPermissions: 0o600])
        let c = try CollectorUnderTest(dir: dir)
        let r = try Harness.run(
            Harness.binDir + "/fieldbench",
            [
                "upload", c.url, dir + "/tokens", "--devices", "50", "--bundles-per-device", "6",
                "--samples-per-bundle", "2",
                "--duplicate-percent", "20", "--store", c.store,
            ], timeout: 300)
        #expect(r.status == 0, "\(r.text)\n\(r.stderr)")
        #expect(r.text.contains("lost 0, duplicated 0, extra 0, differing 0"), "\(r.text)")
        #expect(r.text.contains("other x0"), "\(r.text)")
        #expect(c.server.stop() == 0)
        let list = try Harness.fieldctl(["devices", "--store", c.store, "--format", "json"])
        let devices = try #require(try JSONSerialization.jsonObject(with: list.stdout) as? [[String: Any]])
        #expect(devices.count == 50)
        #expect(devices.allSatisfy { $0["bundles"] as? Int == 6 })
    }
}

/// SIGHUP reads the tokens file again: a device added to it can upload without a restart, and a file that does
/// not load leaves the tokens in force.
@Suite struct CollectorTokenReloadTests {
    @Test func hangUpReloadsTheTokensFile() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try CollectorUnderTest(dir: dir)
        let bundle = try #require(try BundleMaker.make(in: dir, device: "late").first)
        let name = (bundle as NSString).lastPathComponent
        let token = "token-of-late-0123456789"
        #expect(try c.put(device: "late", name: name, file: bundle, token: token).status == 403)

        let handle = try #require(FileHandle(forWritingAtPath: c.tokens))
        handle.seekToEndOfFile()
        handle.write(Data("late \(token)\n".utf8))
        try handle.close()
        kill(c.server.process.processIdentifier, SIGHUP)
        #expect(Harness.waitFor(10) { c.server.stdout.contains("tokens reloaded") }, "\(c.server.stdout)")
        #expect(try c.put(device: "late", name: name, file: bundle, token: token).status == 201)

        // A broken file (readable by others) is refused; the tokens loaded before stay in force.
        chmod(c.tokens, 0o644)
        kill(c.server.process.processIdentifier, SIGHUP)
        #expect(Harness.waitFor(10) { c.server.stdout.contains("NOT reloaded") }, "\(c.server.stdout)")
        #expect(try c.put(device: "late", name: name, file: bundle, token: token).status == 200)
        #expect(c.server.process.isRunning)
        #expect(c.server.stop() == 0)
    }
}
