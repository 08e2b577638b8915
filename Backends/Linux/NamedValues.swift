/// What a parsed procfs number counts.
public enum ValueUnit: String, Sendable, Hashable, CaseIterable {
    /// Bytes (converted from the kernel's `kB`, which means KiB).
    case bytes
    /// A plain count, printed without a unit (pages, events, `HugePages_*`).
    case count
}

/// One `name value` pair of a procfs table such as `meminfo`, `vmstat` or `smaps_rollup`.
public struct NamedValue: Sendable, Hashable {
    /// The name as the kernel printed it, without the colon (e.g. `MemTotal`, `Active(anon)`, `oom_kill`).
    public var name: String
    /// The value, in bytes when `unit == .bytes`.
    public var value: UInt64
    /// What the value counts.
    public var unit: ValueUnit

    /// Creates a pair.
    public init(name: String, value: UInt64, unit: ValueUnit) {
        self.name = name
        self.value = value
        self.unit = unit
    }
}

/// An ordered table of named numbers, looked up by name because fields come and go between kernel versions.
public struct NamedValues: Sendable, Hashable {
    /// The pairs in file order.
    public private(set) var entries: [NamedValue] = []
    /// Lines that did not parse as `name value`.
    public private(set) var skippedLines = 0
    /// The first of them, as printed (cut to `UnusableValue.textLimit` bytes).
    public private(set) var firstSkippedLine: String?
    private var index: [String: Int] = [:]

    /// Creates an empty table.
    public init() {}

    /// Creates a table from pairs; the first pair of a repeated name wins lookups.
    public init(_ entries: [NamedValue], skippedLines: Int = 0) {
        for e in entries { append(e) }
        self.skippedLines = skippedLines
    }

    /// The value of `name` (bytes for `kB` fields), or nil when this kernel does not print it.
    public subscript(name: String) -> UInt64? {
        index[name].map { entries[$0].value }
    }

    /// Whether the table has no pairs.
    public var isEmpty: Bool { entries.isEmpty }

    mutating func append(_ e: NamedValue) {
        if index[e.name] == nil { index[e.name] = entries.count }
        entries.append(e)
    }

    mutating func skip(_ buf: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) {
        skippedLines += 1
        if firstSkippedLine == nil { firstSkippedLine = ProcText.excerpt(buf, line) }
    }

    /// Parses `Name: value [kB]` lines (meminfo, smaps_rollup, per-node tables). Lines without a colon, or whose
    /// value is not a number with an optional `kB`, are counted as skipped. Lines for which `isHeader` answers
    /// true are dropped without counting.
    static func parseColonTable(
        _ buf: UnsafeBufferPointer<UInt8>,
        isHeader: (UnsafeBufferPointer<UInt8>, Range<Int>) -> Bool = { _, _ in false }
    ) -> NamedValues {
        var table = NamedValues()
        ProcText.forEachLine(buf) { line in
            let r = ProcText.trimmed(buf, line)
            if r.isEmpty { return }
            if isHeader(buf, r) { return }
            guard let c = ProcText.firstIndex(of: ProcText.colon, in: buf, r) else { table.skip(buf, r); return }
            let key = ProcText.trimmed(buf, r.lowerBound..<c)
            guard !key.isEmpty, let q = ProcText.quantity(buf, (c + 1)..<r.upperBound) else { table.skip(buf, r); return }
            table.append(NamedValue(name: ProcText.string(buf, key), value: q.value, unit: q.unit))
        }
        return table
    }

    /// Parses `name value` lines separated by blanks (vmstat).
    static func parseSpaceTable(_ buf: UnsafeBufferPointer<UInt8>) -> NamedValues {
        var table = NamedValues()
        ProcText.forEachLine(buf) { line in
            let r = ProcText.trimmed(buf, line)
            if r.isEmpty { return }
            let t = ProcText.tokens(buf, r)
            guard t.count == 2, let v = ProcText.decimal(buf, t[1]) else { table.skip(buf, r); return }
            table.append(NamedValue(name: ProcText.string(buf, t[0]), value: v, unit: .count))
        }
        return table
    }
}
