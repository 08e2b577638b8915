import FieldBundle
import FuzzSupport

// The bytes of a whole `.zst` bundle, as a collector or `fieldctl` receives it: the reader's promises
// (ReaderChecks), on the input and on its first half; never a trap, a hang or memory without bound (libFuzzer's
// -timeout and -rss_limit_mb watch the last two). Every record is decoded as readers do (RecordChecks).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.input(data, size)
    var checks = RecordChecks()
    ReaderChecks.readWhole(bytes, andCutAt: bytes.count / 2) { checks.check($0) }
    return 0
}
