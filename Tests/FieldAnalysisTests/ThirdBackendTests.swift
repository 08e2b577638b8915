import FieldAnalysis
import FieldBackends
import FieldBundle
import FieldModel
import FieldTestKit
import Testing

/// A third OS reaches `analyze` and `compare` with no edit in FieldAnalysis: the test kit's ToyOS backend is given
/// to the timeline builder beside the registry's, and its quotas and processes come out like any other OS's.
@Suite struct ThirdBackendTests {
    static func header() -> BundleHeader {
        BundleHeader(agent: "t", backend: "toyos", osIdentity: Array("ToyOS 1.0".utf8), deviceID: "toy-board", bootID: nil, wallNanos: 0,
            monoNanos: 0, intervalNanos: 10_000_000_000, procRoot: "/proc", sequence: 0, plan: ToyBackend().capturePlan)
    }

    /// 60 samples, 10 s apart: the `mailbox` pool rises by 2 a sample toward 400; `timer` ran dry before sampling
    /// (peak = limit); task 7 grows its heap by 64 KiB a sample.
    static func samples() -> [Sample] {
        (0..<60).map { i in
            Sample(sequence: UInt64(i), wallNanos: Int64(i) * 10_000_000_000, monoNanos: UInt64(i) * 10_000_000_000,
                files: ToyBackend.files(pools: [("thread", 64, 20, 22), ("mailbox", 400, 100 + 2 * i, 100 + 2 * i), ("timer", 32, 10, 32)],
                    tasks: [(7, "logger", 3, 1_000_000 + i * 65536), (8, "idle", 1, 50_000)]))
        }
    }

    @Test func aNewOSsQuotasReachAnalyzeAndCompare() throws {
        var b = TimelineBuilder(backends: BackendRegistry.all + [ToyBackend()])
        for s in Self.samples() { b.add(sample: s, header: Self.header()) }
        b.finish()
        let devices = Array(b.devices.values)
        let r = Analyzer().analyze(devices)
        let forecast = try #require(r.findings.first { $0.kind == .quotaForecast })
        #expect(forecast.summary.contains("mailbox") && forecast.forecast?.binding == "toy pool size", "\(forecast)")
        // 218 used at the end, 2 every 10 s: 182 left, 910 s.
        #expect(abs((forecast.forecast?.etaSeconds ?? 0) - 910) < 20)
        #expect(r.findings.contains { $0.kind == .quotaExhausted && $0.summary.contains("timer") })
        #expect(r.findings.contains { $0.kind == .heapLeak && $0.pid == 7 && $0.process == "logger" })
        #expect(!r.findings.contains { $0.pid == 8 })
        #expect(r.quotas.allSatisfy { $0.os == "toyos" })
        let rows = Comparison.rows(r.quotas)
        let thread = try #require(rows.first { $0.resource == "thread" })
        #expect(thread.os == "toyos" && thread.limit == 64 && thread.evidence == "no trend")
        #expect(Comparison.verdict(rows).contains("toy-board (toyos): no evidence of exhaustion"))
        let text = Report.text(findings: r.findings, quotas: r.quotas, devices: devices, colour: false)
        #expect(text.contains("device toy-board (toyos)") && text.contains("mailbox"))
    }

    @Test func withoutItsBackendTheSamplesAreReportedNotIgnored() {
        var b = TimelineBuilder()
        for s in Self.samples() { b.add(sample: s, header: Self.header()) }
        let d = b.devices["toy-board"]!
        #expect(d.uninterpretedSamples == 60)
        let text = Report.text(findings: [], quotas: [], devices: [d], colour: false)
        #expect(text.contains("60 sample(s) of backend 'toyos', which this fieldctl does not know"))
    }
}
