import FieldBundle
import Foundation

/// What the store knows about one bundle; one JSON line of `DIR/<device-id>/index.jsonl`.
public struct StoredBundle: Codable, Sendable, Equatable {
    /// File name inside the device's directory.
    public var name: String
    /// Size in bytes.
    public var bytes: UInt64
    /// SHA-256 of the file, lower-case hex.
    public var sha256: String
    /// When the collector stored it, Unix seconds.
    public var received: Double
    /// Header and end of the bundle.
    public var backend: String
    public var agent: String
    public var bootID: String?
    public var sequence: UInt64
    /// Wall clock at the bundle's start and end, Unix nanoseconds.
    public var startWallNanos: Int64
    public var endWallNanos: Int64
    /// Samples in the bundle.
    public var samples: UInt64
    /// Why the agent closed it (`rotation`, `shutdown`, `recovered`).
    public var endReason: String

    enum CodingKeys: String, CodingKey {
        case name, bytes, sha256, received, backend, agent, sequence, samples
        case bootID = "boot_id"
        case startWallNanos = "start_wall_ns"
        case endWallNanos = "end_wall_ns"
        case endReason = "end_reason"
    }

    /// What makes two uploads the same bundle whatever they are called: within a device, the boot and sequence
    /// its header gives, and the file's digest. The digest alone would do; boot and sequence say what it is.
    struct Identity: Hashable {
        var bootID: String?
        var sequence: UInt64
        var sha256: String
    }

    var identity: Identity { Identity(bootID: bootID, sequence: sequence, sha256: sha256) }
}

/// One line of `fieldctl devices`.
public struct DeviceSummary: Codable, Sendable, Equatable {
    public var device: String
    public var bundles: Int
    public var bytes: UInt64
    public var samples: UInt64
    public var backend: String?
    public var firstWallNanos: Int64?
    public var lastWallNanos: Int64?
    public var lastReceived: Double?

    /// The summary of a device's stored bundles.
    init(device: String, entries: [StoredBundle]) {
        self.device = device
        bundles = entries.count
        bytes = entries.reduce(0) { $0 + $1.bytes }
        samples = entries.reduce(0) { $0 + $1.samples }
        backend = entries.max(by: { $0.endWallNanos < $1.endWallNanos })?.backend
        firstWallNanos = entries.map(\.startWallNanos).min()
        lastWallNanos = entries.map(\.endWallNanos).max()
        lastReceived = entries.map(\.received).max()
    }

    enum CodingKeys: String, CodingKey {
        case device, bundles, bytes, samples, backend
        case firstWallNanos = "first_wall_ns"
        case lastWallNanos = "last_wall_ns"
        case lastReceived = "last_received"
    }
}

