import CFieldHTTP
import CFieldPlatform
import FieldBundle
import FieldModel
import FieldSystem

/// What the sampling thread and the delivery thread share, behind one mutex.
///
/// The sampler wakes the delivery thread when a bundle closes, asks it to stop with a deadline, and collects the
/// bundles the collector rejected (for the loss record). The delivery thread tells which bundle it is sending,
/// so the spool quota never drops that one.
final class DeliveryLink: @unchecked Sendable {
    private let monitor: OpaquePointer
    /// Read by the HTTP client while it waits during a transfer: a stop can cut a transfer short.
    let deadline = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    private var woken = false
    private var stopping = false
    private var sending: String?
    private var rejected: [(name: String, bytes: UInt64)] = []

    init() {
        // Out of memory at start, like any other allocation failure of the Swift runtime.
        monitor = field_monitor_new()!
        deadline.pointee = 0
    }

    deinit {
        field_monitor_free(monitor)
        deadline.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        field_monitor_lock(monitor)
        defer { field_monitor_unlock(monitor) }
        return body()
    }

    /// A bundle closed: look at the spool now.
    func wake() {
        locked {
            woken = true
            field_monitor_signal(monitor)
        }
    }

    /// Make one last attempt, giving up at `deadlineNanos` (monotonic), then return.
    func stop(deadlineNanos: UInt64) {
        locked {
            stopping = true
            field_http_set_deadline(deadline, deadlineNanos)
            field_monitor_signal(monitor)
        }
    }

    /// Whether a stop was asked for.
    var isStopping: Bool { locked { stopping } }

    /// Waits until woken, stopped, or the monotonic time `until`.
    func wait(until: UInt64) {
        locked {
            while !woken && !stopping && Clock.monotonicNanos() < until {
                field_monitor_wait_until(monitor, until)
            }
            woken = false
        }
    }

    /// The bundle being sent right now, if any.
    var inFlight: String? {
        get { locked { sending } }
        set { locked { sending = newValue } }
    }

    func addRejected(name: String, bytes: UInt64) { locked { rejected.append((name, bytes)) } }

    func takeRejected() -> [(name: String, bytes: UInt64)] {
        locked {
            defer { rejected.removeAll() }
            return rejected
        }
    }
}

/// Where closed bundles go: the collector, a mounted directory, or both.
protocol Destination: AnyObject {
    /// For log lines: the URL or the directory.
    var label: String { get }
    /// Sends the bundle at `path` (named `name`, `bytes` long). Must return by the link's deadline once one is set.
    func deliver(path: String, name: String) -> DeliveryOutcome
}

enum DeliveryOutcome: Equatable {
    /// The destination has it (the log line says how).
    case delivered(String)
    /// The destination will never take it (damaged, too large, bad name): keep it aside, do not retry.
    case rejected(String)
    /// Try again later.
    case retry(String)
    /// The bundle left the spool meanwhile (dropped by the quota).
    case gone
}

/// `PUT {base}/v1/devices/{device}/bundles/{name}` through CFieldHTTP.
final class HTTPDestination: Destination {
    let base: String
    let deviceID: String
    let tokenFile: String
    let caFile: String?
    let connectTimeout: Int
    let stallTimeout: Int
    let link: DeliveryLink
    private let handle: UnsafeMutableRawPointer?

    var label: String { base }

    init(options: AgentOptions, deviceID: String, link: DeliveryLink) {
        var b = options.upload ?? ""
        while b.hasSuffix("/") { b.removeLast() }
        base = b
        self.deviceID = deviceID
        tokenFile = options.tokenFile ?? ""
        caFile = options.caFile
        connectTimeout = max(1, Int(options.connectTimeout.rounded(.up)))
        stallTimeout = max(1, Int(options.stallTimeout.rounded(.up)))
        self.link = link
        handle = field_http_new()
    }

    deinit { field_http_free(handle) }

    /// The token, read at each upload so that a rotated token is picked up without a restart.
    static func readToken(_ path: String) -> Result<String, AgentError> {
        let c = ProcFS.readFile(path, maxBytes: 4096)
        guard c.status == .ok else {
            return .failure(
                AgentError(
                    "cannot read the token file \(path) (\(c.status.rawValue)\(c.errno.map { ", errno \($0)" } ?? ""))")
            )
        }
        let token = String(decoding: c.bytes.filter { $0 > 0x20 && $0 < 0x7F }, as: UTF8.self)
        guard !token.isEmpty else { return .failure(AgentError("the token file \(path) is empty")) }
        return .success(token)
    }

