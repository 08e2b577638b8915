import CFieldCRC
import FieldModel

// Format 1.1: an entry whose content equals the same path's previous capture in the bundle is stored as a
// reference (status `same`, no data) instead of its bytes. Most cheap files repeat from one sample to the next, so
// the compressor then sees only what changed: less work per sample and a smaller window (docs/bundle-format.md,
// 3.2). The writer's side is `ReferenceTable`, the reader's `SampleDecoder`; both keep at most `window` samples
// of memory, so a reader needs no more than the writer did.

/// What the writer remembers of the content it last stored for one path.
struct ContentPrint: Equatable {
    var hash: UInt64
    var count: Int
    var kind: EntryKind
    var truncated: Bool
}

/// The writer's memory of what each path last held in this bundle, to decide which entries become references.
///
/// Content is compared by a seeded 64-bit fingerprint (XXH64) plus length, kind and size-limit flag, not byte for
/// byte, so that the writer need not keep a copy of every file: two different contents of equal length would have
/// to share a fingerprint, which for a 64-bit hash happens with probability 2^-64 per entry. The seed changes with
/// every writer, so no content can be crafted to collide.
struct ReferenceTable {
    private struct Last {
        var print: ContentPrint
        /// Index of the sample record (in this bundle, from 0) that last stored this path.
        var sample: UInt64
    }

    /// How many sample records back a reference may point; 0 turns references off.
    let window: UInt64
    private let seed: UInt64
    private var last: [String: Last] = [:]
    /// Sample records written so far.
    private var samples: UInt64 = 0

    init(window: UInt64, seed: UInt64) {
        self.window = window
        self.seed = seed
    }

    /// The fingerprints of `s`'s entries (nil for entries without content) and which entries can be stored as
    /// references. Nothing is remembered until `commit`, so a sample that fails to be written leaves no trace.
    func plan(_ s: Sample) -> (prints: [ContentPrint?], same: [Bool]) {
        guard window > 0 else { return ([], []) }
        var prints = [ContentPrint?](repeating: nil, count: s.files.count)
        var same = [Bool](repeating: false, count: s.files.count)
        for (i, f) in s.files.enumerated() where f.status == .ok {
            let hash = f.bytes.withUnsafeBytes { field_hash64($0.baseAddress, $0.count, seed) }
            let p = ContentPrint(hash: hash, count: f.bytes.count, kind: f.kind, truncated: f.truncated)
            prints[i] = p
            if let l = last[f.path], l.print == p, samples - l.sample <= window { same[i] = true }
        }
        return (prints, same)
    }

    /// Remembers a sample record that was written with `plan`'s result.
    mutating func commit(_ s: Sample, prints: [ContentPrint?]) {
        guard window > 0 else { return }
        for (i, f) in s.files.enumerated() {
            if let p = prints[i] { last[f.path] = Last(print: p, sample: samples) } else { last[f.path] = nil }
        }
        samples += 1
        // Paths not read for a whole window (exited processes) are forgotten, so memory follows the live system.
        if samples % window == 0 { last = last.filter { samples - $0.value.sample <= window } }
    }
}

/// Decodes the sample records of one bundle, in order, into complete samples: an entry stored as `same` gets the
/// content of the same path's previous capture.
///
/// Feed it every sample record of the bundle from the first, in stream order (a `BundleReader` delivers them so).
/// A reference it cannot resolve (its capture is not among the last `same_window` samples, or was not `ok`, or is
/// of another kind) comes back as status `.error` without bytes and is counted in `unresolved`; a writer following
/// the format never produces one.
public struct SampleDecoder {
    private struct Last {
        var capture: FileCapture
        var sample: UInt64
    }

    /// The header's `same_window`.
    public let window: UInt64
    /// References resolved so far.
    public private(set) var resolved: Int = 0
    /// References that could not be resolved so far.
    public private(set) var unresolved: Int = 0
    private var last: [String: Last] = [:]
    private var samples: UInt64 = 0
    /// The previous sample's entries, resolved.
    private var previous: [FileCapture] = []

    /// A decoder for the bundle that starts with `header`.
    public init(header: BundleHeader) {
        window = header.sameWindow
    }

    /// A decoder for a bundle whose header said `same_window` is `window` (0: it may not hold references).
    public init(window: UInt64) {
        self.window = window
    }

    /// Decodes the next sample record of the bundle.
    public mutating func decode(_ payload: [UInt8]) throws(BundleError) -> Sample {
        var same: [Int] = []
        var s: Sample
        if let fast = SamplePayload.decode(payload, previous: previous, same: &same) {
            s = fast
        } else {
            same.removeAll()
            s = try RecordCodec.decodeSample(payload, same: &same)
        }
        var next = 0
        for i in s.files.indices {
            let isSame = next < same.count && same[next] == i
            if isSame { next += 1 }
            let path = s.files[i].path
            if isSame {
                if let l = last[path], samples - l.sample <= window, l.capture.kind == s.files[i].kind {
                    s.files[i].status = .ok
                    s.files[i].truncated = l.capture.truncated
                    s.files[i].bytes = l.capture.bytes
                    resolved += 1
                } else {
                    unresolved += 1
                    last[path] = nil
                    continue
                }
            }
            if s.files[i].status == .ok {
                last[path] = Last(capture: s.files[i], sample: samples)
            } else {
                last[path] = nil
            }
        }
        samples += 1
        if window > 0, samples % window == 0 { last = last.filter { samples - $0.value.sample <= window } }
        previous = s.files
        return s
    }
}
