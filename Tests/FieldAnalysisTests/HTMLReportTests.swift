@testable import FieldAnalysis
import FieldBundle
import FieldModel
import Testing

@Suite struct HTMLReportTests {
    func report() -> String {
        var b = TimelineBuilder()
        let h = DetectorTests.header()
        for i in 0..<10 {
            // Threads and stacks grow by 10 a minute: the map count's room (two mappings per thread) falls enough for
            // a forecast.
            var s = DetectorTests.sample(i, threads: 2 + i * 10, maps: DetectorTests.maps(stacks: 1 + i * 10, stackSize: 8 << 20, guardSize: 4096, top: 0x7f00_0000_0000, width: 12, labelled: false),
                fds: 4 + i * 5, names: ["app"] + Array(repeating: "w<orker>", count: i * 10))
            // A process name that needs escaping.
            s.files[1] = FileCapture(path: "/proc/42/status", bytes: Array("Name:\t<b>&app\nThreads:\t\(2 + i * 10)\nVmRSS:\t1000 kB\n".utf8))
            b.add(sample: s, header: h)
        }
        let devices = Array(b.devices.values)
        let r = Analyzer().analyze(devices)
        return HTMLReport.render(findings: r.findings, quotas: r.quotas, devices: devices)
    }

    @Test func selfContainedWithChartsAndEscapedText() {
        let html = report()
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 >= 3)  // three charts for the flagged process
        #expect(html.contains("polyline"))
        #expect(html.contains("&lt;b&gt;&amp;app"))
        #expect(!html.contains("<b>&app"))
        #expect(html.contains("thread-leak.growing"))
        // Nothing is fetched: no scripts, no external stylesheets, images or fonts.
        for needle in ["<script", "src=", "<link", "@import", "url("] { #expect(!html.contains(needle), "\(needle)") }
    }

    /// The size chart shows the real magnitude (the fixture's virtual size is 100 MiB), not values near zero.
    @Test func sizeChartHasRealValues() {
        let html = report()
        let chart = html.components(separatedBy: "virtual and resident size").dropFirst().first ?? ""
        #expect(chart.prefix(4000).contains("MiB"), "axis labels of the size chart")
    }

    @Test func quotaChartsDrawTheLimitAndTheForecast() {
        let html = report()
        #expect(html.contains(">limit "))
        #expect(html.contains("stroke-dasharray"))  // the forecast line
    }
}
