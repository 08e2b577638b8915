import Foundation

/// The same questions asked of every device: one row per device and resource, for `fieldctl compare`.
public struct ComparisonRow: Sendable, Codable {
    /// Device id.
    public var device: String
    /// The device's backend identifier.
    public var os: String
    /// `thread`, `memory`, or an OS's own pool name.
    public var resource: String
    /// For process-level limits, the process that runs out first.
    public var pid: Int32?
    /// Its name.
    public var process: String?
    /// The effective limit.
    public var limit: Double
    /// Highest use seen.
    public var peak: Double
    /// Last use seen.
    public var used: Double
    /// Used as a share of the limit, percent.
    public var percent: Double
    /// Growth per hour at the current trend (0 when flat).
    public var growthPerHour: Double
    /// Seconds to exhaustion (0: exhausted; nil: not growing).
    public var etaSeconds: Double?
    /// The limit that binds.
    public var binding: String?
    /// What the row's verdict rests on: `exhausted`, `trend`, or `no trend` (no evidence of exhaustion).
    public var evidence: String

    enum CodingKeys: String, CodingKey {
        case device, os, resource, pid, process, limit, peak, used, percent, binding, evidence
        case growthPerHour = "growth_per_hour"
        case etaSeconds = "eta_seconds"
    }
}

/// Builds the comparison from quotas.
public enum Comparison {
    /// One row per device and resource. For threads, the limit with evidence that runs out first (a process's
    /// ceiling or the system's); without such evidence, the system's thread limit with the least room (a process's
    /// only when the device reports no system-wide one), marked `no trend`.
    /// Other resources are kept when at least two devices report them for the whole system.
    public static func rows(_ quotas: [Quota]) -> [ComparisonRow] {
        func row(_ q: Quota) -> ComparisonRow {
            let rate = (q.etaSeconds ?? 0) > 0 ? (q.limit - q.used) / q.etaSeconds! * 3600 : 0
            return ComparisonRow(device: q.device, os: q.os, resource: q.resource, pid: q.pid, process: q.process, limit: q.limit,
                peak: q.peak, used: q.used, percent: q.limit > 0 ? (q.used / q.limit * 1000).rounded() / 10 : 0,
                growthPerHour: rate, etaSeconds: q.etaSeconds, binding: q.binding, evidence: q.evidence)
        }
        func first(_ a: Quota, _ b: Quota) -> Bool {
            switch (a.etaSeconds, b.etaSeconds) {
            case let (x?, y?): return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.limit - a.used < b.limit - b.used
            }
        }
        var out: [ComparisonRow] = []
        let devices = Set(quotas.map(\.device)).sorted()
        for d in devices {
            let threads = quotas.filter { $0.device == d && $0.resource == "thread" }
            // Without evidence no process is singled out: the system's row stands for the device when it has one.
            let evidence = threads.filter { $0.etaSeconds != nil }
            let pool = evidence.isEmpty ? (threads.contains { $0.scope == "system" } ? threads.filter { $0.scope == "system" } : threads) : evidence
            if let t = pool.sorted(by: first).first { out.append(row(t)) }
        }
        let others = Dictionary(grouping: quotas.filter { $0.resource != "thread" && $0.scope == "system" }, by: \.resource)
        for (_, qs) in others.sorted(by: { $0.key < $1.key }) where Set(qs.map(\.device)).count >= 2 {
            for d in devices { if let q = qs.filter({ $0.device == d }).sorted(by: first).first { out.append(row(q)) } }
        }
        return out
    }

    /// The one-line answer: which device runs out of threads first, and why; only from evidence (a limit reached,
    /// or a significant, sustained trend toward it).
    public static func verdict(_ rows: [ComparisonRow]) -> String {
        let threads = rows.filter { $0.resource == "thread" }
        guard !threads.isEmpty else { return "no device reports a thread limit" }
        func describe(_ r: ComparisonRow) -> String {
            let who = r.pid.map { ", pid \($0) (\(r.process ?? ""))" } ?? ""
            guard let eta = r.etaSeconds else {
                return "\(r.device) (\(r.os)): no evidence of exhaustion (\(Format.count(r.used)) of \(Format.count(r.limit)) threads, tightest limit \(r.binding ?? "?"))"
            }
            let when = eta == 0 ? "has already run out" : "runs out in \(Format.duration(eta))"
            return "\(r.device) (\(r.os)) \(when): \(Format.count(r.used)) of \(Format.count(r.limit)) threads, bound by \(r.binding ?? "?")\(who)"
        }
        let ranked = threads.sorted { ($0.etaSeconds ?? .infinity, $0.device) < ($1.etaSeconds ?? .infinity, $1.device) }
        guard let top = ranked.first, top.etaSeconds != nil else {
            return "no evidence that any device runs out of threads. " + ranked.map(describe).joined(separator: "; ")
        }
        let rest = ranked.dropFirst().map(describe).joined(separator: "; ")
        return "first to run out of threads: \(describe(top))" + (rest.isEmpty ? "" : ". Then: \(rest)")
    }

    /// The table for a terminal.
    public static func text(_ rows: [ComparisonRow]) -> String {
        var lines = [verdict(rows), ""]
        let header = ["device", "os", "resource", "limit", "peak", "used", "%", "growth/h", "runs out in", "binding"]
        var table = [header]
        for r in rows {
            table.append([r.device, r.os, r.resource, Format.count(r.limit), Format.count(r.peak), Format.count(r.used),
                Format.one(r.percent), Format.one(r.growthPerHour),
                r.etaSeconds.map { $0 == 0 ? "exhausted" : Format.duration($0) } ?? "no evidence",
                (r.binding ?? "-") + (r.pid.map { " (pid \($0) \(r.process ?? ""))" } ?? "")])
        }
        let widths = (0..<header.count).map { c in table.map { $0[c].count }.max() ?? 0 }
        for row in table {
            lines.append(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
