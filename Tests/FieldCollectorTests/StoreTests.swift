import FieldBundle
import FieldCollector
import FieldModel
import Foundation
import Testing

/// A fresh empty directory, removed by the caller.
private func makeTempDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("field-store-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

private func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

private func write(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// What a test bundle holds.
private struct BundleSpec {
    var device = "board-1"
    var backend = "linux"
    var sequence: UInt64 = 0
    var startWall: Int64 = 1_700_000_000_000_000_000
    var endWall: Int64 = 1_700_000_060_000_000_000
    var samples = 3
    var reason = "rotation"
    var bootID: String? = "0f2d6c1e-5d8b-4f55-9a51-1c1f6f0d2a77"
}

/// Writes a bundle at `path` (closed unless `close` is false; then the `.open` path is returned).
@discardableResult
private func writeBundle(_ path: String, _ spec: BundleSpec = BundleSpec(), close: Bool = true) throws -> String {
    let header = BundleHeader(
        agent: "fieldagent test", backend: spec.backend, osIdentity: Array("Linux version 6.1.0 (test)\n".utf8),
        deviceID: spec.device, bootID: spec.bootID, wallNanos: spec.startWall,
        monoNanos: 5_000_000_000, intervalNanos: 1_000_000_000, procRoot: "/proc", sequence: spec.sequence, plan: [])
    let w = try BundleWriter(path: path, header: header, options: WriterOptions(fsync: .never))
    var rng = SystemRandomNumberGenerator()
    for i in 0..<spec.samples {
        // Incompressible content, so the file is large enough to be damaged in its middle.
        let content = (0..<3000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try w.append(
            Sample(
                sequence: UInt64(i), wallNanos: spec.startWall + Int64(i) * 1_000_000_000, monoNanos: UInt64(i),
                files: [FileCapture(path: "/proc/meminfo", bytes: content)]))
    }
    guard close else { return w.openPath }
    return try w.close(reason: spec.reason, wallNanos: spec.endWall, monoNanos: 99)
}

/// Every file under `root` with its content, to show that nothing changed.
private func snapshot(_ root: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    for sub in try FileManager.default.subpathsOfDirectory(atPath: root) {
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: root + "/" + sub, isDirectory: &isDir)
        out[sub] = isDir.boolValue ? Data("<dir>".utf8) : try Data(contentsOf: URL(fileURLWithPath: root + "/" + sub))
    }
    return out
}

/// The parsed lines of an index file; a line that does not decode fails the test.
private func indexLines(_ path: String) throws -> [StoredBundle] {
    let text = String(decoding: try bytes(path), as: UTF8.self)
    #expect(text.isEmpty || text.hasSuffix("\n"))
    return try text.split(separator: "\n").map { try JSONDecoder().decode(StoredBundle.self, from: Data($0.utf8)) }
}

private let nameA = "board-1-20231114T221320.000Z-0000.zst"
private let nameB = "board-1-20231114T222320.000Z-0001.zst"
private let nameC = "board-1-20231114T223320.000Z-0002.zst"

@Suite struct StoreInspectTests {
    @Test func closedBundleIsDescribed() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = BundleSpec(backend: "sylixos", sequence: 7, startWall: 1_000, endWall: 9_000, samples: 4, reason: "shutdown")
        let path = try writeBundle(dir + "/" + nameA, spec)
        let entry = try Store.inspect(path: path, device: "board-1").get()
        let file = try bytes(path)
        #expect(entry.name == nameA)
        #expect(entry.samples == 4)
        #expect(entry.backend == "sylixos")
        #expect(entry.agent == "fieldagent test")
        #expect(entry.bootID == "0f2d6c1e-5d8b-4f55-9a51-1c1f6f0d2a77")
        #expect(entry.sequence == 7)
        #expect(entry.startWallNanos == 1_000)
        #expect(entry.endWallNanos == 9_000)
        #expect(entry.endReason == "shutdown")
        #expect(entry.bytes == UInt64(file.count))
        #expect(entry.sha256 == ContentDigest.hex(SHA256.hash(file)))
        #expect(entry.sha256.count == 64)
        #expect(entry.received == 0)
    }

    /// A digest the caller already computed is used as given (the collector hashes while it receives).
    @Test func givenDigestIsUsed() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeBundle(dir + "/" + nameA)
        let given = [UInt8](repeating: 0xAB, count: 32)
        let entry = try Store.inspect(path: path, device: "board-1", sha256: given).get()
        #expect(entry.sha256 == String(repeating: "ab", count: 32))
    }

    @Test func emptyBundleHasNoSamples() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeBundle(dir + "/" + nameA, BundleSpec(samples: 0))
        #expect(try Store.inspect(path: path, device: "board-1").get().samples == 0)
    }

    @Test func truncatedCopiesAreRefused() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try bytes(try writeBundle(dir + "/" + nameA))
        // Cuts in the middle, just before the frame checksum, and one byte short.
        for cut in [original.count / 2, original.count - 4, original.count - 1, 10, 0] {
            let path = dir + "/cut-\(cut).zst"
            try write(Array(original[0..<cut]), to: path)
            guard case .failure(let why) = Store.inspect(path: path, device: "board-1") else {
                Issue.record("a copy cut at \(cut) of \(original.count) bytes was accepted")
                continue
            }
            #expect(!why.message.isEmpty)
        }
    }

    @Test func bitFlippedCopiesAreRefusedAsDamaged() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try bytes(try writeBundle(dir + "/" + nameA))
        for position in [original.count / 3, original.count / 2, original.count - 2] {
            var damaged = original
            damaged[position] ^= 0xFF
            let path = dir + "/flip-\(position).zst"
            try write(damaged, to: path)
            guard case .failure(let why) = Store.inspect(path: path, device: "board-1") else {
                Issue.record("a copy with byte \(position) of \(original.count) flipped was accepted")
                continue
            }
            #expect(why.message.contains("damaged"), "\(why.message)")
        }
    }

    @Test func unclosedBundleIsRefused() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let open = try writeBundle(dir + "/" + nameA, close: false)
        #expect(open.hasSuffix(".open"))
        // The same bytes under a bundle's name.
        let path = dir + "/" + nameB
        try write(try bytes(open), to: path)
        guard case .failure(let why) = Store.inspect(path: path, device: "board-1") else {
            Issue.record("an unclosed bundle was accepted")
            return
        }
        #expect(why.message.contains("never closed"), "\(why.message)")
    }

    @Test func bundleOfAnotherDeviceIsRefusedNamingBoth() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeBundle(dir + "/" + nameA, BundleSpec(device: "board-9"))
        guard case .failure(let why) = Store.inspect(path: path, device: "board-1") else {
            Issue.record("a bundle of board-9 was accepted for board-1")
            return
        }
        #expect(why.message.contains("'board-9'") && why.message.contains("'board-1'"), "\(why.message)")
        #expect(try Store.inspect(path: path, device: "board-9").get().sequence == 0)
    }

    @Test func notABundleIsRefused() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try write(Array("this is not a bundle at all\n".utf8), to: dir + "/junk.zst")
        try write([], to: dir + "/empty.zst")
        for name in ["junk.zst", "empty.zst", "absent.zst"] {
            guard case .failure(let why) = Store.inspect(path: dir + "/" + name, device: "board-1") else {
                Issue.record("\(name) was accepted")
                continue
            }
            #expect(!why.message.isEmpty)
        }
    }
}

