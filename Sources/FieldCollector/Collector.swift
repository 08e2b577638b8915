import FieldBundle
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore

/// Settings of `fieldctl serve`.
public struct CollectorConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var storeDirectory: String
    public var tokens: Tokens
    /// Where `tokens` came from: SIGHUP reads it again, so devices can be added without a restart.
    public var tokensPath: String?
    /// Larger uploads are refused with 413.
    public var maxBundleBytes: UInt64
    /// How much decompressing an upload to check it may produce (413 beyond).
    public var stream: StreamLimit
    /// Timeouts and the connection cap.
    public var connections: ConnectionPolicy
    /// Bundles go to this object store; `storeDirectory` then only holds uploads being received and checked.
    public var objectStore: S3Location?
    /// Seconds between two looks at the store for `GET /metrics` (and at least between two analyses of a device).
    public var metricsInterval: Double = 60
    /// HTTPS with this certificate and key; nil serves plain HTTP (a trusted lab network only: tokens and bundles
    /// cross it in the clear, and the log says so).
    public var tls: TLSFiles?
    /// Called once the server listens, with the bound address (the port is the real one when 0 was asked for).
    public var onListening: @Sendable (String) -> Void

    public init(
        host: String, port: Int, storeDirectory: String, tokens: Tokens, tokensPath: String? = nil,
        maxBundleBytes: UInt64 = 64 << 20, stream: StreamLimit = StreamLimit(),
        connections: ConnectionPolicy = ConnectionPolicy(), objectStore: S3Location? = nil, tls: TLSFiles? = nil,
        onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.storeDirectory = storeDirectory
        self.tokens = tokens
        self.tokensPath = tokensPath
        self.maxBundleBytes = maxBundleBytes
        self.stream = stream
        self.connections = connections
        self.objectStore = objectStore
        self.tls = tls
        self.onListening = onListening
    }
}

/// How many bytes checking an upload may decompress: the smaller of a fixed bound and a multiple of the bytes
/// received, never less than a floor.
///
/// Checking a bundle means decompressing it to its end, and zstd turns a run of zeros into about 4 bytes per
/// 128 KiB block: a 126 KB upload once cost seconds of CPU for some 4 GiB of stream. Real bundles decompress to
/// 10 to 70 times their size (docs/performance.md), so a bound on the expansion costs them nothing and leaves a
/// bomb with work in proportion to what it sent.
public struct StreamLimit: Sendable, Equatable {
    /// Largest decompressed stream of any upload.
    public var maxStreamBytes: UInt64
    /// Largest stream as a multiple of the upload's size.
    public var maxExpansion: UInt64
    /// A stream this long is always allowed, however small the upload (small bundles expand little anyway).
    public var floorBytes: UInt64

    /// 4 GiB (a 64 MiB upload at 64 times), 1,000 times the upload, 64 MiB at least.
    public init(maxStreamBytes: UInt64 = 4 << 30, maxExpansion: UInt64 = 1000, floorBytes: UInt64 = 64 << 20) {
        self.maxStreamBytes = maxStreamBytes
        self.maxExpansion = maxExpansion
        self.floorBytes = floorBytes
    }

    /// The stream allowed for an upload of `compressed` bytes.
    public func bytes(forUploadOf compressed: UInt64) -> UInt64 {
        let (scaled, overflow) = compressed.multipliedReportingOverflow(by: maxExpansion)
        return min(maxStreamBytes, max(floorBytes, overflow ? .max : scaled))
    }
}

/// The request context: Hummingbird's core storage plus the peer's address for the request log.
public struct CollectorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let peer: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress.flatMap { $0.ipAddress } ?? "-"
    }
}

/// The collector: `PUT /v1/devices/{device}/bundles/{name}` stores a bundle, `GET /v1/health` answers how it is.
public struct Collector: HTTPResponder {
    public typealias Context = CollectorContext

    /// The file store; with an object store, the directory where uploads are received and checked.
    let store: Store
    /// Where bundles go when the collector writes to an object store.
    let objects: ObjectStore?
    /// The devices' health for `GET /metrics`.
    var health: FleetHealth?
    let tokens: TokenTable
    let maxBundleBytes: UInt64
    let stream: StreamLimit
    /// Open connections and closings, for the health answer; set by `run`, which owns the server.
    var connections: ConnectionRegistry?
    let log: @Sendable (String) -> Void

