import Foundation

/// One self-contained HTML file (no network): the findings, and SVG charts over time for every flagged process
/// and every quota under pressure.
public enum HTMLReport {
    /// A named line on a chart.
    struct Series {
        var name: String
        var colour: String
        var points: [(t: Double, v: Double)]
        var dashed = false
    }

    public static func render(findings: [Finding], quotas: [Quota], devices: [DeviceTimeline]) -> String {
        var body = ""
        let t0 = devices.compactMap { $0.sampleTimes.first }.min().map { Double($0) / 1e9 } ?? 0
        func shifted(_ s: FieldAnalysis.Series) -> [(t: Double, v: Double)] { s.points.map { ($0.t - t0, $0.v) } }
        for d in devices.sorted(by: { $0.device < $1.device }) {
            body += "<h2>Device \(esc(d.device)) <small>\(esc(d.backend)), \(d.sampleTimes.count) samples over \(Format.duration(d.spanSeconds))"
            body += d.boots.count > 1 ? ", \(d.boots.count - 1) reboot(s)" : ""
            body += d.gaps.isEmpty ? "" : ", \(d.gaps.count) gap(s) in the sampling"
            body += "</small></h2>\n"
            for v in Report.verdict(d, findings: findings, quotas: quotas) { body += "<p class=verdict>\(esc(v))</p>\n" }
            for loss in d.lossSummary { body += "<p class=damage>data missing: \(esc(loss))</p>\n" }
            for b in d.bundles where b.damage != nil { body += "<p class=damage>bundle \(esc(b.path)): \(esc(b.damage!.description))</p>\n" }
            if !d.skipped.isEmpty {
                body += "<p class=damage>\(esc(d.skipped.summary)):<br><small>" + d.skipped.lines().map(esc).joined(separator: "<br>") + "</small></p>\n"
            }
            for a in Report.agentLines(d) { body += "<p><small>\(esc(a))</small></p>\n" }
        }
        // Findings grouped by process (most severe first, the system's last), each group with its charts.
        body += "<h2>Findings</h2>\n"
        if findings.isEmpty { body += "<p>No leaks or exhausted quotas found.</p>\n" }
        func row(_ f: Finding) -> String {
            let details = f.details.isEmpty ? "" : "<br><small>" + f.details.map(esc).joined(separator: "<br>") + "</small>"
            return "<tr class=\(f.severity.rawValue)><td>\(f.severity.rawValue)<br><small>\(f.confidence.rawValue) confidence</small></td>"
                + "<td><code>\(f.kind.rawValue)</code></td><td>\(esc(f.summary))\(details)</td><td>\(esc(f.fix))</td></tr>\n"
        }
        let header = "<table><tr><th>severity</th><th>kind</th><th>what, and the evidence</th><th>fix</th></tr>\n"
        for d in devices.sorted(by: { $0.device < $1.device }) {
            let mine = findings.filter { $0.device == d.device }
            let groups = Dictionary(grouping: mine) { $0.pid ?? -1 }
            let order = groups.keys.sorted { a, b in
                let sa = groups[a]!.map(\.severity).max()!, sb = groups[b]!.map(\.severity).max()!
                return (a == -1 ? 0 : 1, sa, -a) > (b == -1 ? 0 : 1, sb, -b)
            }
            for pid in order {
                let fs = groups[pid]!
                let title = pid == -1 ? "\(esc(d.device)): the system" : "pid \(pid) (\(esc(fs[0].process ?? "")))"
                body += "<h3>\(title)</h3>\n" + header + fs.map(row).joined() + "</table>\n"
                guard pid != -1, fs.contains(where: { $0.severity > .info }),
                      let t = d.processes.values.filter({ $0.key.pid == pid }).max(by: { $0.lastNanos < $1.lastNanos }) else { continue }
                body += "<div class=charts>\n"
                body += chart("virtual and resident size", unit: .bytes, [
                    Series(name: "virtual", colour: "#c0392b", points: shifted(t.virtualBytes)),
                    Series(name: "resident", colour: "#2471a3", points: shifted(t.residentBytes)),
                    Series(name: "heap", colour: "#239b56", points: shifted(t.heapBytes)),
                ])
                body += chart("threads and stack-like regions", unit: .count, [
                    Series(name: "live threads", colour: "#2471a3", points: shifted(t.threads)),
                    Series(name: "stack-like regions", colour: "#c0392b", points: shifted(t.stackRegions)),
                ])
                body += chart("open descriptors", unit: .count, [
                    Series(name: "fds", colour: "#7d3c98", points: shifted(t.descriptors)),
                ])
                body += "</div>\n"
            }
        }

        // Quotas with evidence: use against the limit, and the forecast to exhaustion.
        let pressing = quotas.filter { $0.etaSeconds != nil }
        if !pressing.isEmpty { body += "<h2>Quotas</h2>\n<div class=charts>\n" }
        for q in pressing {
            guard let d = devices.first(where: { $0.device == q.device }),
                  let h = d.quotas.first(where: { $0.key.resource == q.resource && $0.key.source == q.binding && $0.key.process?.pid == q.pid }),
                  let last = h.used.last else { continue }
            let used = shifted(h.used)
            let lastPoint = (t: last.t - t0, v: last.v)
            var series = [Series(name: "used", colour: "#2471a3", points: used)]
            let who = q.pid.map { "pid \($0) (\(q.process ?? ""))" } ?? "system"
            var title = "\(q.resource), \(who): limit \(Format.count(q.limit)) (\(q.binding ?? "-"))"
            if let eta = q.etaSeconds, eta > 0 {
                // Forecast to the limit, drawn up to three times the observed span so the chart stays readable.
                let span = max(1, lastPoint.t - (used.first?.t ?? lastPoint.t))
                let horizon = min(eta, 3 * span)
                let slope = (q.limit - q.used) / eta
                series.append(Series(name: "forecast", colour: "#e67e22", points: [lastPoint, (lastPoint.t + horizon, q.used + slope * horizon)], dashed: true))
                title += ", runs out in \(Format.duration(eta))"
            }
            body += chart(title, unit: .count, series, limit: q.limit)
        }
        if !pressing.isEmpty { body += "</div>\n" }

        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>fieldctl analyze</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
            table { border-collapse: collapse; width: 100%; }
            td, th { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
            tr.critical td:first-child { color: #fff; background: #c0392b; font-weight: bold; }
            tr.warning td:first-child { background: #f5b041; font-weight: bold; }
            .charts { display: flex; flex-wrap: wrap; gap: 12px; }
            figure { margin: 0; border: 1px solid #ddd; padding: 6px; }
            figcaption { font-size: 12px; font-weight: bold; }
            .damage { color: #c0392b; }
            .verdict { font-weight: bold; }
            small { color: #666; }
            </style></head><body>
            <h1>fieldctl analyze</h1>
            \(body)
            </body></html>

            """
    }

    enum Unit { case bytes, count }

    /// A line chart: x is seconds from the first sample, y from 0 to the largest value (or the limit).
    static func chart(_ title: String, unit: Unit, _ series: [Series], limit: Double? = nil) -> String {
        let w = 420.0, h = 180.0, left = 62.0, right = 10.0, top = 10.0, bottom = 34.0
        let all = series.flatMap(\.points)
        guard !all.isEmpty else { return "" }
        let xMin = all.map(\.t).min()!, xMax = max(all.map(\.t).max()!, xMin + 1)
        let yMax = max(all.map(\.v).max()!, limit ?? 0, 1) * 1.05
        func x(_ t: Double) -> Double { left + (t - xMin) / (xMax - xMin) * (w - left - right) }
        func y(_ v: Double) -> Double { top + (1 - v / yMax) * (h - top - bottom) }
        func label(_ v: Double) -> String { unit == .bytes ? Format.bytes(v) : Format.thousands(v) }
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(w))' height='\(Int(h))' viewBox='0 0 \(Int(w)) \(Int(h))'>"
        svg += "<rect x='\(left)' y='\(top)' width='\(w - left - right)' height='\(h - top - bottom)' fill='#fafafa' stroke='#ccc'/>"
        for i in 0...4 {
            let v = yMax / 1.05 * Double(i) / 4
            svg += "<line x1='\(left)' x2='\(w - right)' y1='\(y(v))' y2='\(y(v))' stroke='#eee'/>"
            svg += "<text x='\(left - 4)' y='\(y(v) + 4)' font-size='10' text-anchor='end'>\(esc(label(v)))</text>"
        }
        for i in 0...4 {
            let t = xMin + (xMax - xMin) * Double(i) / 4
            svg += "<text x='\(x(t))' y='\(h - bottom + 14)' font-size='10' text-anchor='middle'>\(esc(Format.duration(t)))</text>"
        }
        if let l = limit {
            svg += "<line x1='\(left)' x2='\(w - right)' y1='\(y(l))' y2='\(y(l))' stroke='#c0392b' stroke-width='1.5'/>"
            svg += "<text x='\(w - right - 2)' y='\(y(l) - 3)' font-size='10' text-anchor='end' fill='#c0392b'>limit \(esc(label(l)))</text>"
        }
        for s in series where !s.points.isEmpty {
            let pts = s.points.map { "\(Format.one(x($0.t))),\(Format.one(y($0.v)))" }.joined(separator: " ")
            svg += "<polyline fill='none' stroke='\(s.colour)' stroke-width='2'\(s.dashed ? " stroke-dasharray='5,4'" : "") points='\(pts)'/>"
        }
        var lx = left
        for s in series {
            svg += "<rect x='\(lx)' y='\(h - 12)' width='10' height='3' fill='\(s.colour)'/>"
            svg += "<text x='\(lx + 14)' y='\(h - 8)' font-size='10'>\(esc(s.name))</text>"
            lx += 20 + Double(s.name.count) * 6
        }
        svg += "</svg>"
        return "<figure><figcaption>\(esc(title))</figcaption>\(svg)</figure>\n"
    }

    static func esc(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&#39;"
            default: o.append(c)
            }
        }
        return o
    }
}
