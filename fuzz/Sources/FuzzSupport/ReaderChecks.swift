import FieldBundle

/// What `BundleReader` promises about any input, checked on one: records with consecutive indices at increasing
/// offsets, one stop (complete, or damaged with the count of what it delivered), and, for the same bytes cut short,
/// every record it delivers is one the whole input delivers at the same place ("a truncated or damaged bundle
/// yields every complete record before the damage").
public enum ReaderChecks {
    /// Reads `bytes` to the end, checking the reader on the way; each record goes to `body` as it comes.
    @discardableResult
    public static func read(_ bytes: [UInt8], _ body: (RawRecord) -> Void = { _ in }) -> [RawRecord] {
        read(BundleReader(bytes: bytes), bytes.count, body)
    }

    static func read(_ reader: BundleReader, _ size: Int, _ body: (RawRecord) -> Void = { _ in }) -> [RawRecord] {
        var records: [RawRecord] = []
        while let r = reader.next() {
            Fuzz.check(r.index == records.count, "record \(records.count) came with index \(r.index)")
            Fuzz.check(
                records.last.map { r.offset > $0.offset } ?? true,
                "record \(r.index) at offset \(r.offset), not after the one before")
            records.append(r)
            body(r)
        }
        Fuzz.check(reader.next() == nil, "a record after the reader stopped")
        Fuzz.check(reader.recordCount == records.count, "recordCount \(reader.recordCount) after \(records.count) records")
        Fuzz.check(
            reader.isComplete != (reader.damage != nil),
            "complete \(reader.isComplete) with damage \(String(describing: reader.damage))")
        if let d = reader.damage {
            Fuzz.check(
                d.records == records.count, "damage says \(d.records) intact records, \(records.count) were delivered")
            Fuzz.check(
                d.compressedOffset <= UInt64(size), "damage at compressed byte \(d.compressedOffset) of \(size)")
        }
        return records
    }

    /// Whether a damaged input must deliver every record its cut-short form delivers. On since the reader decodes
    /// a failed stretch again unit by unit (corpus: bundle/regression-damaged-record-lost, which it once lost).
    public static let damagedKeepsEveryEarlierRecord = true

    /// `read` on `bytes`, then on its first `cut` bytes: the second's records must be a prefix of the first's.
    public static func readWhole(_ bytes: [UInt8], andCutAt cut: Int, _ body: (RawRecord) -> Void = { _ in }) {
        let reader = BundleReader(bytes: bytes)
        let whole = read(reader, bytes.count, body)
        let part = read(BundleReader(bytes: Array(bytes.prefix(cut))), cut)
        let strict = reader.damage == nil || damagedKeepsEveryEarlierRecord
        Fuzz.check(
            (part.count <= whole.count || !strict) && zip(part, whole).allSatisfy { $0 == $1 },
            "cut at byte \(cut) of \(bytes.count), \(part.count) records, not the first of the whole's \(whole.count)")
    }
}
