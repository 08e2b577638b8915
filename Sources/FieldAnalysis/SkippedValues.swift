import FieldModel

/// The captured values of one device that could not be used, tallied by kind (file and field) in bounded memory:
/// what the reports say was left out.
public struct SkippedValues: Sendable, Codable {
    /// One kind: a file (process and thread ids written `PID`) and a field, how often, and the first example.
    public struct Kind: Sendable, Codable, Equatable {
        /// The file, e.g. `/proc/PID/status`.
        public var file: String
        /// The field, e.g. `VmRSS`, or `line` for lines a parser skipped.
        public var field: String
        /// Captures that held such a value.
        public var count: Int
        /// The first of them.
        public var examplePath: String
        /// Its text as captured (or what was wrong with it).
        public var exampleText: String

        enum CodingKeys: String, CodingKey {
            case file, field, count
            case examplePath = "example_path"
            case exampleText = "example_text"
        }
    }

    /// Kinds, in the order first seen.
    public private(set) var kinds: [Kind] = []
    /// Values of kinds beyond `maximumKinds`, counted only.
    public private(set) var others = 0
    private var index: [String: Int] = [:]

    /// Kinds kept with their examples; a device whose files are garbage cannot make the tally grow without end.
    public static let maximumKinds = 64

    /// Nothing skipped.
    public init() {}

    /// Every value skipped.
    public var total: Int { kinds.reduce(others) { $0 + $1.count } }

    /// Whether nothing was skipped.
    public var isEmpty: Bool { total == 0 }

    /// Counts `v`.
    public mutating func add(_ v: UnusableValue) {
        let file = Self.file(v.path)
        let key = file + "\u{0}" + v.field
        if let i = index[key] {
            kinds[i].count += 1
        } else if kinds.count < Self.maximumKinds {
            index[key] = kinds.count
            kinds.append(Kind(file: file, field: v.field, count: 1, examplePath: v.path, exampleText: v.text))
        } else {
            others += 1
        }
    }

    /// `path` with each component made of digits only (a process or thread id) written `PID`.
    static func file(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? "PID" : String($0) }
            .joined(separator: "/")
    }

    /// For a person: one line per kind (the first `limit`), then how many more.
    public func lines(limit: Int = 8) -> [String] {
        var out = kinds.prefix(limit).map { k in
            "\(k.file) \(k.field): \(k.count) time(s), first in \(k.examplePath): \"\(k.exampleText)\""
        }
        let more = kinds.count - min(limit, kinds.count)
        if more > 0 || others > 0 {
            out.append("and \(more) more kind(s)" + (others > 0 ? ", \(others) value(s) of further kinds" : "") + " (--format json lists the kinds)")
        }
        return out
    }

    /// One line for the whole tally: `12 captured value(s) could not be used and were left out`.
    public var summary: String { "\(total) captured value(s) could not be used and were left out" }
}

extension SkippedValues {
    /// Whether an OS could show `v` as a count or an amount: finite, not negative, within 64 bits.
    static func plausible(_ v: Double) -> Bool { v.isFinite && v >= 0 && v <= 18_446_744_073_709_551_615.0 }

    /// `o` without what no OS can show, whichever backend interpreted it, each value left out noted in `o.unusable`:
    /// quota readings with a limit, use or peak that is not a plausible amount, negative counts, a start time that is
    /// not a number.
    static func screened(_ o: SampleObservations, backend: String) -> SampleObservations {
        // Every sample passes through here: nothing is copied or formatted unless a value is out of range.
        func fine(_ readings: [QuotaReading]) -> Bool {
            readings.allSatisfy { plausible($0.limit) && plausible($0.used) && $0.peak.map(plausible) != false }
        }
        let processesFine = o.processes.allSatisfy { p in
            (p.threads ?? 0) >= 0 && (p.descriptors ?? 0) >= 0 && p.startSeconds.map { $0.isFinite } != false
                && fine(p.quotas)
        }
        if processesFine && fine(o.system.quotas) { return o }
        var o = o
        let source = "\(backend) observations"
        func note(_ what: String, _ v: Double) { o.unusable.append(UnusableValue(path: source, field: what, text: "\(v)")) }
        func quotas(_ readings: [QuotaReading], _ scope: String) -> [QuotaReading] {
            guard !fine(readings) else { return readings }
            return readings.compactMap { q in
                var q = q
                let name = "\(scope)quota \(q.resource) (\(q.source))"
                guard plausible(q.limit) else { note(name + " limit", q.limit); return nil }
                guard plausible(q.used) else { note(name + " used", q.used); return nil }
                if let p = q.peak, !plausible(p) {
                    note(name + " peak", p)
                    q.peak = nil
                }
                return q
            }
        }
        o.system.quotas = quotas(o.system.quotas, "system ")
        for i in o.processes.indices {
            if let n = o.processes[i].threads, n < 0 {
                note("process threads", Double(n))
                o.processes[i].threads = nil
            }
            if let n = o.processes[i].descriptors, n < 0 {
                note("process descriptors", Double(n))
                o.processes[i].descriptors = nil
            }
            if let s = o.processes[i].startSeconds, !s.isFinite {
                note("process start", s)
                o.processes[i].startSeconds = nil
            }
            o.processes[i].quotas = quotas(o.processes[i].quotas, "process ")
        }
        return o
    }
}

/// Differences of captured clocks, which may hold anything (a device without a clock, a damaged record): saturated,
/// never trapping.
enum Nanos {
    /// `b - a`, saturated at the ends of `Int64`.
    static func between(_ a: Int64, _ b: Int64) -> Int64 {
        let (d, overflow) = b.subtractingReportingOverflow(a)
        return overflow ? (b > a ? .max : .min) : d
    }

    /// `k` intervals of `interval` nanoseconds, saturated at `Int64.max`.
    static func times(_ k: Int64, _ interval: UInt64) -> Int64 {
        let (v, overflow) = Int64(clamping: interval).multipliedReportingOverflow(by: k)
        return overflow ? .max : v
    }

    /// Seconds from `a` to `b`.
    static func seconds(from a: Int64, to b: Int64) -> Double { (Double(b) - Double(a)) / 1e9 }
}
