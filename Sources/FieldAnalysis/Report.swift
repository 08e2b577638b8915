import Foundation

/// Renders findings and quotas for a person (text) or a program (JSON, docs/analyze-json.md).
public enum Report {
    /// The answer first, per device: what leaks, in which process, the first limit to run out and when.
    public static func verdict(_ d: DeviceTimeline, findings: [Finding], quotas: [Quota]) -> [String] {
        let mine = findings.filter { $0.device == d.device && $0.severity > .info }
        let leaks = mine.filter { Analyzer.leakKinds.contains($0.kind) }
        var lines: [String] = []
        if leaks.isEmpty && mine.isEmpty {
            lines.append("no leaks found")
        } else if !leaks.isEmpty {
            let pids = Set(leaks.compactMap(\.pid))
            let what = leaks.map { "\($0.kind.rawValue) in pid \($0.pid.map(String.init) ?? "-") (\($0.process ?? "?"))" }
            lines.append("\(leaks.count) leak(s) in \(pids.count) process(es): " + what.prefix(4).joined(separator: "; ")
                + (what.count > 4 ? "; and \(what.count - 4) more" : ""))
        }
        lines.append(firstToRunOut(d, quotas: quotas))
        return lines
    }

    /// `first limit to run out: ...` or `no evidence that any limit runs out`.
    public static func firstToRunOut(_ d: DeviceTimeline, quotas: [Quota]) -> String {
        let mine = quotas.filter { $0.device == d.device && $0.etaSeconds != nil }
        guard let q = mine.min(by: { ($0.etaSeconds!, $0.etaHighSeconds ?? .infinity) < ($1.etaSeconds!, $1.etaHighSeconds ?? .infinity) }) else {
            return "no evidence that any limit runs out"
        }
        let who = q.pid.map { "pid \($0) (\(q.process ?? "?"))" } ?? "the system"
        if q.etaSeconds == 0 {
            return "exhausted: \(q.resource) limit \(Format.count(q.limit)) (\(q.binding ?? "-")) of \(who)"
        }
        let high = q.etaHighSeconds.map(Format.duration) ?? "never"
        return "first limit to run out: \(q.resource) of \(who), \(Format.count(q.used)) of \(Format.count(q.limit)) (\(q.binding ?? "-")), "
            + "in \(Format.duration(q.etaSeconds!)) (\(Format.duration(q.etaLowSeconds ?? q.etaSeconds!)) to \(high))"
    }

    /// For more than one device, the fleet first: how many have findings, those devices worst first, and the
    /// earliest exhaustion across the fleet; empty for one device.
    public static func fleet(findings: [Finding], quotas: [Quota], devices: [DeviceTimeline]) -> String {
        guard devices.count > 1 else { return "" }
        let shown = findings.filter { $0.severity > .info }
        var byDevice: [String: [Finding]] = [:]
        for f in shown { byDevice[f.device, default: []].append(f) }
        let critical = byDevice.values.filter { $0.contains { $0.severity == .critical } }.count
        var lines = [
            "fleet: \(devices.count) devices, \(byDevice.count) with findings (\(critical) critical, \(byDevice.count - critical) warning only)"
        ]
        // Worst first: the most severe finding, then how many, then the device id.
        let ranked = byDevice.sorted { a, b in
            let (sa, sb) = (a.value.map(\.severity).max()!, b.value.map(\.severity).max()!)
            return (sa, a.value.count, b.key) > (sb, b.value.count, a.key)
        }
        for (device, mine) in ranked.prefix(20) {
            let kinds = Array(Set(mine.map(\.kind.rawValue))).sorted()
            lines.append("  \(mine.map(\.severity).max()!.rawValue.uppercased()) \(device): " + kinds.joined(separator: ", "))
        }
        if ranked.count > 20 { lines.append("  and \(ranked.count - 20) more devices with findings") }
        let timed = quotas.filter { $0.etaSeconds != nil }
        if let q = timed.min(by: { ($0.etaSeconds!, $0.device) < ($1.etaSeconds!, $1.device) }) {
            let who = q.pid.map { "pid \($0) (\(q.process ?? "?"))" } ?? "the system"
            let when = q.etaSeconds == 0
                ? "exhausted"
                : "in \(Format.duration(q.etaSeconds!)) (\(Format.duration(q.etaLowSeconds ?? q.etaSeconds!)) to \(q.etaHighSeconds.map(Format.duration) ?? "never"))"
            lines.append("  earliest exhaustion in the fleet: \(q.resource) of \(who) on \(q.device), \(when)")
        } else {
            lines.append("  no evidence that any limit runs out on any device")
        }
        return lines.joined(separator: "\n") + "\n\n"
    }

