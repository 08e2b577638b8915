import FieldAnalysis
@testable import FieldBundle
import FieldModel
import FuzzSupport

// One record payload, arbitrary bytes. The general CBOR decoder must give a value that encodes and decodes back
// to itself; every record decoder must refuse or decode without trapping; and the two pairs of paths that exist
// for speed must agree with their general twins, as their tests promise on mutated payloads:
// - the direct sample decoder (SamplePayload) and RecordCodec.decodeSample, with the same reference indices;
// - JSON lines written straight from the payload and through the value tree (`fieldctl decode`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let payload = Fuzz.input(data, size)
    if let v = try? CBORDecoder.decode(payload) {
        var e = CBOREncoder()
        e.encode(v)
        let again = try? CBORDecoder.decode(e.bytes)
        Fuzz.check(again == v, "CBOR value \(v) re-encoded decodes as \(String(describing: again))")
    }

    _ = try? RecordCodec.decodeHeader(payload)
    RecordChecks.checkSample(payload)
    RecordChecks.checkOther(payload, type: nil)

    var fastSame: [Int] = [], generalSame: [Int] = []
    let fast = SamplePayload.decode(payload, previous: [], same: &fastSame)
    let general = try? RecordCodec.decodeSample(payload, same: &generalSame)
    if let fast {
        Fuzz.check(fast == general, "direct sample \(fast) but general \(String(describing: general))")
        Fuzz.check(fastSame == generalSame, "references: direct \(fastSame), general \(generalSame)")
        // Decoded again with itself as the previous sample: storage is shared, the value the same.
        var same: [Int] = []
        let second = SamplePayload.decode(payload, previous: fast.files, same: &same)
        Fuzz.check(second == fast, "a sample decoded after itself differs: \(String(describing: second))")
    }
    // Through the bundle-order decoder, twice: the second resolves references to the first.
    var decoder = SampleDecoder(window: 1)
    _ = try? decoder.decode(payload)
    _ = try? decoder.decode(payload)

    for type in [RecordType.header, .sample] {
        let record = RawRecord(index: 0, offset: 8, type: type, payload: payload)
        var direct: [UInt8] = []
        if JSONLines.appendRecordLine(record, to: &direct) {
            let tree = Array((JSONLines.recordLine(record) + "\n").utf8)
            Fuzz.check(
                direct == tree,
                "JSON line direct \(String(decoding: direct, as: UTF8.self)) tree \(String(decoding: tree, as: UTF8.self))")
        }
        var resolver = JSONLines.Resolver()
        _ = resolver.payload(record)
    }
    return 0
}
