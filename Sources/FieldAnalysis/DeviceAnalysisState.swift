import CZstd
import FieldBundle
import Foundation

/// One device's analysis carried from bundle to bundle, so that each bundle is read once however long the device
/// reports: the timeline so far (bounded whatever the soak's length: see `Series` and `RetiredProcesses`) and the
/// names of the bundles in it. The collector keeps it in the store beside the bundles (docs/fleet.md, "Fleet
/// health"), so a restarted collector, or a second one sharing the store, carries on where the state says.
///
/// Adding bundles to a state gives the timeline that reading every bundle at once gives (the incremental tests
/// compare the two), as long as the bundles come in name order, which is time order. A bundle older than the
/// newest already in is still added; like bundles given out of order to `fieldctl analyze`, it turns off the
/// folding of ended processes for that device.
public struct DeviceAnalysisState: Sendable, Codable {
    /// The layout of the encoded state; a state of another version is started afresh.
    public static let currentVersion = 1
    /// See `currentVersion`.
    public var version = DeviceAnalysisState.currentVersion
    /// The device.
    public var device: String
    /// Names of the bundles in `timeline`, ascending.
    public private(set) var folded: [String] = []
    /// The timeline so far, not finished (`finished` puts a copy in order for the detectors).
    public private(set) var timeline: DeviceTimeline?

    /// Nothing read yet.
    public init(device: String) { self.device = device }

    /// Of the names a store lists for the device, those not in the state yet, ascending.
    public func unfolded(_ names: [String]) -> [String] {
        let have = Set(folded)
        return names.filter { !have.contains($0) }.sorted()
    }

    /// The folded bundles to `prime` the interpreter with before adding more: the newest two. The interpreter
    /// remembers each process's last deep capture, and the agent reads deep files at least every `--deep-every`
    /// intervals (10 by default), so two bundles cover it unless bundles are shorter than that.
    public var primingNames: [String] { Array(folded.suffix(2)) }

    /// Adds bundles, oldest first: `name` as the store lists it, `path` where to read it. `priming`: the paths of
    /// `primingNames`, oldest first (missing ones are skipped). A bundle that cannot be opened is not added and
    /// its name comes back, to be tried again.
    public mutating func add(_ bundles: [(name: String, path: String)], priming: [String]) -> [String] {
        var builder = TimelineBuilder()
        if let t = timeline {
            builder.resume(t)
            for p in priming {
                if let r = try? BundleReader(path: p) { builder.prime(r) }
            }
        }
        var failed: [String] = []
        var added: [String] = []
        for b in bundles {
            guard let reader = try? BundleReader(path: b.path) else {
                failed.append(b.name)
                continue
            }
            builder.add(reader)
            added.append(b.name)
        }
        timeline = builder.devices[device] ?? builder.devices.values.first
        folded = (folded + added).sorted()
        return failed
    }

    /// The timeline in the order the detectors need (`TimelineBuilder.finish`), or nil before any bundle.
    public var finished: DeviceTimeline? {
        guard let t = timeline else { return nil }
        var builder = TimelineBuilder()
        builder.resume(t)
        builder.finish()
        return builder.devices[t.device]
    }

    // MARK: Encoding

    /// The state as stored: JSON, zstd-compressed.
    public func encoded() throws(AnalysisStateError) -> [UInt8] {
        let encoder = JSONEncoder()
        // An empty series' extremes are infinite.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let json: Data
        do { json = try encoder.encode(self) } catch { throw AnalysisStateError("cannot encode the state of \(device): \(error)") }
        return try Self.compress(Array(json))
    }

    /// A stored state. Damaged, of another version, or larger than `maxBytes` decompressed: an error (the caller
    /// starts afresh).
    public static func decode(_ bytes: [UInt8], maxBytes: Int = 1 << 30) throws(AnalysisStateError) -> DeviceAnalysisState {
        let json = try decompress(bytes, maxBytes: maxBytes)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        struct Version: Decodable { var version: Int }
        guard let v = try? decoder.decode(Version.self, from: Data(json)) else { throw AnalysisStateError("not an analysis state") }
        guard v.version == currentVersion else {
            throw AnalysisStateError("an analysis state of version \(v.version), not \(currentVersion)")
        }
        do { return try decoder.decode(DeviceAnalysisState.self, from: Data(json)) } catch {
            throw AnalysisStateError("a damaged analysis state: \(error)")
        }
    }

    static func compress(_ input: [UInt8]) throws(AnalysisStateError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let n = out.withUnsafeMutableBytes { o in
            input.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, o.count, i.baseAddress, i.count, 3) }
        }
        guard ZSTD_isError(n) == 0 else { throw AnalysisStateError("zstd: \(String(cString: ZSTD_getErrorName(n)))") }
        out.removeLast(out.count - n)
        return out
    }

    /// Streamed (a frame need not say its size), stopping at `maxBytes`.
    static func decompress(_ input: [UInt8], maxBytes: Int) throws(AnalysisStateError) -> [UInt8] {
        guard let ctx = ZSTD_createDCtx() else { throw AnalysisStateError("zstd: out of memory") }
        defer { ZSTD_freeDCtx(ctx) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var last = 0
        var error: String?
        input.withUnsafeBytes { i in
            var inBuf = ZSTD_inBuffer(src: i.baseAddress, size: i.count, pos: 0)
            while error == nil {
                let produced: Int = chunk.withUnsafeMutableBytes { o in
                    var outBuf = ZSTD_outBuffer(dst: o.baseAddress, size: o.count, pos: 0)
                    last = ZSTD_decompressStream(ctx, &outBuf, &inBuf)
                    return outBuf.pos
                }
                if ZSTD_isError(last) != 0 {
                    error = String(cString: ZSTD_getErrorName(last))
                    break
                }
                out += chunk[0..<produced]
                if out.count > maxBytes { error = "over the \(maxBytes)-byte limit"; break }
                // Done when the frame ended (0) or when the input is used up and nothing more came out.
                if last == 0 || (inBuf.pos == inBuf.size && produced < chunk.count) { break }
            }
        }
        if let e = error { throw AnalysisStateError("damaged: \(e)") }
        guard last == 0 else { throw AnalysisStateError("damaged: the state ends early") }
        return out
    }
}

/// Why a device's analysis state could not be encoded or read.
public struct AnalysisStateError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
