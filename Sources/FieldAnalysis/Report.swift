import Foundation

/// Renders findings and quotas for a person (text) or a program (JSON, docs/analyze-json.md).
public enum Report {
    /// Plain text, most important first; ANSI colours only when `colour` is set (a terminal).
    public static func text(findings: [Finding], quotas: [Quota], devices: [DeviceTimeline], colour: Bool) -> String {
        func paint(_ s: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        var lines: [String] = []
        for d in devices.sorted(by: { $0.device < $1.device }) {
            let samples = d.system.count
            let span = (d.system.last?.wallNanos ?? 0) - (d.system.first?.wallNanos ?? 0)
            var head = "device \(d.device) (\(d.backend)): \(samples) samples over \(Analyzer.duration(Double(span) / 1e9)), \(d.processes.count) processes"
            if d.boots.count > 1 { head += ", \(d.boots.count - 1) reboot(s)" }
            let gaps = d.gaps
            if let longest = gaps.map(\.seconds).max() { head += ", \(gaps.count) gap(s) in the sampling (longest \(Analyzer.duration(longest)))" }
            lines.append(paint(head, "1"))
            for loss in d.lossSummary { lines.append("  data missing: \(loss)") }
            for b in d.bundles where b.damage != nil {
                lines.append("  bundle \(b.path): \(b.damage!.description)")
            }
        }
        if findings.isEmpty {
            lines.append("no leaks or exhausted quotas found")
        }
        for f in findings {
            let tag: String
            switch f.severity {
            case .critical: tag = paint("CRITICAL", "31;1")
            case .warning: tag = paint("WARNING ", "33;1")
            case .info: tag = paint("info    ", "36")
            }
            lines.append("\(tag) \(f.kind.rawValue): \(f.summary)")
            for d in f.details { lines.append("         \(d)") }
            lines.append("         fix: \(f.fix)")
        }
        let tight = quotas.filter { $0.etaSeconds != nil || $0.used >= $0.limit * 0.5 }
        if !tight.isEmpty {
            lines.append(paint("quotas", "1"))
            for q in tight.sorted(by: { ($0.etaSeconds ?? .infinity) < ($1.etaSeconds ?? .infinity) }) {
                let eta = q.etaSeconds.map { $0 == 0 ? "exhausted" : "runs out in \(Analyzer.duration($0))" } ?? "not growing"
                let who = q.pid.map { "pid \($0) (\(q.process ?? ""))" } ?? "system"
            lines.append("  \(q.resource) \(who): \(Int(q.used))/\(Int(q.limit)) (peak \(Int(q.peak))), binding \(q.binding ?? "-"), \(eta)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The JSON document: `{"findings": [...], "quotas": [...]}` with stable keys.
    public static func json(findings: [Finding], quotas: [Quota], devices: [DeviceTimeline] = []) throws -> String {
        struct Doc: Encodable {
            var findings: [Finding]
            var quotas: [Quota]
            var missing: [MissingData]
        }
        let missing = devices.sorted(by: { $0.device < $1.device }).flatMap(\.missing)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(Doc(findings: findings, quotas: quotas, missing: missing)), as: UTF8.self) + "\n"
    }
}
