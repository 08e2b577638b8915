import FieldBundle
import FuzzSupport

// The bytes of a whole `.zst` bundle, as a collector or `fieldctl` receives it: the reader must deliver intact
// records in order, end in exactly one of "complete" and "damaged", and never trap, hang or allocate without
// bound (libFuzzer's -timeout and -rss_limit_mb watch the last two). Every record is decoded as readers do.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.input(data, size)
    let reader = BundleReader(bytes: bytes)
    var checks = RecordChecks()
    var count = 0
    var offset: UInt64 = 0
    while let r = reader.next() {
        Fuzz.check(r.index == count, "record \(count) came with index \(r.index)")
        Fuzz.check(count == 0 || r.offset > offset, "record \(count) at stream offset \(r.offset), not after \(offset)")
        offset = r.offset
        count += 1
        checks.check(r)
    }
    Fuzz.check(reader.next() == nil, "a record after the reader stopped")
    Fuzz.check(reader.recordCount == count, "recordCount \(reader.recordCount) after \(count) records")
    Fuzz.check(
        reader.isComplete != (reader.damage != nil),
        "complete \(reader.isComplete) with damage \(String(describing: reader.damage))")
    if let d = reader.damage {
        Fuzz.check(d.records == count, "damage says \(d.records) intact records, \(count) were delivered")
        Fuzz.check(
            d.compressedOffset <= UInt64(bytes.count),
            "damage at compressed byte \(d.compressedOffset) of \(bytes.count)")
    }
    return 0
}