    func deliver(path: String, name: String) -> DeliveryOutcome {
        let token: String
        switch Self.readToken(tokenFile) {
        case .success(let t): token = t
        case .failure(let e): return .retry(e.message)
        }
        let fd = field_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else {
            return field_errno() == ENOENT ? .gone : .retry("cannot open \(path): \(String(cString: strerror(field_errno())))")
        }
        defer { close(fd) }
        guard let (digest, size) = SHA256.hash(fileDescriptor: fd) else {
            return .retry("cannot read \(path): \(String(cString: strerror(field_errno())))")
        }
        let url = "\(base)/v1/devices/\(deviceID)/bundles/\(name)"
        let started = Clock.monotonicNanos()
        var result = field_http_result()
        url.withCString { u in
            "Bearer \(token)".withCString { auth in
                ContentDigest.header(sha256: digest).withCString { dg in
                    AgentCommand.version.replacingSpaces().withCString { ua in
                        withOptionalCString(caFile) { ca in
                            var request = field_http_put(
                                url: u, authorization: auth, digest: dg, ca_file: ca, user_agent: ua, fd: fd,
                                size: Int64(size),
                                connect_timeout_s: connectTimeout, stall_timeout_s: stallTimeout,
                                deadline_mono_ns: UnsafePointer(link.deadline))
                            field_http_put_file(handle, &request, &result)
                        }
                    }
                }
            }
        }
        let ms = (Clock.monotonicNanos() - started) / 1_000_000
        let body = withUnsafeBytes(of: result.body) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }.filter { $0 != "\n" && $0 != "\r" }
        guard result.failure == Int32(FIELD_HTTP_OK) else {
            let why = withUnsafeBytes(of: result.error) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            return .retry(
                result.failure == Int32(FIELD_HTTP_UNRESOLVED) || result.failure == Int32(FIELD_HTTP_UNREACHABLE)
                    ? "\(base) unreachable: \(why)" : "upload to \(base) failed: \(why)")
        }
        switch result.status {
        case 200..<300:
            return .delivered("\(result.status) \(size) bytes in \(ms) ms")
        case 400, 409, 413, 422:
            return .rejected("HTTP \(result.status) \(body)")
        case 401, 403:
            return .retry("HTTP \(result.status) \(body) (check --token-file and the collector's tokens file)")
        default:
            return .retry("HTTP \(result.status) \(body)")
        }
    }
}

/// Copies bundles into `DIR/<device-id>/`, the collector's layout, for media carried by hand.
final class CopyDestination: Destination {
    let directory: String
    let deviceID: String
    var label: String { directory }

    init(directory: String, deviceID: String) {
        var d = directory
        while d.count > 1 && d.hasSuffix("/") { d.removeLast() }
        self.directory = d
        self.deviceID = deviceID
    }

    func deliver(path: String, name: String) -> DeliveryOutcome {
        // The directory itself is not created: when the medium is not mounted, nothing must land on the mount point.
        var st = stat()
        guard stat(directory, &st) == 0, field_stat_is_directory(&st) != 0 else {
            return .retry("\(directory) is not there (is the medium mounted?)")
        }
        let target = directory + "/" + deviceID
        if mkdir(target, 0o755) == 0 {
            // The copies synced into it are only as durable as its name: the spool's copy goes once this one is in.
            do { try DurableFile.syncDirectory(holding: target) } catch { return .retry(error.message) }
        } else if field_errno() != EEXIST {
            return .retry("cannot create \(target): \(String(cString: strerror(field_errno())))")
        }
        guard access(path, R_OK) == 0 else { return field_errno() == ENOENT ? .gone : .retry("cannot read \(path)") }
        do {
            let n = try DurableFile.copy(from: path, to: target + "/" + name)
            return .delivered("copied \(n) bytes")
        } catch {
            return error.errno == ENOENT && access(path, F_OK) != 0 ? .gone : .retry(error.message)
        }
    }
}

/// The delivery thread: sends closed bundles oldest first to every destination, removes a bundle from the
/// spool once all have it, and backs off (exponentially, with jitter) from a destination that fails.
final class Delivery {
    let spool: Spool
    let link: DeliveryLink
    let retryMinNanos: UInt64
    let retryMaxNanos: UInt64
    /// A destination and how delivering to it goes.
    private struct Route {
        let destination: any Destination
        /// Consecutive failures, when to try next (monotonic), the last failure logged.
        var failures = 0
        var nextTry: UInt64 = 0
        var lastFailure = ""
        /// Bundles it already has while another destination does not.
        var has: Set<String> = []
    }
    private var routes: [Route]
    private var thread: OpaquePointer?

    init(options: AgentOptions, spool: Spool, link: DeliveryLink) {
        self.spool = spool
        self.link = link
        var d: [any Destination] = []
        if options.upload != nil { d.append(HTTPDestination(options: options, deviceID: spool.deviceID, link: link)) }
        if let dir = options.copyTo { d.append(CopyDestination(directory: dir, deviceID: spool.deviceID)) }
        routes = d.map { Route(destination: $0) }
        retryMinNanos = UInt64(options.retryMin * 1e9)
        retryMaxNanos = UInt64(max(options.retryMax, options.retryMin) * 1e9)
    }

