import FieldBundle
import Foundation

/// The collector's store in an S3-compatible object store, for collectors that share one bucket.
///
/// Keys under the location's prefix, per device (an upload looks its name up first: a different bundle there is a
/// conflict, the same one is already stored):
/// - `DEVICE/NAME.zst`: the bundle, created only if absent (`If-None-Match: *`), its SHA-256 in the metadata
///   `x-amz-meta-field-sha256`. The store checks the body against the signed digest before it answers, and the
///   collector reads the object's size and digest back before it acknowledges.
/// - `DEVICE/.ids/BOOT.SEQUENCE.SHA256`: the bundle's identity, created only if absent, holding the name it is
///   stored under. Two collectors given one bundle under two names both try to create it; one wins, and the other
///   answers "already stored as" the winner's name, after making sure that name holds the bundle (writing it there
///   itself if the winner died before it could: the bytes are the same).
/// - `DEVICE/.index/NAME.json`: what the file store's index line says, for `fieldctl devices` without reading bundles.
/// - `.analysis/DEVICE.state`: the device's analysis so far, for the metrics (`DeviceAnalysisState`): any collector
///   adds the bundles it does not name yet and writes it back.
///
/// Nothing is kept in memory: every collector sees what the others stored.
public struct ObjectStore: Sendable {
    public let client: S3Client
    public var location: S3Location { client.location }

    public init(_ location: S3Location) { client = S3Client(location) }

    /// What storing an upload came to.
    public enum Stored: Sendable, Equatable {
        case created
        /// The same bundle is stored under this name (this one, when it was stored before).
        case already(String)
        /// Another bundle has this name.
        case conflict
    }

    func bundleKey(_ device: String, _ name: String) -> String { location.key("\(device)/\(name)") }
    func identityKey(_ device: String, _ e: StoredBundle) -> String {
        location.key("\(device)/.ids/\(e.bootID ?? "no-boot").\(e.sequence).\(e.sha256)")
    }
    func indexKey(_ device: String, _ name: String) -> String { location.key("\(device)/.index/\(name).json") }

    /// Checks that the store can be listed with these credentials: `fieldctl serve` fails at the start, not at
    /// the first upload.
    public func probe() throws(CollectorError) {
        if case .failure(let e) = client.list(prefix: location.key(".probe/")) { throw e }
    }

    /// Stores the checked bundle at `file` (its entry from `Store.inspect`). Blocking.
    public func store(file: String, device: String, _ entry: StoredBundle) -> Result<Stored, CollectorError> {
        let name = entry.name
        // The name first, as the file store does: a different bundle under a taken name is a conflict, whatever
        // else is stored.
        switch client.head(key: bundleKey(device, name)) {
        case .failure(let e): return .failure(e)
        case .success(let h) where h.status == 200:
            return .success(h.headers["x-amz-meta-field-sha256"] == entry.sha256 ? .already(name) : .conflict)
        case .success(let h) where h.status == 404: break
        case .success(let h): return .failure(CollectorError("looking up \(bundleKey(device, name)): \(h.summary)"))
        }
        // Then the identity: the winner's name answers for the bundle under any other name.
        let idKey = identityKey(device, entry)
        switch client.create(key: idKey, bytes: Array(name.utf8), sha256: ContentDigest.hex(SHA256.hash(Array(name.utf8)))) {
        case .failure(let e): return .failure(e)
        case .success(let a) where a.status == 200: break
        case .success(let a) where a.status == 412:
            let claimed: String
            switch client.get(key: idKey) {
            case .failure(let e): return .failure(e)
            case .success(let g) where g.status == 200: claimed = g.text
            case .success(let g): return .failure(CollectorError("reading \(idKey): \(g.summary)"))
            }
            if claimed != name, SafeName.isSafe(claimed) {
                switch put(file: file, device: device, entry, as: claimed) {
                case .failure(let e): return .failure(e)
                case .success(.conflict): break  // that name holds another bundle: this one gets its own
                case .success: return .success(.already(claimed))
                }
            }
        case .success(let a): return .failure(CollectorError("creating \(idKey): \(a.summary)"))
        }
        return put(file: file, device: device, entry, as: name)
    }

    /// Creates the bundle object `name` unless it exists; `.already(name)` when it holds these same bytes.
    func put(file: String, device: String, _ entry: StoredBundle, as name: String) -> Result<Stored, CollectorError> {
        let key = bundleKey(device, name)
        let created: Bool
        switch client.create(key: key, file: file, sha256: entry.sha256, metadata: ["field-sha256": entry.sha256]) {
        case .failure(let e): return .failure(e)
        case .success(let a) where a.status == 200: created = true
        case .success(let a) where a.status == 412: created = false
        case .success(let a): return .failure(CollectorError("storing \(key): \(a.summary)"))
        }
        // Read back: the object whole (its size) and this bundle (its digest), before anyone is told so.
        switch client.head(key: key) {
        case .failure(let e): return .failure(e)
        case .success(let h) where h.status == 200:
            let digest = h.headers["x-amz-meta-field-sha256"]
            let size = h.headers["content-length"].flatMap { UInt64($0) }
            if digest != entry.sha256 || size != entry.bytes {
                if created {
                    return .failure(
                        CollectorError("\(key) reads back as \(size.map(String.init) ?? "?") bytes, digest \(digest ?? "none")"))
                }
                return .success(.conflict)
            }
        case .success(let h): return .failure(CollectorError("reading back \(key): \(h.summary)"))
        }
        var indexed = entry
        indexed.name = name
        // The index object is a convenience: a bundle without one is still listed (from its key and size).
        if let json = try? JSONEncoder().encode(indexed) { _ = client.put(key: indexKey(device, name), bytes: Array(json)) }
        return .success(created && name == entry.name ? .created : .already(name))
    }