@Suite struct StoreLoadTests {
    /// `ROOT/board-1/` with bundles A, B, C and no index.
    private func threeBundles() throws -> (root: String, dir: String) {
        let root = try makeTempDirectory()
        let dir = root + "/board-1"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeBundle(dir + "/" + nameA, BundleSpec(sequence: 0, startWall: 100, endWall: 200, samples: 1))
        try writeBundle(dir + "/" + nameB, BundleSpec(sequence: 1, startWall: 200, endWall: 300, samples: 2))
        try writeBundle(dir + "/" + nameC, BundleSpec(sequence: 2, startWall: 300, endWall: 400, samples: 3))
        return (root, dir)
    }

    @Test func bundlesMissingFromTheIndexAreIndexed() async throws {
        let (root, dir) = try threeBundles()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root)
        for name in [nameA, nameB, nameC] {
            #expect(store.loadNotes.contains("indexed board-1/\(name), which the index lacked"), "\(store.loadNotes)")
        }
        #expect(store.loadNotes.contains("rewrote board-1/index.jsonl (3 bundles)"), "\(store.loadNotes)")
        let counts = await store.counts()
        #expect(counts.devices == 1 && counts.bundles == 3)
        let lines = try indexLines(dir + "/index.jsonl")
        #expect(lines.map(\.name) == [nameA, nameB, nameC])
        #expect(lines.map(\.samples) == [1, 2, 3])
        #expect(lines.allSatisfy { $0.received > 0 })
        let b = try #require(await store.lookup(device: "board-1", name: nameB))
        #expect(b == lines[1])
        #expect(b.sha256 == ContentDigest.hex(SHA256.hash(try bytes(dir + "/" + nameB))))
        #expect(await store.bundles(device: "board-1").map(\.name) == [nameA, nameB, nameC])
        // The temporary index file does not stay behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == [nameA, nameB, nameC, "index.jsonl"])
    }

    /// A second start over a consistent store finds nothing to do and keeps the index as it was.
    @Test func consistentStoreIsLeftAlone() async throws {
        let (root, dir) = try threeBundles()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try Store(root: root)
        let before = try snapshot(root)
        let again = try Store(root: root)
        #expect(again.loadNotes.isEmpty, "\(again.loadNotes)")
        #expect(try snapshot(root) == before)
        // Index entries are taken from the index, not recomputed (`received` would change).
        let entries = try indexLines(dir + "/index.jsonl")
        #expect(await again.bundles(device: "board-1") == entries)
    }

    @Test func indexLinesWhoseFileIsGoneAreDropped() async throws {
        let (root, dir) = try threeBundles()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try Store(root: root)
        try FileManager.default.removeItem(atPath: dir + "/" + nameB)
        let store = try Store(root: root)
        #expect(store.loadNotes.contains("board-1/\(nameB) is in the index but not on disk: dropped from the index"), "\(store.loadNotes)")
        #expect(store.loadNotes.contains("rewrote board-1/index.jsonl (2 bundles)"), "\(store.loadNotes)")
        #expect(try indexLines(dir + "/index.jsonl").map(\.name) == [nameA, nameC])
        #expect(await store.lookup(device: "board-1", name: nameB) == nil)
        #expect(await store.lookup(device: "board-1", name: nameA) != nil)
        #expect(await store.counts().bundles == 2)
    }

    @Test func garbageIndexLinesAreDropped() async throws {
        let (root, dir) = try threeBundles()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try Store(root: root)
        let good = try indexLines(dir + "/index.jsonl")
        let h = try #require(FileHandle(forWritingAtPath: dir + "/index.jsonl"))
        try h.seekToEnd()
        try h.write(contentsOf: Data("{\"name\": \"half a line\nnot json at all\n".utf8))
        try h.close()
        let store = try Store(root: root)
        #expect(store.loadNotes.contains("rewrote board-1/index.jsonl (3 bundles)"), "\(store.loadNotes)")
        // The valid entries survive as they were (not re-inspected: `received` is kept).
        #expect(try indexLines(dir + "/index.jsonl") == good)
        #expect(await store.bundles(device: "board-1") == good)
    }

    /// A bundle whose file no longer matches its index line (cut short since) and no longer reads as a bundle is
    /// left out, as the note says: an index line for it would make the collector answer "already stored" to the
    /// agent's re-upload of the good copy, which the agent then deletes.
    @Test func indexedBundleThatIsNowDamagedIsLeftOut() async throws {
        let (root, dir) = try threeBundles()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try Store(root: root)
        let b = try bytes(dir + "/" + nameB)
        try write(Array(b.prefix(b.count / 2)), to: dir + "/" + nameB)
        let store = try Store(root: root)
        #expect(
            store.loadNotes.contains { $0.hasPrefix("board-1/\(nameB) is not a valid bundle") && $0.hasSuffix("left out of the index") },
            "\(store.loadNotes)")
        #expect(await store.lookup(device: "board-1", name: nameB) == nil)
        #expect(await store.bundles(device: "board-1").map(\.name) == [nameA, nameC])
        #expect(try indexLines(dir + "/index.jsonl").map(\.name) == [nameA, nameC])
    }

    @Test func partLeftoversAreRemovedWhenRepairing() async throws {
        let (root, dir) = try threeBundles()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let part = ".\(nameC).4f2a91.part"
        try write(Array(try bytes(dir + "/" + nameC).prefix(100)), to: dir + "/" + part)
        let store = try Store(root: root)
        #expect(store.loadNotes.contains("removed board-1/\(part), an upload cut off by a stop"), "\(store.loadNotes)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + part))
        #expect(await store.lookup(device: "board-1", name: part) == nil)
        #expect(await store.counts().bundles == 3)
    }

    /// Without repair the store only reads: leftovers stay, and the stale index is not rewritten.
    @Test func withoutRepairNothingIsWritten() async throws {
        let (root, dir) = try threeBundles()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try Store(root: root)
        // Make it inconsistent in every way repair would fix.
        try FileManager.default.removeItem(atPath: dir + "/" + nameA)
        let nameD = "board-1-20231114T224320.000Z-0003.zst"
        try writeBundle(dir + "/" + nameD, BundleSpec(sequence: 3, startWall: 400, endWall: 500, samples: 5))
        let h = try #require(FileHandle(forWritingAtPath: dir + "/index.jsonl"))
        try h.seekToEnd()
        try h.write(contentsOf: Data("garbage\n".utf8))
        try h.close()
        let part = ".\(nameD).77.part"
        try write([1, 2, 3], to: dir + "/" + part)
        let before = try snapshot(root)

        let store = try Store(root: root, repair: false)
        #expect(try snapshot(root) == before)
        #expect(FileManager.default.fileExists(atPath: dir + "/" + part))
        #expect(!store.loadNotes.contains { $0.hasPrefix("removed") || $0.hasPrefix("rewrote") }, "\(store.loadNotes)")
        // In memory it sees the store as it is.
        #expect(await store.bundles(device: "board-1").map(\.name) == [nameB, nameC, nameD])
        #expect(await store.lookup(device: "board-1", name: nameD)?.samples == 5)

        // The same with repair: fixed on disk.
        let repaired = try Store(root: root)
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + part))
        #expect(try indexLines(dir + "/index.jsonl").map(\.name) == [nameB, nameC, nameD])
        #expect(await repaired.bundles(device: "board-1").map(\.name) == [nameB, nameC, nameD])
    }

    @Test func withoutRepairAMissingRootIsAnErrorAndNotCreated() throws {
        let parent = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let root = parent + "/store"
        do {
            _ = try Store(root: root, repair: false)
            Issue.record("accepted a missing root")
        } catch let error as CollectorError {
            #expect(error.message.contains("is not a directory"), "\(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: root))
        // With repair it is created, empty.
        let store = try Store(root: root)
        #expect(FileManager.default.fileExists(atPath: root))
        #expect(store.loadNotes.isEmpty)
    }

    @Test func nonBundlesAreLeftOutWithANote() async throws {
        let (root, dir) = try threeBundles()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(Array("not a bundle".utf8), to: dir + "/junk.zst")
        // Written by another device: not this directory's.
        try writeBundle(dir + "/board-1-20231114T225320.000Z-0009.zst", BundleSpec(device: "board-2"))
        // Never closed, under a bundle's name.
        let open = try writeBundle(dir + "/board-1-20231114T226320.000Z-0010.zst", close: false)
        try FileManager.default.moveItem(atPath: open, toPath: dir + "/board-1-20231114T226320.000Z-0010.zst")
        // Ignored without a note: not .zst, or not a safe name.
        try write([0], to: dir + "/notes.txt")
        try write([0], to: dir + "/.hidden.zst")
        let store = try Store(root: root)
        #expect(
            store.loadNotes.contains { $0.hasPrefix("board-1/junk.zst is not a valid bundle (") && $0.hasSuffix("; left out of the index") },
            "\(store.loadNotes)")
        #expect(
            store.loadNotes.contains { $0.hasPrefix("board-1/board-1-20231114T225320.000Z-0009.zst is not a valid bundle") && $0.contains("'board-2'") },
            "\(store.loadNotes)")
        #expect(
            store.loadNotes.contains { $0.hasPrefix("board-1/board-1-20231114T226320.000Z-0010.zst is not a valid bundle") },
            "\(store.loadNotes)")
        #expect(await store.bundles(device: "board-1").map(\.name) == [nameA, nameB, nameC])
        #expect(try indexLines(dir + "/index.jsonl").map(\.name) == [nameA, nameB, nameC])
        // Left in place for a human to look at.
        #expect(FileManager.default.fileExists(atPath: dir + "/junk.zst"))
        #expect(FileManager.default.fileExists(atPath: dir + "/.hidden.zst"))
    }

    @Test func onlySafeDeviceDirectoriesAreDevices() async throws {
        let (root, _) = try threeBundles()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/.trash", withIntermediateDirectories: true)
        try writeBundle(root + "/.trash/" + nameA)
        try write([0], to: root + "/stray-file")
        let store = try Store(root: root)
        #expect(await store.devices().map(\.device) == ["board-1"])
        #expect(!FileManager.default.fileExists(atPath: root + "/.trash/index.jsonl"))
    }
}

