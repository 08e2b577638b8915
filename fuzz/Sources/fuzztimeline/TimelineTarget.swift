import FieldAnalysis
import FieldBundle
import FuzzSupport

// A bundle's decompressed stream (what `zstd -dc` prints): its frames get their checksums made right and the
// whole is stored in a zstd frame (BundleFraming), so mutations reach the records rather than stopping at the CRC
// or the compression. The reader's promises must hold (ReaderChecks); then `fieldctl analyze`'s path: the reader,
// the record decoders, the backend's interpreter, the timeline and the detectors. None of it may trap; damage is
// recorded, never fatal.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let stream = Fuzz.input(data, size)
    let bundle = BundleFraming.zstdFrame(storing: BundleFraming.fixingChecksums(stream))
    // The reader on the records as they are, without compression in the way: its promises, whole and cut short.
    ReaderChecks.readWhole(bundle, andCutAt: bundle.count * 3 / 4)
    var timeline = TimelineBuilder()
    timeline.add(BundleReader(bytes: bundle))
    timeline.finish()
    _ = Analyzer().analyze(Array(timeline.devices.values))
    return 0
}
