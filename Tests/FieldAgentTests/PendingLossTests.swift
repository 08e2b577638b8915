import FieldBundle
import FieldTestKit
import Foundation
import Testing

@testable import FieldAgent

/// Losses no bundle recorded yet are kept in the spool until one does, across kills and restarts.
@Suite struct PendingLossTests {
    @Test func lossesSurviveARestartOnceAndMergeByReason() throws {
        let t = try FixtureTree([:])
        let spool = try Spool(directory: t.root, deviceID: "d")
        spool.savePendingLosses([
            LossReport(
                wallNanos: 1, monoNanos: 1, reason: "spool-quota", bundles: 2, bytes: 200, names: ["a.zst", "b.zst"]),
            LossReport(
                wallNanos: 2, monoNanos: 2, reason: "rejected-by-collector", bundles: 1, bytes: 50, names: ["c.zst"]),
        ])
        #expect(FileManager.default.fileExists(atPath: t.root + "/pending-losses"))
        let back = spool.takePendingLosses()
        #expect(back.count == 2)
        let quota = try #require(back.first { $0.reason == "spool-quota" })
        #expect(quota.bytes == 200)
        #expect(quota.names == ["a.zst", "b.zst"])
        #expect(back.first { $0.reason == "rejected-by-collector" }?.names == ["c.zst"])
        // Kept until a bundle holds them: a kill before that loses nothing.
        #expect(spool.takePendingLosses().count == 2)
        spool.clearPendingLosses()
        #expect(!FileManager.default.fileExists(atPath: t.root + "/pending-losses"))
        #expect(spool.takePendingLosses().isEmpty)
    }

    /// A record that carries more bundles than names (the oldest of a long chain of drops folded into the count)
    /// keeps that count across a restart, and a damaged count line is skipped.
    @Test func bundlesCountedBeyondTheirNamesSurviveARestart() throws {
        let t = try FixtureTree([:])
        let spool = try Spool(directory: t.root, deviceID: "d")
        spool.savePendingLosses([
            LossReport(wallNanos: 1, monoNanos: 1, reason: "spool-quota", bundles: 7, bytes: 700, names: ["a.zst", "b.zst"])
        ])
        let back = try #require(spool.takePendingLosses().first)
        #expect(back.names == ["a.zst", "b.zst"] && back.unnamed == 5 && back.bytes == 700)
        try "spool-quota 0 +x\nspool-quota 0 +3\n".write(toFile: t.root + "/pending-losses", atomically: false, encoding: .utf8)
        let damaged = try #require(spool.takePendingLosses().first)
        #expect(damaged.names.isEmpty && damaged.unnamed == 3)
    }

    @Test func nothingToKeepWritesNothing() throws {
        let t = try FixtureTree([:])
        let spool = try Spool(directory: t.root, deviceID: "d")
        spool.savePendingLosses([])
        #expect(try spoolFiles(t.root).isEmpty)
    }

    @Test func damagedLinesAreSkipped() throws {
        let t = try FixtureTree([
            "pending-losses": "spool-quota 100 a.zst\ngarbage\nspool-quota x b.zst\n\ndisk-full 7 c.zst\n"
        ])
        let spool = try Spool(directory: t.root, deviceID: "d")
        let back = spool.takePendingLosses()
        #expect(back.map(\.reason) == ["spool-quota", "disk-full"])
        #expect(back.map(\.names) == [["a.zst"], ["c.zst"]])
    }

    /// The agent writes the record of a drop before it removes the files: a stop in between leaves a bundle that
    /// the record says is gone, and the next start finishes the drop (bundles the collector refused stay).
    @Test func aDropCutShortIsFinishedAtTheNextStart() throws {
        let t = try FixtureTree([
            "d-1.zst": "a", "d-2.zst.crashed": "b", "d-3.zst.rejected": "c", "d-4.zst": "d",
            "pending-losses": "spool-quota 1 d-1.zst\ndisk-full 1 d-2.zst.crashed\nrejected-by-collector 1 d-3.zst\nspool-quota 1 ../x.zst\n",
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        spool.finishRecordedDrops(spool.takePendingLosses())
        #expect(try spoolFiles(t.root).sorted() == ["d-3.zst.rejected", "d-4.zst", "pending-losses"])
    }
}

