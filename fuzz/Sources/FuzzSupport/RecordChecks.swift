import FieldBundle
import FieldModel

/// Decodes records the way readers of bundles do, and checks what the codec promises: a payload it decoded
/// encodes to one that decodes to the same value (nothing read is lost or changed by writing it again).
public struct RecordChecks {
    /// Resolves sample references in bundle order, as `fieldctl analyze` does.
    public var samples = SampleDecoder(window: 0)

    /// Checks with nothing read yet.
    public init() {}

    /// Decodes `r` by its type; unknown types are skipped, as readers skip them.
    public mutating func check(_ r: RawRecord) {
        switch r.type {
        case .header:
            guard let h = try? RecordCodec.decodeHeader(r.payload) else { return }
            samples = SampleDecoder(header: h)
            Self.roundTrip(h, RecordCodec.encode, RecordCodec.decodeHeader)
        case .sample:
            _ = try? samples.decode(r.payload)
            Self.checkSample(r.payload)
        default:
            Self.checkOther(r.payload, type: r.type)
        }
    }

    /// Every decoder but the header's and the sample's on `payload`, with its round trip, for `type` (every
    /// decoder for a type this version does not know).
    public static func checkOther(_ payload: [UInt8], type: RecordType?) {
        if type == nil || type == .event, let v = try? RecordCodec.decodeEvent(payload) {
            roundTrip(v, RecordCodec.encode, RecordCodec.decodeEvent)
        }
        if type == nil || type == .stats, let v = try? RecordCodec.decodeStats(payload) {
            roundTrip(v, RecordCodec.encode, RecordCodec.decodeStats)
        }
        if type == nil || type == .loss, let v = try? RecordCodec.decodeLoss(payload) {
            roundTrip(v, RecordCodec.encode, RecordCodec.decodeLoss)
        }
        if type == nil || type == .end, let v = try? RecordCodec.decodeEnd(payload) {
            roundTrip(v, RecordCodec.encode, RecordCodec.decodeEnd)
        }
    }

    /// The sample decoder on its own, with its round trip.
    ///
    /// Two things a decoded sample may hold that its encoding does not carry are set aside first: read times
    /// beyond what microseconds express (decoding multiplies by 1000, wrapping) and bytes of an entry whose status
    /// is not `ok`. Neither comes from a writer.
    public static func checkSample(_ payload: [UInt8]) {
        guard var s = try? RecordCodec.decodeSample(payload) else { return }
        for i in s.files.indices {
            s.files[i].readNanos = 0
            if s.files[i].status != .ok { s.files[i].bytes = [] }
        }
        roundTrip(s, { RecordCodec.encode($0) }, RecordCodec.decodeSample)
    }

    static func roundTrip<T: Equatable>(
        _ value: T, _ encode: (T) -> [UInt8], _ decode: ([UInt8]) throws(BundleError) -> T
    ) {
        let again: T
        do { again = try decode(encode(value)) } catch {
            Fuzz.check(false, "\(T.self) decoded, encoded again, fails to decode: \(error)")
            return
        }
        Fuzz.check(again == value, "\(T.self) changes through encoding: \(value) became \(again)")
    }
}