    /// Starts the thread, with the signals blocked in it so that the stop signals reach the sampling thread.
    func start() throws(AgentError) {
        let context = Unmanaged.passRetained(self).toOpaque()
        thread = field_thread_start(
            { raw in
                let me = Unmanaged<Delivery>.fromOpaque(raw!).takeRetainedValue()
                me.loop()
                return nil
            }, context)
        guard thread != nil else {
            let code = field_errno()
            Unmanaged<Delivery>.fromOpaque(context).release()
            throw AgentError("cannot start the upload thread: \(String(cString: strerror(code)))")
        }
    }

    /// Asks for one last bounded attempt and waits for the thread to end.
    func stop(within seconds: Double) {
        guard let running = thread else { return }
        link.stop(deadlineNanos: Clock.monotonicNanos() + UInt64(seconds * 1e9))
        field_thread_join(running)
        thread = nil
    }

    private func loop() {
        while true {
            let stopping = link.isStopping
            if stopping {
                // The last attempt ignores the backoff, once per destination.
                for i in routes.indices { routes[i].nextTry = 0 }
            }
            pass(final: stopping)
            if stopping { break }
            let now = Clock.monotonicNanos()
            let waiting = spool.closedBundles().isEmpty ? [] : routes.map { $0.nextTry }.filter { $0 > now }
            // Sleep until the earliest retry, or a minute when idle (a bundle closing wakes us sooner).
            link.wait(until: waiting.min() ?? now + 60_000_000_000)
        }
        let left = spool.closedBundles()
        if !left.isEmpty {
            printError(
                "fieldagent: \(left.count) bundles stay in the spool for the next start (\(left.reduce(0) { $0 + $1.bytes }) bytes)"
            )
        }
    }

    /// One walk over the spool, oldest bundle first.
    private func pass(final: Bool) {
        for bundle in spool.closedBundles() {
            let deadline = field_http_deadline(link.deadline)
            if final, deadline != 0, Clock.monotonicNanos() >= deadline { return }
            let path = spool.directory + "/" + bundle.name
            var everywhere = true
            var setAside = false
            for i in routes.indices where !routes[i].has.contains(bundle.name) {
                let d = routes[i].destination
                guard Clock.monotonicNanos() >= routes[i].nextTry else {
                    everywhere = false
                    continue
                }
                link.inFlight = bundle.name
                let outcome = d.deliver(path: path, name: bundle.name)
                link.inFlight = nil
                switch outcome {
                case .delivered(let how):
                    routes[i].has.insert(bundle.name)
                    succeeded(&routes[i], name: bundle.name, how: how)
                case .rejected(let why):
                    setAside = true
                    printError(
                        "fieldagent: \(d.label) refused \(bundle.name): \(why); kept in the spool as \(bundle.name).rejected"
                    )
                case .retry(let why):
                    everywhere = false
                    failed(&routes[i], why: why, final: final)
                case .gone:
                    everywhere = false
                }
                if setAside { break }
            }
            if setAside {
                if rename(path, path + ".rejected") == 0 { link.addRejected(name: bundle.name, bytes: bundle.bytes) }
                forget(bundle.name)
            } else if everywhere {
                if unlink(path) != 0 && field_errno() != ENOENT {
                    printError("fieldagent: cannot remove delivered \(path): \(String(cString: strerror(field_errno())))")
                }
                forget(bundle.name)
            }
        }
    }

    private func forget(_ name: String) {
        for i in routes.indices { routes[i].has.remove(name) }
    }

    private func succeeded(_ r: inout Route, name: String, how: String) {
        let label = r.destination.label
        if r.failures > 0 { printError("fieldagent: \(label) reachable again after \(r.failures) failed attempts") }
        r.failures = 0
        r.nextTry = 0
        r.lastFailure = ""
        printError("fieldagent: delivered \(name) to \(label) (\(how))")
    }

    private func failed(_ r: inout Route, why: String, final: Bool) {
        r.failures += 1
        if final {
            r.nextTry = UInt64.max  // no second try in the last attempt
            printError("fieldagent: last attempt to \(r.destination.label) failed: \(why)")
            return
        }
        // Doubling per failure up to the longest wait (doubled step by step: a shift would overflow silently).
        var base = max(retryMinNanos, 1)
        for _ in 1..<r.failures where base < retryMaxNanos { base = base > retryMaxNanos / 2 ? retryMaxNanos : base * 2 }
        base = min(base, retryMaxNanos)
        let delay = base / 2 + UInt64.random(in: 0...(base / 2))  // jitter: devices that lost the collector together spread out
        r.nextTry = Clock.monotonicNanos() + delay
        if why != r.lastFailure {
            printError(
                "fieldagent: \(why); retrying in \(Self.seconds(delay)) and backing off up to \(Self.seconds(retryMaxNanos))"
            )
            r.lastFailure = why
        }
    }

    static func seconds(_ nanos: UInt64) -> String {
        let tenths = nanos / 100_000_000
        return "\(tenths / 10).\(tenths % 10) s"
    }
}

private func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

extension String {
    fileprivate func replacingSpaces() -> String { String(map { $0 == " " ? "/" : $0 }) }
}
