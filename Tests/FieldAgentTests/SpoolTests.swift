@testable import FieldAgent
import FieldBundle
import FieldModel
import FieldTestKit
import Foundation
import Testing

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
            "d-20260101T000003Z-0003.zst.open": String(repeating: "d", count: 5000),  // the current one: never dropped
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let dropped = spool.enforceQuota(maxBytes: 2500, extraBytes: 500)
        #expect(dropped.names == ["d-20260101T000000Z-0000.zst"])
        #expect(dropped.bytes == 1000)
        #expect(spool.closedBundles().map(\.name) == ["d-20260101T000001Z-0001.zst", "d-20260101T000002Z-0002.zst"])
        #expect(FileManager.default.fileExists(atPath: t.root + "/d-20260101T000003Z-0003.zst.open"))
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
        let names = try FileManager.default.contentsOfDirectory(atPath: t.root)
        #expect(names == ["d-20260101T000000Z-0000.zst"])
        _ = w
    }
}
