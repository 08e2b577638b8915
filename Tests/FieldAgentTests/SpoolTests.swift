@testable import FieldAgent
import FieldBundle
import FieldModel
import FieldTestKit
import Foundation
import Testing

/// The spool's entries without its lock file.
func spoolFiles(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != Spool.lockName }
}

@Suite struct SpoolTests {
    func header() -> BundleHeader {
        BundleHeader(agent: "t", backend: "linux", osIdentity: [], deviceID: "d", bootID: nil, wallNanos: 0, monoNanos: 0,
            intervalNanos: 1, procRoot: "/proc", sequence: 0, plan: [])
    }

    @Test func quotaDropsTheOldestClosedBundlesFirst() throws {
        let t = try FixtureTree([
            "d-20260101T000000Z-0000.zst": String(repeating: "a", count: 1000),
            "d-20260101T000001Z-0001.zst": String(repeating: "b", count: 1000),
            "d-20260101T000002Z-0002.zst": String(repeating: "c", count: 1000),
            "pending-losses": String(repeating: "x", count: 5000),  // not bundle data
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let dropped = spool.enforceQuota(maxBytes: 2500, extraBytes: 500)
        #expect(dropped.names == ["d-20260101T000000Z-0000.zst"])
        #expect(dropped.bytes == 1000)
        #expect(spool.closedBundles().map(\.name) == ["d-20260101T000001Z-0001.zst", "d-20260101T000002Z-0002.zst"])
    }

    /// Bundles whose writing stopped (`.open` left by a failed writer or an earlier run, `.crashed` not recovered
    /// yet) count against the quota and go oldest first like closed ones. Before, they escaped it: a campaign saw
    /// 86 MB of abandoned `.open` files in a 16 MiB spool.
    @Test func abandonedBundlesCountAgainstTheQuota() throws {
        var files: [String: String] = [:]
        for i in 0..<8 {
            let suffix = [".zst.open", ".zst.crashed", ".zst", ".zst.rejected"][i % 4]
            files["d-20260101T00000\(i)Z-000\(i)" + suffix] = String(repeating: "a", count: 1000)
        }
        let t = try FixtureTree(files)
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let dropped = spool.enforceQuota(maxBytes: 3500, extraBytes: 500)
        #expect(dropped.names.count == 5 && dropped.bytes == 5000, "\(dropped)")
        #expect(dropped.names == files.keys.sorted().prefix(5).map { $0 })
        #expect(try spoolFiles(t.root).sorted() == files.keys.sorted().suffix(3).map { $0 })
        // A full disk drops them too, oldest first.
        #expect(spool.oldestBundle()?.name == files.keys.sorted()[5])
        #expect(spool.oldestBundle()?.bytes == 1000)
    }

    @Test func namesSortByTimeThenSequence() throws {
        let t = try FixtureTree([:])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "board")
        let a = spool.bundlePath(wallNanos: 1_700_000_000_000_000_000, sequence: 9)
        let b = spool.bundlePath(wallNanos: 1_700_000_000_000_000_000, sequence: 10)
        #expect(a.hasSuffix("/board-20231114T221320.000Z-0009.zst"))
        #expect(a < b)
    }

    /// A restart in the same millisecond must not take the name of a bundle still in the spool.
    @Test func freeNamesAvoidExistingBundles() throws {
        let t = try FixtureTree([:])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "board")
        let wall: Int64 = 1_700_000_000_123_000_000
        let taken = spool.bundlePath(wallNanos: wall, sequence: 0)
        #expect(spool.freeBundlePath(wallNanos: wall, sequence: 0) == taken)
        FileManager.default.createFile(atPath: taken, contents: Data("x".utf8))
        FileManager.default.createFile(atPath: spool.bundlePath(wallNanos: wall + 1_000_000, sequence: 0) + ".open", contents: nil)
        let free = spool.freeBundlePath(wallNanos: wall, sequence: 0)
        #expect(free.hasSuffix("/board-20231114T221320.125Z-0000.zst"))
    }

    /// A crashed `.open` bundle becomes a closed bundle of the same name with every intact record.
    @Test func leftoverOpenBundlesAreRecovered() throws {
        let t = try FixtureTree([:])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let final = t.root + "/d-20260101T000000Z-0000.zst"
        let w = try BundleWriter(path: final, header: header())
        // /proc/version repeats: samples 1 and 2 store it as a reference to sample 0, which recovery must keep valid.
        let written = (0..<3).map { i in
            Sample(sequence: UInt64(i), wallNanos: Int64(i), monoNanos: UInt64(i), files: [
                FileCapture(path: "/proc/meminfo", bytes: Array("x\(i)".utf8)), FileCapture(path: "/proc/version", bytes: Array("Linux 6.1\n".utf8)),
            ])
        }
        for s in written { try w.append(s) }
        // No close: the writer is dropped as a crash would leave it. An empty .open is removed.
        FileManager.default.createFile(atPath: t.root + "/d-20260101T000001Z-0001.zst.open", contents: Data())
        let log = spool.recoverLeftovers()
        #expect(log.contains { $0.contains("recovered d-20260101T000000Z-0000.zst: 3 samples") }, "\(log)")
        #expect(log.contains { $0.contains("removed d-20260101T000001Z-0001.zst.open") }, "\(log)")
        let reader = try BundleReader(path: final)
        var types: [RecordType] = []
        var decoder = SampleDecoder(window: 0)
        var samples: [Sample] = []
        while let r = reader.next() {
            types.append(r.type)
            if r.type == .header { decoder = SampleDecoder(header: try RecordCodec.decodeHeader(r.payload)) }
            if r.type == .sample { samples.append(try decoder.decode(r.payload)) }
        }
        #expect(reader.isComplete)
        #expect(types == [.header, .sample, .sample, .sample, .end])
        #expect(samples == written)
        #expect(decoder.resolved == 2)
        let names = try spoolFiles(t.root)
        #expect(names == ["d-20260101T000000Z-0000.zst"])
        _ = w
    }

