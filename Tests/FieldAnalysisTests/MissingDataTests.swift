@testable import FieldAnalysis
import FieldBundle
import Testing

/// What a device's loss records add up to in `missing`.
@Suite struct MissingDataTests {
    static func loss(_ reason: String, _ names: [String], bytes: UInt64 = 0) -> LossReport {
        LossReport(wallNanos: 0, monoNanos: 0, reason: reason, bundles: UInt64(names.count), bytes: bytes, names: names)
    }

    /// Unwritten samples are counted as samples, each once, however their runs were recorded: the same run twice
    /// (a stop between a record and the next), a run recorded again grown, runs of two agent runs.
    @Test func unwrittenSamplesAreCountedOnceEach() {
        var d = DeviceTimeline(device: "dev", backend: "linux")
        d.losses = [
            Self.loss("samples-not-written", ["seq 5-9 at 20261203T063840.777Z"]),
            Self.loss("samples-not-written", ["seq 5-9 at 20261203T063840.777Z", "seq 12-12 at 20261203T063842.000Z"]),
            Self.loss("samples-not-written", ["seq 5-11 at 20261203T063840.777Z", "seq 3-4 at 20261203T070000.000Z"]),
            Self.loss("samples-not-written", ["not a run", "seq 9-2 at 20261203T070000.000Z"]),
            Self.loss("disk-full", ["dev-20261203T063800.000Z-0000.zst"], bytes: 4096),
        ]
        let missing = d.missing
        let unwritten = try? #require(missing.first { $0.reason == "samples-not-written" })
        // 5..11 (7), 12 (1), 3..4 (2).
        #expect(unwritten?.samples == 10)
        #expect(unwritten?.bundles == 0)
        let full = missing.first { $0.reason == "disk-full" }
        #expect(full?.bundles == 1 && full?.samples == nil)
        #expect(d.lossSummary.contains("10 sample(s) not written on the device (the disk stayed full)"), "\(d.lossSummary)")
    }

    /// A chain of drops carried forward: each record names the newest bundles and counts the older ones beyond
    /// its names. The names are counted once; of a count beyond the names, the known names older than the
    /// record's oldest are taken off (they may be among those counted), and the largest remainder is added.
    @Test func bundlesCountedBeyondTheirNamesAreAddedOnce() {
        var d = DeviceTimeline(device: "dev", backend: "linux")
        var first = Self.loss("spool-quota", ["c.zst", "d.zst"], bytes: 200)
        first.bundles = 4
        var second = Self.loss("spool-quota", ["d.zst", "e.zst"], bytes: 200)
        second.bundles = 5
        d.losses = [first, second]
        let quota = d.missing.first { $0.reason == "spool-quota" }
        // c, d, e named; a and b only counted (by the first record: 2; by the second: 3, c among them).
        #expect(quota?.names == ["c.zst", "d.zst", "e.zst"])
        #expect(quota?.bundles == 5)
        // A record of its own beside the chain adds its name only.
        d.losses.append(Self.loss("spool-quota", ["f.zst"], bytes: 100))
        #expect(d.missing.first { $0.reason == "spool-quota" }?.bundles == 6)
    }
}