    public init(
        store: Store, objects: ObjectStore? = nil, tokens: Tokens, maxBundleBytes: UInt64,
        stream: StreamLimit = StreamLimit(), log: @escaping @Sendable (String) -> Void
    ) {
        self.store = store
        self.objects = objects
        self.tokens = TokenTable(tokens)
        self.maxBundleBytes = maxBundleBytes
        self.stream = stream
        self.log = log
    }

    /// Runs until SIGTERM or SIGINT, then finishes the requests in flight and returns.
    public static func run(_ config: CollectorConfiguration, log: @escaping @Sendable (String) -> Void) async throws {
        // Before the store: a wrong certificate or key stops the start with nothing created.
        let tlsConfiguration = try config.tls?.configuration()
        let objects = config.objectStore.map { ObjectStore($0) }
        try objects?.probe()
        let store = try Store(root: config.storeDirectory)
        for note in store.loadNotes { log("store: \(note)") }
        let (policy, descriptorNote) = config.connections.fittedToDescriptorLimit()
        if let note = descriptorNote { log(note) }
        let registry = ConnectionRegistry(maxConnections: policy.maxConnections, log: log)
        var collector = Collector(
            store: store, objects: objects, tokens: config.tokens, maxBundleBytes: config.maxBundleBytes, stream: config.stream, log: log)
        collector.connections = registry
        let health = FleetHealth(
            source: objects.map { .objects($0, cache: config.storeDirectory + "/.metrics-cache") }
                ?? .files(root: config.storeDirectory),
            interval: config.metricsInterval, log: log)
        collector.health = health
        let listing: @Sendable () async -> [DeviceSummary]? = {
            guard let objects else { return await store.devices() }
            switch await Collector.blocking({ objects.summaries() }) {
            case .success(let d): return d
            case .failure(let e):
                log("metrics: cannot list \(objects.location): \(e.message)")
                return nil
            }
        }
        let watcher = Task { await health.run(listing: listing) }
        defer { watcher.cancel() }
        let counts = await store.counts()
        let devices = config.tokens.devices.count
        var reloader: (any DispatchSourceSignal)?
        if let path = config.tokensPath {
            reloader = collector.reloadTokensOnHangUp(from: path)
        }
        defer { reloader?.cancel() }
        // The guard sits after TLS: the header timeout runs from the accept, so a client that never finishes its
        // handshake is closed like one that never sends a head.
        let http = HTTPServerBuilder.http1(
            configuration: HTTP1Channel.Configuration(
                additionalChannelHandlers: [ConnectionGuard(policy: policy, registry: registry)]))
        let server: HTTPServerBuilder
        let scheme: String
        if let tlsConfiguration {
            server = try HTTPServerBuilder.tls(http, tlsConfiguration: tlsConfiguration)
            scheme = "https"
        } else {
            server = http
            scheme = "http"
        }
        let app = Application(
            responder: collector,
            server: server,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "fieldctl"),
            onServerRunning: { channel in
                let address =
                    channel.localAddress.map { "\($0.ipAddress ?? config.host):\($0.port ?? config.port)" } ?? "?"
                log(
                    "listening on \(scheme)://\(address), store "
                        + (objects.map { "\($0.location), receiving into \(config.storeDirectory)" }
                            ?? "\(config.storeDirectory) (\(counts.bundles) bundles of \(counts.devices) devices)")
                        + ", \(devices) devices allowed"
                )
                log(
                    "connections: at most \(policy.maxConnections) at once; a head within \(policy.headerTimeout) of the "
                        + "accept or \(policy.idleTimeout) of the last response, no body byte missing for "
                        + "\(policy.bodyTimeout)")
                if let tls = config.tls {
                    log("TLS 1.2 and later with certificate \(tls.certificatePath)")
                } else {
                    log(
                        "WARNING: plain HTTP: device tokens and bundles cross the network unencrypted; give --tls-cert "
                            + "and --tls-key unless this network is trusted")
                }
                config.onListening(address)
            },
            logger: Logger(label: "fieldctl.serve", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        try await app.runService()
        log("stopped")
    }

    /// SIGHUP reads the tokens file again. A file that does not load (a typo, wrong mode) keeps the table in use.
    func reloadTokensOnHangUp(from path: String) -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)  // the dispatch source receives it instead
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        let table = tokens
        let log = log
        source.setEventHandler {
            do {
                let fresh = try Tokens.load(path: path)
                table.replace(with: fresh)
                log("tokens reloaded from \(path): \(fresh.devices.count) devices allowed")
            } catch {
                log("tokens NOT reloaded from \(path): \(error); still allowing the \(table.current.devices.count) devices from before")
            }
        }
        source.resume()
        return source
    }

    // MARK: Responding

    public func respond(to request: Request, context: CollectorContext) async throws -> Response {
        let start = ContinuousClock.now
        var outcome: Outcome
        do {
            outcome = try await route(request)
        } catch {
            outcome = Outcome(.internalServerError, "internal error: \(error)")
        }
        let took = ContinuousClock.now - start
        let ms = Double(took.components.seconds) * 1000 + Double(took.components.attoseconds) / 1e15
        log(
            "\(context.peer) \(request.method) \(Self.printable(request.uri.path)) \(outcome.status.code) \(outcome.bytes)B \(String(format: "%.1f", ms))ms"
                + (outcome.note.isEmpty ? "" : " \(outcome.note)"))
        return outcome.response
    }

    /// A response and what the log line says about it.
    struct Outcome {
        var status: HTTPResponse.Status
        var message: String
        var bytes: UInt64 = 0
        var note = ""
        var close = false
        /// A body of its own and its type, instead of the JSON status line.
        var raw: (body: String, type: String)?

        init(_ status: HTTPResponse.Status, _ message: String, bytes: UInt64 = 0, close: Bool = false) {
            self.status = status
            self.message = message
            self.bytes = bytes
            self.close = close
            if status.code >= 400 { note = message }
        }

        var response: Response {
            if let raw {
                return Response(
                    status: status, headers: [.contentType: raw.type],
                    body: .init(byteBuffer: ByteBuffer(bytes: Array(raw.body.utf8))))
            }
            let key = status.code < 300 ? "status" : "error"
            let body = ((try? JSONEncoder().encode([key: message])) ?? Data()) + Data("\n".utf8)
            var headers: HTTPFields = [.contentType: "application/json"]
            if close { headers[.connection] = "close" }
            if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    /// A path as it may appear in a log line: control characters and spaces escaped, at most 300 characters.
    static func printable(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars.prefix(300) {
            if u.value <= 0x20 || u.value == 0x7F {
                out += String(format: "%%%02X", u.value)
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    func route(_ request: Request) async throws -> Outcome {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts == ["", "v1", "health"] {
            guard request.method == .get || request.method == .head else {
                return Outcome(.methodNotAllowed, "use GET")
            }
            let open = connections.map { "; " + $0.summary } ?? ""
            if let objects { return Outcome(.ok, "ok: storing into \(objects.location)\(open)") }
            let c = await store.counts()
            return Outcome(.ok, "ok: \(c.devices) devices, \(c.bundles) bundles\(open)")
        }
        if parts == ["", "metrics"] {
            guard request.method == .get || request.method == .head else { return Outcome(.methodNotAllowed, "use GET") }
            var o = Outcome(.ok, "")
            o.raw = (await health?.render() ?? "", "text/plain; version=0.0.4; charset=utf-8")
            return o
        }
        guard parts.count == 6, parts[0] == "", parts[1] == "v1", parts[2] == "devices", parts[4] == "bundles" else {
            return Outcome(.notFound, "no such resource: uploads go to PUT /v1/devices/DEVICE/bundles/NAME.zst")
        }
        guard request.method == .put else { return Outcome(.methodNotAllowed, "use PUT to upload a bundle") }
        let device = parts[3]
        let name = parts[5]
        // Names first (they say nothing about the store), then credentials, before anything touches the disk.
        guard SafeName.isSafe(device) else {
            return Outcome(.badRequest, "the device id is not a plain name", close: true)
        }
        guard SafeName.isSafe(name), name.hasSuffix(".zst") else {
            return Outcome(
                .badRequest, "the bundle name must be a plain name ending in .zst (A-Z a-z 0-9 . _ -)", close: true)
        }
        switch tokens.current.check(authorization: request.headers[.authorization], device: device) {
        case .missing: return Outcome(.unauthorized, "an Authorization: Bearer TOKEN header is required", close: true)
        case .wrong: return Outcome(.forbidden, "this token may not upload for device '\(device)'", close: true)
        case .allowed: break
        }
        guard let digestHeader = request.headers[HTTPField.Name("Content-Digest")!],
            let digest = ContentDigest.sha256(fromHeader: digestHeader), digest.count == 32
        else {
            return Outcome(.badRequest, "a Content-Digest: sha-256=:BASE64: header is required", close: true)
        }
        if let length = request.headers[.contentLength].flatMap({ UInt64($0) }), length > maxBundleBytes {
            return Outcome(
                .contentTooLarge, "the bundle is \(length) bytes; this collector takes at most \(maxBundleBytes)",
                close: true)
        }
        if objects == nil, let existing = await store.lookup(device: device, name: name) {
            return sameOrConflict(existing, digest: digest, name: name)
        }
        return try await receive(request, device: device, name: name, digest: digest)
    }

    func sameOrConflict(_ existing: StoredBundle, digest: [UInt8], name: String) -> Outcome {
        if existing.sha256 == ContentDigest.hex(digest) {
            var o = Outcome(.ok, "already stored: \(name)", bytes: existing.bytes)
            o.note = "already stored"
            return o
        }
        return Outcome(.conflict, "a different bundle named \(name) is already stored for this device", close: true)
    }

    /// Streams the body into a temporary file, checks it, and renames it into place.
    func receive(_ request: Request, device: String, name: String, digest: [UInt8]) async throws -> Outcome {
        let dir = store.root + "/" + device
        // The store's own directory too, should someone have removed it under a running collector.
        if mkdir(dir, 0o755) != 0 && errno == ENOENT { mkdir(store.root, 0o755) }
        if mkdir(dir, 0o755) != 0 && errno != EEXIST {
            return errno == ENOSPC
                ? Outcome(.insufficientStorage507, "the collector's disk is full", close: true)
                : Outcome(
                    .internalServerError, "cannot create \(device)'s directory: \(String(cString: strerror(errno)))",
                    close: true)
        }
        let file: DurableFile
        do {
            file = try DurableFile(temporaryPath: "\(dir)/.\(name).\(UInt64.random(in: 0...UInt64.max)).part")
        } catch {
            return storageFailure(error)
        }
        var hasher = SHA256()
        var total: UInt64 = 0
        do {
            for try await chunk in request.body {
                total += UInt64(chunk.readableBytes)
                if total > maxBundleBytes {
                    file.discard()
                    return Outcome(.contentTooLarge, "the bundle exceeds \(maxBundleBytes) bytes", close: true)
                }
                try chunk.withUnsafeReadableBytes { (b: UnsafeRawBufferPointer) throws(BundleError) in
                    hasher.update(b)
                    try file.write(b)
                }
            }
        } catch let error as BundleError {
            file.discard()
            return storageFailure(error)
        } catch {
            file.discard()
            return Outcome(.badRequest, "the upload was cut off: \(error)", close: true)
        }
        let got = hasher.finish()
        guard Tokens.constantTimeEqual(got, digest) else {
            file.discard()
            return Outcome(
                .badRequest,
                "Content-Digest does not match the \(total) bytes received (sha-256 \(ContentDigest.hex(got)))",
                close: true)
        }
        // Reading back, syncing and renaming block: off the server's threads.
        let entry: StoredBundle
        switch await check(file, device: device, name: name, sha256: got, received: total) {
        case .success(let checked): entry = checked
        case .failure(let refusal): return refusal.outcome
        }
        if let objects { return await put(file, into: objects, device: device, entry) }
        // The same bundle under another name: its identity comes from its header and digest, not from the URL.
        if let other = await store.claim(device: device, entry) {
            file.discard()
            var o = Outcome(.ok, "already stored as \(other)", bytes: entry.bytes)
            o.note = "already stored as \(other)"
            return o
        }
        let finalPath = "\(dir)/\(name)"
        let failure: BundleError? = await Self.blocking {
            do throws(BundleError) {
                try file.commit(as: finalPath, replace: false)
                return nil
            } catch {
                return error
            }
        }
        guard let failure else {
            do { try await store.record(device: device, entry) } catch { log("index: \(error)") }
            await health?.stored(device: device, entry)
            return Outcome(.created, "stored \(device)/\(name)", bytes: total)
        }
        await store.release(device: device, entry)
        guard failure.errno == EEXIST else { return storageFailure(failure) }
        // Another upload of the same name won the race.
        if let existing = Store.inspect(path: finalPath, device: device).success {
            return sameOrConflict(existing, digest: digest, name: name)
        }
        return Outcome(.conflict, "a different file named \(name) is already stored for this device")
    }

    /// Reads the received file through to its end, within the stream limit for its size; discards it when it is
    /// refused.
    func check(_ file: DurableFile, device: String, name: String, sha256: [UInt8], received: UInt64) async -> Result<
        StoredBundle, Refusal
    > {
        let allowed = stream.bytes(forUploadOf: received)
        return await Self.blocking {
            // The collector's own expansion rule (allowed), not the reader's default ratio on top of it.
            switch Store.inspect(
                path: file.temporaryPath, device: device, sha256: sha256,
                limits: ReadLimits(maxStreamBytes: allowed, maxExpansion: nil))
            {
            case .success(var entry):
                entry.name = name
                entry.bytes = received
                entry.received = Date().timeIntervalSince1970
                return .success(entry)
            case .failure(let why) where why.code == .overLimit:
                file.discard()
                return .failure(
                    Refusal(
                        Outcome(
                            .contentTooLarge,
                            "the bundle is over this collector's limits, nothing was stored: \(why.message) (a bundle of "
                                + "\(received) bytes may decompress to at most \(allowed): --max-stream-bytes, "
                                + "--max-expansion)")))
            case .failure(let why):
                file.discard()
                return .failure(Refusal(Outcome(.unprocessableContent, "the bundle is not valid: \(why.message)")))
            }
        }
    }

    /// Stores a checked upload in the object store; answers 201 or 200 only once the store has it.
    func put(_ file: DurableFile, into objects: ObjectStore, device: String, _ entry: StoredBundle) async -> Outcome {
        let result = await Self.blocking { objects.store(file: file.temporaryPath, device: device, entry) }
        file.discard()
        switch result {
        case .success(.created):
            await health?.stored(device: device, entry)
            return Outcome(.created, "stored \(device)/\(entry.name)", bytes: entry.bytes)
        case .success(.already(let other)):
            var o = Outcome(.ok, other == entry.name ? "already stored: \(other)" : "already stored as \(other)", bytes: entry.bytes)
            o.note = other == entry.name ? "already stored" : "already stored as \(other)"
            return o
        case .success(.conflict):
            return Outcome(
                .conflict, "a different bundle named \(entry.name) is already stored for this device", close: true)
        case .failure(let e):
            // The device keeps the bundle and tries again later.
            return Outcome(.serviceUnavailable, "the object store did not take the bundle: \(e.message)", close: true)
        }
    }

    /// An answer that ends an upload early.
    struct Refusal: Error {
        var outcome: Outcome
        init(_ outcome: Outcome) { self.outcome = outcome }
    }

    func storageFailure(_ error: BundleError) -> Outcome {
        if error.errno == ENOSPC || error.errno == EDQUOT {
            return Outcome(.insufficientStorage507, "the collector's disk is full; nothing was stored", close: true)
        }
        return Outcome(.internalServerError, "cannot store the bundle: \(error.message)", close: true)
    }

    /// Runs blocking file work on a Dispatch thread and waits for it.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in DispatchQueue.global().async { c.resume(returning: work()) } }
    }
}

extension HTTPResponse.Status {
    /// 507 (RFC 4918), which HTTPTypes does not name.
    static let insufficientStorage507 = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
}

extension Result {
    var success: Success? {
        if case .success(let s) = self { return s }
        return nil
    }
}