    /// A power cut after a bundle's close synced it but before its rename reached the disk (ext4 commits the file's
    /// creation with its fsync, the rename later) leaves the complete bundle under its `.open` name. Recovery copied
    /// its end record and then wrote its own, and a bundle with two end records is damaged for every reader (a
    /// finding of the power-cut harness, tools/powercut).
    @Test func aClosedBundleLeftUnderItsOpenNameRecoversIntact() throws {
        let t = try FixtureTree([:])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let final = t.root + "/d-20260101T000000.000Z-0000.zst"
        let w = try BundleWriter(path: final, header: header())
        let uptime = FileCapture(path: "/proc/uptime", bytes: [0x31])
        try w.append(Sample(sequence: 0, wallNanos: 0, monoNanos: 0, files: [uptime]))
        try w.close(reason: "rotation", wallNanos: 1, monoNanos: 1)
        #expect(rename(final, final + ".open") == 0)
        let log = spool.recoverLeftovers()
        #expect(log.contains { $0.contains("recovered d-20260101T000000.000Z-0000.zst: 1 samples") }, "\(log)")
        let reader = try BundleReader(path: final)
        var types: [RecordType] = []
        while let r = reader.next() { types.append(r.type) }
        #expect(reader.damage == nil && reader.isComplete, "\(String(describing: reader.damage))")
        #expect(types == [.header, .sample, .end])
        #expect(try spoolFiles(t.root) == [(final as NSString).lastPathComponent])
    }

    /// A save of the pending losses cut short leaves `pending-losses.partial`, which the next start removes (the
    /// committed `pending-losses` is whole).
    @Test func aPartialPendingLossesFileIsRemovedAtStart() throws {
        let t = try FixtureTree(["pending-losses": "spool-quota 1 a.zst\n", "pending-losses.partial": "spool-quo"])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        _ = spool.recoverLeftovers()
        #expect(try spoolFiles(t.root) == ["pending-losses"])
        #expect(spool.takePendingLosses().map(\.names) == [["a.zst"]])
    }

    /// Samples in the bundle at `path`, read to its end or its damage.
    func sampleCount(_ path: String) throws -> Int {
        let r = try BundleReader(path: path)
        var n = 0
        while let rec = r.next() { if rec.type == .sample { n += 1 } }
        return n
    }

    /// A `.open` bundle of `count` samples, as a kill leaves it; returns its final name.
    func crashedBundle(in dir: String, count: Int) throws -> String {
        let final = dir + "/d-20260101T000000.000Z-0000.zst"
        let w = try BundleWriter(path: final, header: header())
        for i in 0..<count {
            try w.append(Sample(sequence: UInt64(i), wallNanos: Int64(i), monoNanos: UInt64(i), files: [
                FileCapture(path: "/proc/meminfo", bytes: Array("MemFree: \(i * 7919 % 1000) kB\n".utf8)),
                FileCapture(path: "/proc/version", bytes: Array("Linux 6.1\n".utf8)),
            ]))
        }
        return final  // the writer goes without a close, as a kill would leave it
    }

    /// The first half of a file's bytes, written to `path`: an output cut short.
    func writeHalf(of source: String, to path: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
    }

    /// A kill while the agent recovers leaves one of these states; from each, the next start recovers all 20
    /// samples and leaves nothing else behind. Before recovery wrote under `.recovering`, state "an earlier
    /// agent's partial output under .open" was renamed over the complete copy (20 samples became 10).
    @Test(arguments: ["old partial .open", "partial .recovering", ".open and .crashed one file", "output renamed, source left", "output linked twice"])
    func recoveryCutShortAtAnyStepLosesNothing(state: String) throws {
        let t = try FixtureTree([:])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let final = try crashedBundle(in: t.root, count: 20)
        let open = final + ".open", crashed = final + ".crashed", recovering = final + ".recovering"
        #expect(try sampleCount(open) == 20)
        switch state {
        case "old partial .open":
            #expect(rename(open, crashed) == 0)
            try writeHalf(of: crashed, to: open)
        case "partial .recovering":
            #expect(rename(open, crashed) == 0)
            try writeHalf(of: crashed, to: recovering)
        case ".open and .crashed one file":
            #expect(link(open, crashed) == 0)
        case "output renamed, source left", "output linked twice":
            #expect(rename(open, crashed) == 0)
            #expect(spool.recoverLeftovers().count == 1)
            #expect(rename(final, recovering) == 0)
            #expect(link(recovering, final) == 0)
            if state == "output renamed, source left" { unlink(recovering) }
            try FileManager.default.copyItem(atPath: final, toPath: crashed)
        default: Issue.record("unknown state \(state)")
        }
        // Twice: the second start finds nothing left to do.
        for _ in 0..<2 { _ = spool.recoverLeftovers() }
        #expect(try sampleCount(final) == 20, "\(state)")
        #expect(try spoolFiles(t.root) == [(final as NSString).lastPathComponent])
    }
}