    func stateKey(_ device: String) -> String { location.key(".analysis/\(device).state") }

    /// The device's stored analysis state, nil when there is none.
    public func analysisState(device: String) -> Result<[UInt8]?, CollectorError> {
        switch client.get(key: stateKey(device)) {
        case .failure(let e): return .failure(e)
        case .success(let a) where a.status == 200: return .success(a.body)
        case .success(let a) where a.status == 404: return .success(nil)
        case .success(let a): return .failure(CollectorError("reading \(stateKey(device)): \(a.summary)"))
        }
    }

    /// Replaces the device's analysis state.
    public func saveAnalysisState(device: String, _ bytes: [UInt8]) -> Result<Void, CollectorError> {
        client.put(key: stateKey(device), bytes: bytes).flatMap { a in
            (200..<300).contains(a.status) ? .success(()) : .failure(CollectorError("writing \(stateKey(device)): \(a.summary)"))
        }
    }

    /// The names of a device's bundles, from one listing (no object is read).
    public func bundleNames(device: String) -> Result<[String], CollectorError> {
        let base = location.key("\(device)/")
        return client.list(prefix: base).map { listing in
            listing.objects.compactMap { o in
                let name = String(o.key.dropFirst(base.count))
                return name.hasSuffix(".zst") && !name.contains("/") ? name : nil
            }.sorted()
        }
    }

    /// Devices under the prefix.
    public func deviceIDs() -> Result<[String], CollectorError> {
        client.list(prefix: location.key(""), delimiter: "/").map { listing in
            listing.prefixes.compactMap { p in
                let device = String(p.dropFirst(location.key("").count).dropLast())
                return SafeName.isSafe(device) ? device : nil
            }.sorted()
        }
    }

    /// The bundles of a device, oldest (by name) first: from the index objects, and from the bundle objects'
    /// names and sizes where an index object is missing.
    public func bundles(device: String) -> Result<[StoredBundle], CollectorError> {
        let base = location.key("\(device)/")
        let listing: [S3Object]
        switch client.list(prefix: base) {
        case .failure(let e): return .failure(e)
        case .success(let l): listing = l.objects
        }
        var entries: [String: StoredBundle] = [:]
        for o in listing where o.key.hasPrefix(base + ".index/") && o.key.hasSuffix(".json") {
            guard case .success(let a) = client.get(key: o.key), a.status == 200,
                let e = try? JSONDecoder().decode(StoredBundle.self, from: Data(a.body))
            else { continue }
            entries[e.name] = e
        }
        var out: [StoredBundle] = []
        for o in listing where o.key.hasSuffix(".zst") && !o.key.dropFirst(base.count).contains("/") {
            let name = String(o.key.dropFirst(base.count))
            out.append(
                entries[name]
                    ?? StoredBundle(
                        name: name, bytes: o.size, sha256: "", received: 0, backend: "", agent: "", bootID: nil,
                        sequence: 0, startWallNanos: 0, endWallNanos: 0, samples: 0, endReason: ""))
        }
        return .success(out.sorted { $0.name < $1.name })
    }

    /// One summary per device.
    public func devices() -> Result<[DeviceSummary], CollectorError> {
        deviceIDs().flatMap { ids in
            var out: [DeviceSummary] = []
            for id in ids {
                switch bundles(device: id) {
                case .failure(let e): return .failure(e)
                case .success(let b): out.append(DeviceSummary(device: id, entries: b))
                }
            }
            return .success(out)
        }
    }

    /// Per device, the bundles' count and bytes and the latest write, from one listing of the whole prefix (no
    /// object is read): what the collector's metrics need every minute.
    public func summaries() -> Result<[DeviceSummary], CollectorError> {
        let base = location.key("")
        return client.list(prefix: base).map { listing in
            var byDevice: [String: DeviceSummary] = [:]
            for o in listing.objects where o.key.hasSuffix(".zst") {
                let parts = o.key.dropFirst(base.count).split(separator: "/")
                guard parts.count == 2, SafeName.isSafe(String(parts[0])) else { continue }
                let device = String(parts[0])
                var d = byDevice[device] ?? DeviceSummary(device: device, entries: [])
                d.bundles += 1
                d.bytes += o.size
                if let m = o.modified { d.lastReceived = max(d.lastReceived ?? 0, m) }
                byDevice[device] = d
            }
            return byDevice.keys.sorted().map { byDevice[$0]! }
        }
    }

    /// Downloads a device's bundle to `path`.
    public func download(device: String, name: String, to path: String) -> Result<Void, CollectorError> {
        switch client.get(key: bundleKey(device, name)) {
        case .failure(let e): return .failure(e)
        case .success(let a) where a.status == 200:
            guard FileManager.default.createFile(atPath: path, contents: Data(a.body)) else {
                return .failure(CollectorError("cannot write \(path)"))
            }
            return .success(())
        case .success(let a): return .failure(CollectorError("reading \(bundleKey(device, name)): \(a.summary)"))
        }
    }
}