    /// Plain text: per device the verdict, then findings grouped by process with their evidence, then the quotas
    /// that matter, then the agent's own cost. ANSI colours only when `colour` is set (a terminal).
    public static func text(findings: [Finding], quotas: [Quota], devices: [DeviceTimeline], colour: Bool) -> String {
        func paint(_ s: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        var lines: [String] = []
        for d in devices.sorted(by: { $0.device < $1.device }) {
            var head = "device \(d.device) (\(d.backend)): \(d.sampleTimes.count) samples over \(Format.duration(d.spanSeconds)), \(d.processCount) processes"
            if d.boots.count > 1 { head += ", \(d.boots.count - 1) reboot(s)" }
            let gaps = d.gaps
            if let longest = gaps.map(\.seconds).max() { head += ", \(gaps.count) gap(s) in the sampling (longest \(Format.duration(longest)))" }
            lines.append(paint(head, "1"))
            if d.uninterpretedSamples > 0 {
                lines.append("  \(d.uninterpretedSamples) sample(s) of backend '\(d.backend)', which this fieldctl does not know: not interpreted")
            }
            for loss in d.lossSummary { lines.append("  data missing: \(loss)") }
            for b in d.bundles where b.damage != nil { lines.append("  bundle \(b.path): \(b.damage!.description)") }
            if !d.skipped.isEmpty {
                lines.append("  \(d.skipped.summary):")
                for l in d.skipped.lines() { lines.append("    " + l) }
            }
            for v in verdict(d, findings: findings, quotas: quotas) { lines.append(paint("  " + v, "1")) }
            let mine = findings.filter { $0.device == d.device }
            let shown = mine.filter { $0.severity > .info }
            // Grouped by process (system findings last), most severe process first.
            let groups = Dictionary(grouping: shown) { $0.pid ?? -1 }
            let order = groups.keys.sorted { a, b in
                let sa = groups[a]!.map(\.severity).max()!, sb = groups[b]!.map(\.severity).max()!
                return (a == -1 ? 0 : 1, sa, -a) > (b == -1 ? 0 : 1, sb, -b)
            }
            for pid in order {
                let fs = groups[pid]!
                lines.append(pid == -1 ? "  system" : "  pid \(pid) (\(fs[0].process ?? "?"))")
                for f in fs {
                    let tag: String
                    switch f.severity {
                    case .critical: tag = paint("CRITICAL", "31;1")
                    case .warning: tag = paint("WARNING ", "33;1")
                    case .info: tag = paint("info    ", "36")
                    }
                    lines.append("    \(tag) \(f.kind.rawValue) (\(f.confidence.rawValue) confidence): \(f.summary)")
                    for x in f.details where !x.hasPrefix("low confidence:") { lines.append("             \(x)") }
                    lines.append("             fix: \(f.fix)")
                }
            }
            let info = mine.count - shown.count
            if info > 0 {
                lines.append("  \(info) informational finding(s) (growth that ended with its process, caches the kernel reclaims): --format json lists them")
            }
            let tight = quotas.filter { $0.device == d.device && $0.etaSeconds != nil }
            if !tight.isEmpty {
                lines.append("  quotas running out (all limits: --format json)")
                for q in tight.sorted(by: { $0.etaSeconds! < $1.etaSeconds! }).prefix(3) {
                    let eta = q.etaSeconds == 0 ? "exhausted" : "runs out in \(Format.duration(q.etaSeconds!))"
                        + " (\(Format.duration(q.etaLowSeconds ?? 0)) to \(q.etaHighSeconds.map(Format.duration) ?? "never"))"
                    let who = q.pid.map { "pid \($0) (\(q.process ?? ""))" } ?? "system"
                    lines.append("    \(q.resource) \(who): \(Format.count(q.used))/\(Format.count(q.limit)) (peak \(Format.count(q.peak))), \(q.binding ?? "-"), \(eta)")
                }
            }
            for a in agentLines(d) { lines.append("  " + a) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The agent's own cost on the device: it is reported here, never as a suspect.
    public static func agentLines(_ d: DeviceTimeline) -> [String] {
        let c = AnalysisContext()
        return d.processes.values.filter { c.isAgent($0, on: d) }.sorted { $0.key < $1.key }.map { p in
            let rss = p.residentBytes.last.map { Format.bytes($0.v) } ?? "?"
            let peak = p.residentBytes.isEmpty ? "?" : Format.bytes(p.residentBytes.maximum)
            return "agent pid \(p.key.pid) (\(p.name)), its own cost: resident \(rss) (peak \(peak)), "
                + "\(p.threads.last.map { Format.count($0.v) } ?? "?") thread(s), \(p.descriptors.last.map { Format.count($0.v) } ?? "?") descriptors"
        }
    }

    /// A bundle read only up to its damage (docs/analyze-json.md, DAMAGED).
    struct DamagedBundle: Encodable {
        var device: String
        var bundle: String
        var kind: String
        var reason: String
        var records: Int
        var offset: UInt64
    }

    /// A kind of captured value that could not be used (docs/analyze-json.md, SKIPPED).
    struct Skipped: Encodable {
        var device: String
        var kind: SkippedValues.Kind

        func encode(to encoder: Encoder) throws {
            enum Key: String, CodingKey { case device }
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(device, forKey: .device)
            try kind.encode(to: encoder)
        }
    }

    /// The JSON document: `{"findings": [...], "quotas": [...], "missing": [...], "damaged": [...], "skipped": [...]}`
    /// with stable keys.
    public static func json(findings: [Finding], quotas: [Quota], devices: [DeviceTimeline] = []) throws -> String {
        struct Doc: Encodable {
            var findings: [Finding]
            var quotas: [Quota]
            var missing: [MissingData]
            var damaged: [DamagedBundle]
            var skipped: [Skipped]
        }
        let sorted = devices.sorted(by: { $0.device < $1.device })
        let damaged = sorted.flatMap { d in
            d.bundles.compactMap { b in
                b.damage.map { DamagedBundle(device: d.device, bundle: b.path, kind: $0.kind.rawValue, reason: $0.reason, records: $0.records, offset: $0.offset) }
            }
        }
        let skipped = sorted.flatMap { d in d.skipped.kinds.map { Skipped(device: d.device, kind: $0) } }
        return String(decoding: try encoder().encode(Doc(findings: findings, quotas: quotas, missing: sorted.flatMap(\.missing),
                                                          damaged: damaged, skipped: skipped)), as: UTF8.self) + "\n"
    }

    /// The encoder of every JSON document: sorted keys, and infinities and NaN as strings (arithmetic on captured
    /// data can give them; JSON has no such numbers).
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// What was not read or not usable, device by device, one line each: bundles read only up to their damage, and
    /// captured values left out (for `compare`, whose table has no place for them).
    public static func notes(_ devices: [DeviceTimeline]) -> [String] {
        devices.sorted(by: { $0.device < $1.device }).flatMap { d in
            d.bundles.compactMap { b in b.damage.map { "\(d.device): bundle \(b.path): \($0.description)" } }
                + (d.skipped.isEmpty ? [] : ["\(d.device): \(d.skipped.summary) (fieldctl analyze lists them): "
                    + d.skipped.lines(limit: 3).joined(separator: "; ")])
        }
    }
}
