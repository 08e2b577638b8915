import FieldBundle
import FieldModel
import Foundation

/// What `fieldctl decode --format summary` reports about one bundle, gathered in one streaming pass.
public struct BundleSummary: Sendable {
    /// Records and payload bytes of one type.
    public struct TypeTally: Sendable {
        /// How many records.
        public var count = 0
        /// Payload bytes.
        public var bytes: UInt64 = 0
    }

    /// Path of the bundle.
    public var path: String
    /// Stream format, once known.
    public var format: FormatVersion?
    /// The header, when it could be decoded.
    public var header: BundleHeader?
    /// Records by type name, in first-seen order.
    public var types: [(name: String, tally: TypeTally)] = []
    /// First and last sample wall clocks, Unix nanoseconds.
    public var firstSampleWall: Int64?
    /// See `firstSampleWall`.
    public var lastSampleWall: Int64?
    /// Sampled instants: sample records, less the shares of an instant written in parts (format 1.2) but its last.
    public var instants = 0
    /// Distinct captured paths.
    public var distinctPaths = 0
    /// File captures by read status.
    public var statuses: [ReadStatus: Int] = [:]
    /// Captured content bytes.
    public var contentBytes: UInt64 = 0
    /// Entries stored as references to their previous capture (format 1.1), and those that could not be resolved.
    public var references = (resolved: 0, unresolved: 0)
    /// Why the bundle was closed, from its end record.
    public var endReason: String?
    /// Compressed size.
    public var compressedSize: UInt64?
    /// Decompressed stream size read.
    public var streamBytes: UInt64 = 0
    /// True when the bundle was read to a clean end.
    public var complete = false
    /// Damage, if any.
    public var damage: Damage?
    /// Records whose payload did not match its type's schema (kept out of the tallies above).
    public var schemaErrors: [String] = []

    /// Reads the whole bundle; `record` sees every intact record on the way (to print JSON lines in the same pass).
    public static func read(_ reader: BundleReader, record: (RawRecord) -> Void = { _ in }) -> BundleSummary {
        var s = BundleSummary(path: reader.name)
        var paths = Set<String>()
        var samples: SampleDecoder?
        while let r = reader.next() {
            record(r)
            if let i = s.types.firstIndex(where: { $0.name == r.type.name }) {
                s.types[i].tally.count += 1
                s.types[i].tally.bytes += UInt64(r.payload.count)
            } else {
                s.types.append((r.type.name, TypeTally(count: 1, bytes: UInt64(r.payload.count))))
            }
            do {
                switch r.type {
                case .header:
                    let h = try RecordCodec.decodeHeader(r.payload)
                    s.header = h
                    samples = SampleDecoder(header: h)
                case .sample:
                    // Without a header first, references cannot be resolved; the decoder then reports them.
                    if samples == nil { samples = SampleDecoder(window: 0) }
                    let sample = try samples!.decode(r.payload)
                    if sample.part?.more != true { s.instants += 1 }
                    if s.firstSampleWall == nil { s.firstSampleWall = sample.wallNanos }
                    s.lastSampleWall = sample.wallNanos
                    for f in sample.files {
                        paths.insert(f.path)
                        s.statuses[f.status, default: 0] += 1
                        s.contentBytes += UInt64(f.bytes.count)
                    }
                case .end: s.endReason = try RecordCodec.decodeEnd(r.payload).reason
                default: break
                }
            } catch {
                if s.schemaErrors.count < 5 { s.schemaErrors.append("record \(r.index): \(error.message)") }
            }
        }
        s.format = reader.format
        s.distinctPaths = paths.count
        if let d = samples { s.references = (d.resolved, d.unresolved) }
        s.compressedSize = reader.compressedSize
        s.streamBytes = reader.streamBytes
        s.complete = reader.isComplete
        s.damage = reader.damage
        return s
    }

    /// The human table.
    public func render() -> String {
        var lines: [String] = []
        func row(_ k: String, _ v: String) { lines.append(k.padding(toLength: 14, withPad: " ", startingAt: 0) + v) }
        lines.append(path)
        row("format", format.map { "\($0)" } ?? "unknown")
        if let h = header {
            row("device", h.deviceID + (h.bootID.map { " (boot \($0))" } ?? ""))
            row("agent", "\(h.agent), backend \(h.backend), interval \(Self.seconds(h.intervalNanos))")
            let os = String(decoding: h.osIdentity.prefix(while: { $0 != 0x0A }), as: UTF8.self)
            if !os.isEmpty { row("os", String(os.prefix(100))) }
        }
        if let a = firstSampleWall, let b = lastSampleWall {
            row("span", "\(Self.date(a)) .. \(Self.date(b)) (\(Self.seconds(UInt64(max(0, Nanos.between(a, b))))))")
        }
        let sizes = "\(Self.bytes(compressedSize ?? 0)) compressed, \(Self.bytes(streamBytes)) decompressed"
        row("size", streamBytes > 0 && (compressedSize ?? 0) > 0
            ? sizes + String(format: " (ratio %.1f)", Double(streamBytes) / Double(compressedSize!)) : sizes)
        lines.append("records       type      count        bytes")
        for (name, t) in types {
            lines.append(
                "              " + name.padding(toLength: 8, withPad: " ", startingAt: 0)
                    + String(t.count).leftPad(7) + Self.bytes(t.bytes).leftPad(13))
        }
        if let split = types.first(where: { $0.name == RecordType.sample.name }), split.tally.count != instants {
            row("instants", "\(instants) sampled instants (large ones written as several sample records)")
        }
        if !statuses.isEmpty {
            let st = ReadStatus.allCases.compactMap { s in statuses[s].map { "\(s.rawValue) \($0)" } }.joined(separator: ", ")
            row("files", "\(distinctPaths) paths, \(Self.bytes(contentBytes)) of content; reads: \(st)")
        }
        if references.resolved + references.unresolved > 0 {
            row("references", "\(references.resolved) entries stored as the same as their previous capture"
                + (references.unresolved > 0 ? ", \(references.unresolved) that refer to nothing (read as errors)" : ""))
        }
        for e in schemaErrors { row("schema", e) }
        if let d = damage {
            row("damage", d.description)
        } else if complete {
            row("state", "intact, closed (\(endReason ?? "no reason given"))")
        }
        return lines.joined(separator: "\n")
    }

    /// `2026-11-21T10:00:00Z` for Unix nanoseconds.
    public static func date(_ ns: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: Double(ns) / 1e9))
    }

    static func seconds(_ ns: UInt64) -> String {
        let s = Double(ns) / 1e9
        return s < 120 ? String(format: "%.1f s", s) : s < 7200 ? String(format: "%.1f min", s / 60) : String(format: "%.1f h", s / 3600)
    }

    /// `512 B`, `1.5 KiB`, `3.2 MiB`, `1.25 GiB`.
    public static func bytes(_ n: UInt64) -> String {
        let d = Double(n)
        if d < 1024 { return "\(n) B" }
        if d < 1024 * 1024 { return String(format: "%.1f KiB", d / 1024) }
        if d < 1024 * 1024 * 1024 { return String(format: "%.1f MiB", d / 1_048_576) }
        return String(format: "%.2f GiB", d / 1_073_741_824)
    }
}

extension String {
    fileprivate func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