@Suite struct StoreUpdateTests {
    @Test func recordAppendsOneLineAndIsVisible() async throws {
        let root = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/board-1"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeBundle(dir + "/" + nameA, BundleSpec(startWall: 100, endWall: 200, samples: 2))
        let store = try Store(root: root)
        let indexBefore = try bytes(dir + "/index.jsonl")

        let path = try writeBundle(dir + "/" + nameB, BundleSpec(sequence: 1, startWall: 200, endWall: 300, samples: 4))
        var entry = try Store.inspect(path: path, device: "board-1").get()
        // Later than the others, which were received now.
        entry.received = 4_000_000_000.5
        #expect(await store.lookup(device: "board-1", name: nameB) == nil)
        try await store.record(device: "board-1", entry)

        let indexAfter = try bytes(dir + "/index.jsonl")
        #expect(Array(indexAfter.prefix(indexBefore.count)) == indexBefore)
        let added = String(decoding: indexAfter.dropFirst(indexBefore.count), as: UTF8.self)
        #expect(added.hasSuffix("\n") && added.filter { $0 == "\n" }.count == 1, "\(added)")
        #expect(try JSONDecoder().decode(StoredBundle.self, from: Data(added.utf8)) == entry)
        #expect(await store.lookup(device: "board-1", name: nameB) == entry)
        #expect(await store.counts().bundles == 2)
        let summary = try #require(await store.devices().first)
        #expect(summary.bundles == 2 && summary.samples == 6)
        #expect(summary.lastWallNanos == 300 && summary.lastReceived == 4_000_000_000.5)

        // What was recorded is what the next start finds, without repairs.
        let again = try Store(root: root)
        #expect(again.loadNotes.isEmpty, "\(again.loadNotes)")
        #expect(await again.lookup(device: "board-1", name: nameB) == entry)
    }

