@testable import FieldAnalysis
import FieldModel
import Testing

/// Memory under process churn: what a week of processes coming and going leaves in the timeline.
@Suite struct TimelineMemoryTests {
    /// Observations of a device sampled every minute for `samples` minutes, where a process starts every minute and
    /// lives `life` minutes; one process lives throughout.
    static func churn(samples: Int, life: Int, limitReachedBy: Int32? = nil) -> DeviceTimeline {
        var d = DeviceTimeline(device: "churn", backend: "linux")
        d.intervalNanos = 60_000_000_000
        for i in 0..<samples {
            var o = SampleObservations(wallNanos: Int64(i) * 60_000_000_000)
            var steady = ProcessObservation(pid: 1, name: "init")
            steady.threads = 1
            o.processes.append(steady)
            for k in max(0, i - life + 1)...i {
                var p = ProcessObservation(pid: Int32(1000 + k), name: "job")
                p.startToken = UInt64(k)
                p.threads = 2
                p.descriptors = 10
                let limit = Int32(1000 + k) == limitReachedBy ? 10.0 : 1024.0
                p.quotas = [QuotaReading(resource: "fd", limit: limit, used: 10, source: "RLIMIT_NOFILE")]
                o.processes.append(p)
            }
            TimelineBuilder.add(o, boot: "b", pidFilter: nil, into: &d)
        }
        TimelineBuilder.retire(in: &d)  // as `finish` does
        return d
    }

    @Test func shortLivedProcessesThatEndedAreFoldedPerName() {
        let d = Self.churn(samples: 3000, life: 3, limitReachedBy: 1500)
        // Only the processes of the last ten minutes or so, the one that reached its limit, and init remain.
        #expect(d.processes.count < 40, "\(d.processes.count) histories kept")
        #expect(d.processes.keys.contains { $0.pid == 1500 }, "the process that reached a limit was folded")
        #expect(d.processCount == 3000 + 1)
        let r = d.retired["job"]
        #expect(r?.count ?? 0 > 2900)
        #expect(r?.maxThreads == 2 && r?.maxDescriptors == 10)
    }

    @Test func longerLivedEndedProcessesKeepASmallHistoryAndAreCapped() {
        let d = Self.churn(samples: TimelineBuilder.maximumEnded + 600, life: 12)
        #expect(d.processes.count <= TimelineBuilder.maximumEnded + 40)
        #expect(d.processCount == TimelineBuilder.maximumEnded + 600 + 1)
        let ended = d.processes.values.filter { d.lastNanos - $0.lastNanos > 1_200_000_000_000 }
        #expect(!ended.isEmpty && ended.allSatisfy { $0.threads.capacity == TimelineBuilder.endedCapacity })
        #expect(d.processes.values.filter { d.alive($0) }.allSatisfy { $0.threads.capacity == Series.defaultCapacity })
    }

    @Test func outOfOrderBundlesFoldNothing() {
        var d = DeviceTimeline(device: "x", backend: "linux")
        d.intervalNanos = 60_000_000_000
        for i in (0..<600).reversed() {
            var o = SampleObservations(wallNanos: Int64(i) * 60_000_000_000)
            var p = ProcessObservation(pid: Int32(1000 + i), name: "job")
            p.threads = 1
            o.processes.append(p)
            TimelineBuilder.add(o, boot: "b", pidFilter: nil, into: &d)
        }
        #expect(d.retired.isEmpty && d.processes.count == 600)
    }
}

/// A device whose available memory reached zero has a verdict even though the series is flat at zero by then
/// (seen on a synthesized week: the 24 h analysis forecast it, the week's analysis said nothing).
@Suite struct MemoryExhaustedTests {
    @Test func availableMemoryAtZeroIsACriticalFinding() throws {
        var d = DeviceTimeline(device: "m", backend: "linux")
        d.intervalNanos = 60_000_000_000
        for i in 0..<200 {
            var o = SampleObservations(wallNanos: Int64(i) * 60_000_000_000)
            o.system.memoryTotal = 1 << 30
            o.system.memoryAvailable = UInt64(max(0, 500 - i * 5)) << 20
            TimelineBuilder.add(o, boot: "b", pidFilter: nil, into: &d)
        }
        let out = MemoryPressureDetector().inspect(d, AnalysisContext())
        let f = try #require(out.findings.first)
        #expect(f.kind == .memoryPressure && f.severity == .critical && f.confidence == .high)
        #expect(out.quotas.first?.evidence == "exhausted")
    }
}