/// The collector's store: `DIR/<device-id>/<bundle>.zst`, and per device an `index.jsonl` of what is there.
///
/// Bundles are written to `.<name>.<random>.part` beside their final name, synced, validated and renamed; the
/// index is appended after the rename. The index is a cache of the files, not the truth: on start the store
/// drops index lines whose file is gone, indexes bundles the index lacks (a kill between rename and append), and
/// removes `.part` files of uploads a crash cut off.
public actor Store {
    /// The store's directory.
    public nonisolated let root: String
    private var index: [String: [String: StoredBundle]]
    /// Per device, the name each bundle is stored under, and the names of uploads being renamed into place.
    private var names: [String: [StoredBundle.Identity: String]]
    /// What loading found and repaired, for the log.
    public nonisolated let loadNotes: [String]

    /// Opens (and with `repair`, tidies) the store at `root`, which is created when missing.
    public init(root: String, repair: Bool = true) throws {
        self.root = root
        if repair {
            do {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            } catch {
                throw CollectorError("cannot create the store directory \(root): \(error.localizedDescription)")
            }
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw CollectorError("\(root) is not a directory")
        }
        if repair, access(root, W_OK) != 0 {
            throw CollectorError("cannot write into the store directory \(root): \(String(cString: strerror(errno)))")
        }
        var index: [String: [String: StoredBundle]] = [:]
        var notes: [String] = []
        let devices = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for device in devices.sorted() where SafeName.isSafe(device) {
            var isDevDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root + "/" + device, isDirectory: &isDevDir),
                isDevDir.boolValue
            else { continue }
            index[device] = Self.loadDevice(root: root, device: device, repair: repair, notes: &notes)
        }
        self.index = index
        // Bundles stored twice before identities were kept: the first name answers for both.
        names = index.mapValues { entries in
            var byIdentity: [StoredBundle.Identity: String] = [:]
            for e in entries.values.sorted(by: { $0.name < $1.name }) where byIdentity[e.identity] == nil {
                byIdentity[e.identity] = e.name
            }
            return byIdentity
        }
        self.loadNotes = notes
    }

    private static func loadDevice(root: String, device: String, repair: Bool, notes: inout [String]) -> [String:
        StoredBundle]
    {
        let dir = root + "/" + device
        var entries: [String: StoredBundle] = [:]
        var changed = false
        if let data = FileManager.default.contents(atPath: dir + "/index.jsonl") {
            let decoder = JSONDecoder()
            for line in data.split(separator: UInt8(ascii: "\n")) {
                if let e = try? decoder.decode(StoredBundle.self, from: Data(line)) {
                    entries[e.name] = e
                } else {
                    changed = true
                }
            }
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let bundles = Set(files.filter { $0.hasSuffix(".zst") && SafeName.isSafe($0) })
        for name in entries.keys.sorted() where !bundles.contains(name) {
            entries[name] = nil
            changed = true
            notes.append("\(device)/\(name) is in the index but not on disk: dropped from the index")
        }
        for name in bundles.sorted() {
            let path = dir + "/" + name
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? nil
            if let e = entries[name], e.bytes == size { continue }
            switch inspect(path: path, device: device) {
            case .success(var entry):
                entry.received = Date().timeIntervalSince1970
                entries[name] = entry
                changed = true
                notes.append("indexed \(device)/\(name), which the index lacked")
            case .failure(let why):
                // An entry for it must not stay: a re-upload would be answered "already stored" and the device
                // would delete its good copy.
                if entries.removeValue(forKey: name) != nil { changed = true }
                notes.append("\(device)/\(name) is not a valid bundle (\(why.message)); left out of the index")
            }
        }
        for name in files where name.hasPrefix(".") && name.hasSuffix(".part") && repair {
            try? FileManager.default.removeItem(atPath: dir + "/" + name)
            notes.append("removed \(device)/\(name), an upload cut off by a stop")
        }
        if changed && repair {
            let lines = entries.values.sorted { $0.name < $1.name }.map(Self.jsonLine).joined()
            let temp = dir + "/.index.jsonl.part"
            if FileManager.default.createFile(atPath: temp, contents: Data(lines.utf8)),
                rename(temp, dir + "/index.jsonl") == 0
            {
                notes.append("rewrote \(device)/index.jsonl (\(entries.count) bundles)")
            } else {
                notes.append("cannot rewrite \(device)/index.jsonl; it is rebuilt at the next start")
            }
        }
        return entries
    }

    static func jsonLine(_ e: StoredBundle) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(e), as: UTF8.self) + "\n") ?? ""
    }

    /// Reads a bundle through to its end record. Fails with the reason when it is damaged, not closed, or
    /// written by another device than `device`, and with code `overLimit` when it goes beyond `limits`.
    /// `sha256` is the file's digest when the caller computed it already.
    public static func inspect(path: String, device: String, sha256: [UInt8]? = nil, limits: ReadLimits = .default)
        -> Result<StoredBundle, CollectorError>
    {
        let reader: BundleReader
        do { reader = try BundleReader(path: path, limits: limits) } catch {
            return .failure(CollectorError(error.message))
        }
        var header: BundleHeader?
        var end: BundleEnd?
        var samples: UInt64 = 0
        while let r = reader.next() {
            switch r.type {
            case .header:
                do { header = try RecordCodec.decodeHeader(r.payload) } catch {
                    return .failure(CollectorError("unreadable header: \(error.message)"))
                }
            case .sample: samples += 1
            case .end: end = try? RecordCodec.decodeEnd(r.payload)
            default: break
            }
        }
        if let d = reader.damage {
            if d.kind == .limit { return .failure(CollectorError(d.reason, code: .overLimit)) }
            return .failure(CollectorError("damaged bundle: \(d)"))
        }
        guard let h = header else { return .failure(CollectorError("the bundle has no header record")) }
        guard reader.isComplete, let e = end else {
            return .failure(CollectorError("the bundle was never closed (no end record)"))
        }
        guard h.deviceID == device else {
            return .failure(CollectorError("the bundle was written by device '\(h.deviceID)', not '\(device)'"))
        }
        guard let digest = sha256 ?? SHA256.hash(filePath: path)?.digest else {
            return .failure(CollectorError("cannot read \(path) back"))
        }
        return .success(
            StoredBundle(
                name: String(path.split(separator: "/").last ?? ""), bytes: reader.compressedBytes,
                sha256: ContentDigest.hex(digest),
                received: 0, backend: h.backend, agent: h.agent, bootID: h.bootID, sequence: h.sequence,
                startWallNanos: h.wallNanos, endWallNanos: e.wallNanos, samples: samples, endReason: e.reason))
    }

    // MARK: Queries and updates

    /// The stored bundle of that name, if any.
    public func lookup(device: String, name: String) -> StoredBundle? { index[device]?[name] }

    /// The name under which the same bundle as `entry` (same boot, sequence and digest) is stored or being
    /// stored, if another; otherwise nil, and `entry.name` holds the bundle's identity until `record` or `release`.
    ///
    /// Checked and reserved in one step, so that two uploads of one bundle under two names store it once.
    public func claim(device: String, _ entry: StoredBundle) -> String? {
        if let other = names[device]?[entry.identity], other != entry.name { return other }
        names[device, default: [:]][entry.identity] = entry.name
        return nil
    }

    /// Gives up what `claim` reserved for an upload that was not stored after all.
    public func release(device: String, _ entry: StoredBundle) {
        guard names[device]?[entry.identity] == entry.name, index[device]?[entry.name] == nil else { return }
        names[device]?[entry.identity] = nil
    }

    /// Records a bundle that was just renamed into place.
    public func record(device: String, _ entry: StoredBundle) throws {
        index[device, default: [:]][entry.name] = entry
        if names[device]?[entry.identity] == nil { names[device, default: [:]][entry.identity] = entry.name }
        let path = root + "/" + device + "/index.jsonl"
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw CollectorError("cannot append to \(path); the index is rebuilt at the next start")
        }
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(Self.jsonLine(entry).utf8))
    }

    /// Device count and bundle count.
    public func counts() -> (devices: Int, bundles: Int) { (index.count, index.values.reduce(0) { $0 + $1.count }) }

    /// One summary per device, by device id.
    public func devices() -> [DeviceSummary] {
        index.keys.sorted().map { device in DeviceSummary(device: device, entries: Array(index[device]!.values)) }
    }

    /// The bundles of one device, oldest first.
    public func bundles(device: String) -> [StoredBundle] {
        (index[device].map { Array($0.values) } ?? []).sorted { $0.name < $1.name }
    }
}