    @Test func recordForANewDeviceCreatesItsIndex() async throws {
        let root = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root)
        #expect(await store.counts() == (devices: 0, bundles: 0))
        try FileManager.default.createDirectory(atPath: root + "/board-7", withIntermediateDirectories: true)
        let path = try writeBundle(root + "/board-7/" + nameA, BundleSpec(device: "board-7"))
        let entry = try Store.inspect(path: path, device: "board-7").get()
        try await store.record(device: "board-7", entry)
        #expect(try indexLines(root + "/board-7/index.jsonl") == [entry])
        #expect(await store.devices().map(\.device) == ["board-7"])
        #expect(await store.counts() == (devices: 1, bundles: 1))
    }

    @Test func devicesSummariseEachDevice() async throws {
        let root = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for d in ["board-2", "board-1", "empty-board"] {
            try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
        }
        // board-1: written out of order, so neither the first nor the last by name holds the extremes.
        let b1 = [
            (nameA, BundleSpec(backend: "linux", sequence: 0, startWall: 500, endWall: 900, samples: 2)),
            (nameB, BundleSpec(backend: "sylixos", sequence: 1, startWall: 100, endWall: 2_000, samples: 3)),
            (nameC, BundleSpec(backend: "linux", sequence: 2, startWall: 300, endWall: 1_000, samples: 5)),
        ]
        var b1Bytes: UInt64 = 0
        for (name, spec) in b1 {
            let path = try writeBundle(root + "/board-1/" + name, spec)
            b1Bytes += UInt64(try bytes(path).count)
        }
        var spec2 = BundleSpec(device: "board-2", backend: "linux", startWall: 7, endWall: 8, samples: 1)
        spec2.reason = "shutdown"
        let p2 = try writeBundle(root + "/board-2/board-2-20231114T221320.000Z-0000.zst", spec2)

        let store = try Store(root: root)
        let summaries = await store.devices()
        #expect(summaries.map(\.device) == ["board-1", "board-2", "empty-board"])
        let s1 = summaries[0]
        #expect(s1.bundles == 3)
        #expect(s1.samples == 10)
        #expect(s1.bytes == b1Bytes)
        #expect(s1.firstWallNanos == 100)
        #expect(s1.lastWallNanos == 2_000)
        #expect(s1.backend == "sylixos")  // the backend of the latest bundle
        let s2 = summaries[1]
        let p2Bytes = UInt64(try bytes(p2).count)
        #expect(s2.bundles == 1 && s2.samples == 1 && s2.bytes == p2Bytes)
        #expect(s2.firstWallNanos == 7 && s2.lastWallNanos == 8 && s2.backend == "linux")
        let empty = summaries[2]
        #expect(empty.bundles == 0 && empty.bytes == 0 && empty.samples == 0)
        #expect(empty.firstWallNanos == nil && empty.lastWallNanos == nil && empty.backend == nil && empty.lastReceived == nil)
        #expect(await store.counts() == (devices: 3, bundles: 4))
    }

    /// A bundle is known by its boot, sequence and digest, whatever its name, from index lines as earlier
    /// collectors wrote them (no new field: those three were always there, `boot_id` absent when the bundle has
    /// none) and from lines with fields this collector does not know.
    @Test func bundlesAreKnownByIdentityFromIndexLinesAsWritten() async throws {
        let root = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/board-1"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let a = try writeBundle(dir + "/" + nameA, BundleSpec(sequence: 0))
        let b = try writeBundle(dir + "/" + nameB, BundleSpec(sequence: 1, bootID: nil))
        func line(_ path: String, _ name: String, sequence: Int, boot: String?, extra: String = "") throws -> String {
            let file = try bytes(path)
            let bootField = boot.map { #""boot_id":"\#($0)","# } ?? ""
            return #"{"agent":"fieldagent test","backend":"linux",\#(bootField)"bytes":\#(file.count),"#
                + #""end_reason":"rotation","end_wall_ns":1700000060000000000,"name":"\#(name)","received":1700000100.5,"#
                + #""samples":3,"sequence":\#(sequence),"sha256":"\#(ContentDigest.hex(SHA256.hash(file)))","#
                + #"\#(extra)"start_wall_ns":1700000000000000000}"# + "\n"
        }
        let index =
            try line(a, nameA, sequence: 0, boot: "0f2d6c1e-5d8b-4f55-9a51-1c1f6f0d2a77")
            + line(b, nameB, sequence: 1, boot: nil, extra: #""from_a_later_collector":true,"#)
        try write(Array(index.utf8), to: dir + "/index.jsonl")
        let store = try Store(root: root)
        #expect(store.loadNotes.isEmpty, "the lines did not load: \(store.loadNotes)")

        /// The entry an upload of the bundle at `path` under `name` would claim.
        func upload(_ path: String, as name: String) throws -> StoredBundle {
            var entry = try Store.inspect(path: path, device: "board-1").get()
            entry.name = name
            return entry
        }
        #expect(await store.claim(device: "board-1", try upload(a, as: "copy-of-a.zst")) == nameA)
        #expect(await store.claim(device: "board-1", try upload(b, as: "copy-of-b.zst")) == nameB)
        // A bundle not stored yet is reserved for the first name that claims it, until released.
        let fresh = try writeBundle(root + "/fresh.zst", BundleSpec(sequence: 2))
        #expect(await store.claim(device: "board-1", try upload(fresh, as: "first.zst")) == nil)
        #expect(await store.claim(device: "board-1", try upload(fresh, as: "second.zst")) == "first.zst")
        await store.release(device: "board-1", try upload(fresh, as: "first.zst"))
        #expect(await store.claim(device: "board-1", try upload(fresh, as: "second.zst")) == nil)
        // The same boot and sequence with other content is another bundle.
        let other = try writeBundle(root + "/other.zst", BundleSpec(sequence: 0))
        #expect(await store.claim(device: "board-1", try upload(other, as: "other.zst")) == nil)
    }

    /// The index's JSON names are the documented ones (other tools read index.jsonl).
    @Test func indexLinesUseSnakeCaseKeys() async throws {
        let root = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/board-1", withIntermediateDirectories: true)
        try writeBundle(root + "/board-1/" + nameA, BundleSpec(startWall: 11, endWall: 22))
        _ = try Store(root: root)
        let line = String(decoding: try bytes(root + "/board-1/index.jsonl"), as: UTF8.self)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "name", "bytes", "sha256", "received", "backend", "agent", "boot_id", "sequence", "start_wall_ns",
                "end_wall_ns", "samples", "end_reason",
            ])
        #expect(object["start_wall_ns"] as? Int == 11 && object["end_wall_ns"] as? Int == 22)
        #expect(object["end_reason"] as? String == "rotation")
    }
}
