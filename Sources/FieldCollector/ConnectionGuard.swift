import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// How long a client may take over each part of a request, and how many connections may be open at once.
///
/// Without these, every connection that never finishes its request keeps a descriptor for good: some 1,100 silent
/// connections used up a 1,024-descriptor limit, and real uploads then waited in the accept queue until they gave
/// up. The timeouts bound how long one connection can sit; the cap bounds how many can sit at once.
public struct ConnectionPolicy: Sendable, Equatable {
    /// A new connection must have sent a complete request head within this, counted from its accept.
    ///
    /// A total, not a gap between bytes: a head sent one byte a second stays open only this long.
    public var headerTimeout: Duration
    /// While the collector waits for more of a request body, at most this long without a byte.
    ///
    /// Counted only while the collector asks for data: a collector slow to write a bundle to disk is not the
    /// client's stall.
    public var bodyTimeout: Duration
    /// A kept-alive connection must have sent the next complete request head within this of the last response.
    public var idleTimeout: Duration
    /// Connections open at once. At the cap, a new connection closes the one that has waited longest without a
    /// request in progress (silent, idle, or still sending a head); a connection whose request is being received
    /// or answered is never closed for room. With every connection busy, the new one is closed instead.
    public var maxConnections: Int

    /// Ten seconds for a head, thirty without a body byte, thirty idle, 512 connections.
    public init(
        headerTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(30),
        idleTimeout: Duration = .seconds(30), maxConnections: Int = 512
    ) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }

    /// Descriptors kept for the collector itself: the listening socket, the event loops' epoll and event
    /// descriptors, standard streams, the tokens file, the index being appended to.
    static let reservedDescriptors = 64

    /// This policy with `maxConnections` fitted to the process's descriptor limit, and what was done about it.
    ///
    /// Each connection may hold two descriptors, its socket and the bundle it writes. The soft limit
    /// (`ulimit -n`) is raised toward what the cap needs, as far as the hard limit allows; when that is still
    /// short, the cap is lowered so that accepting never fails for want of a descriptor.
    public func fittedToDescriptorLimit() -> (policy: ConnectionPolicy, note: String?) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (self, nil) }
        let wanted = rlim_t(maxConnections) * 2 + rlim_t(Self.reservedDescriptors)
        if limit.rlim_cur < wanted && limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = min(wanted, limit.rlim_max)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        guard limit.rlim_cur < wanted else { return (self, nil) }
        var fitted = self
        let reserved = rlim_t(Self.reservedDescriptors)
        let room = limit.rlim_cur > reserved ? limit.rlim_cur - reserved : 0
        fitted.maxConnections = max(1, Int(room / 2))
        return (
            fitted,
            "the descriptor limit is \(limit.rlim_cur) (ulimit -n): at most \(fitted.maxConnections) connections at once, "
                + "not \(maxConnections) (raise the limit to \(wanted) for those)"
        )
    }
}

/// Why the collector closed a connection on its own.
enum ConnectionClosing: Int, CaseIterable, Sendable {
    /// Closed to make room for a new connection (the cap was reached).
    case evicted
    /// No complete request head within the header timeout of the accept.
    case headerTimeout
    /// No complete next request head within the idle timeout of the last response.
    case idleTimeout
    /// A request body stopped for the body timeout.
    case bodyTimeout

    var phrase: String {
        switch self {
        case .evicted: "to make room"
        case .headerTimeout: "for the header timeout"
        case .idleTimeout: "for the idle timeout"
        case .bodyTimeout: "for the body timeout"
        }
    }
}

/// Every open connection and since when it has waited without a request in progress, so that at the cap the
/// longest waiting one can go; and how many were closed for what, for the log and `GET /v1/health`.
final class ConnectionRegistry: @unchecked Sendable {
    private struct Entry {
        let channel: any Channel
        /// Since when it has had no request in progress; nil while one is being received or answered.
        var waitingSince: NIODeadline?
    }

    /// The cap in force.
    let maxConnections: Int
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var entries: [ObjectIdentifier: Entry] = [:]
    private var closed = [Int](repeating: 0, count: ConnectionClosing.allCases.count)
    private var lastLogged: NIODeadline?
    /// At most one log line about closed connections per this interval: a flood must not flood the log too.
    private let logInterval = TimeAmount.seconds(10)

    init(maxConnections: Int, log: @escaping @Sendable (String) -> Void) {
        self.maxConnections = maxConnections
        self.log = log
    }

    /// Adds a connection that was just accepted; over the cap, closes the one that has waited longest (which is
    /// the new one itself when every other connection is busy).
    func admit(_ channel: any Channel, now: NIODeadline) {
        let victim: (any Channel)? = lock.withLock {
            entries[ObjectIdentifier(channel)] = Entry(channel: channel, waitingSince: now)
            guard entries.count > maxConnections else { return nil }
            var oldest: (key: ObjectIdentifier, since: NIODeadline)?
            for (key, e) in entries {
                if let since = e.waitingSince, oldest.map({ since < $0.since }) ?? true { oldest = (key, since) }
            }
            guard let chosen = oldest else { return nil }
            return entries.removeValue(forKey: chosen.key)?.channel
        }
        guard let victim else { return }
        victim.close(promise: nil)
        note(.evicted)
    }

    /// Marks a connection as waiting since `since`, or busy (nil).
    func setWaiting(_ channel: any Channel, since: NIODeadline?) {
        lock.withLock { entries[ObjectIdentifier(channel)]?.waitingSince = since }
    }

    /// Forgets a connection that closed.
    func remove(_ channel: any Channel) {
        _ = lock.withLock { entries.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Counts a connection the collector closed, and says so in the log now and then.
    func note(_ why: ConnectionClosing) {
        let now = NIODeadline.now()
        let line: String? = lock.withLock {
            closed[why.rawValue] += 1
            if let last = lastLogged, now - last < logInterval { return nil }
            lastLogged = now
            return summaryLocked()
        }
        if let line { log(line) }
    }

    /// Open connections and the closings so far, in words.
    var summary: String { lock.withLock { summaryLocked() } }

    private func summaryLocked() -> String {
        let counts = ConnectionClosing.allCases.map { "\(closed[$0.rawValue]) \($0.phrase)" }
        return "connections: \(entries.count) open of at most \(maxConnections); closed "
            + counts.joined(separator: ", ")
    }
}

/// Enforces a `ConnectionPolicy` on one connection: the timeouts, and its place in the registry.
///
/// It sits after HTTP decoding, so it sees whole request heads, body parts and response ends. The clock it
/// runs depends on where the connection is: waiting for a head (the header timeout from the accept, the idle
/// timeout from the last response), receiving a body (the body timeout from the moment the collector asked for
/// more), or being answered (no clock: the collector is working).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase {
        /// The next head must be complete by `since + limit`, or the connection is closed for `closing`.
        case awaitingHead(since: NIODeadline, limit: TimeAmount, closing: ConnectionClosing)
        case receivingBody
        case answering
    }

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private let registry: ConnectionRegistry
    private var started = false
    private var phase = Phase.answering
    /// Requests whose response end has not been written yet.
    private var unanswered = 0
    /// Since when the collector has asked for data that has not come; nil when it has not asked.
    private var askedSince: NIODeadline?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(policy: ConnectionPolicy, registry: ConnectionRegistry) {
        headerTimeout = TimeAmount(policy.headerTimeout)
        bodyTimeout = TimeAmount(policy.bodyTimeout)
        idleTimeout = TimeAmount(policy.idleTimeout)
        self.registry = registry
    }

    // MARK: Life of the connection

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop(context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop(context)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        let now = NIODeadline.now()
        phase = .awaitingHead(since: now, limit: headerTimeout, closing: .headerTimeout)
        arm(context)
        registry.admit(context.channel, now: now)
    }

    private func stop(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        registry.remove(context.channel)
    }

    // MARK: Traffic

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        askedSince = nil
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            phase = .receivingBody
            registry.setWaiting(context.channel, since: nil)
        case .body:
            break
        case .end:
            // The response may be out already (a refusal answered before its body arrived).
            phase = unanswered > 0 ? .answering : awaitingNextHead()
        }
        arm(context)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            if unanswered == 0 {
                if case .answering = phase { phase = awaitingNextHead() }
                registry.setWaiting(context.channel, since: .now())
                arm(context)
            }
        }
        context.write(data, promise: promise)
    }

    /// The collector asks for more bytes: from now on, their not coming is the client's delay.
    func read(context: ChannelHandlerContext) {
        if askedSince == nil {
            askedSince = .now()
            arm(context)
        }
        context.read()
    }

    private func awaitingNextHead() -> Phase {
        .awaitingHead(since: .now(), limit: idleTimeout, closing: .idleTimeout)
    }

    // MARK: The clock

    /// When the connection is to be closed if nothing changes, and for what.
    private var deadline: (at: NIODeadline, closing: ConnectionClosing)? {
        switch phase {
        case .awaitingHead(let since, let limit, let closing): (since + limit, closing)
        case .receivingBody: askedSince.map { ($0 + bodyTimeout, .bodyTimeout) }
        case .answering: nil
        }
    }

    /// Makes sure a timer fires no later than the current deadline. A timer due earlier stays: when it fires it
    /// looks at the deadline again.
    private func arm(_ context: ChannelHandlerContext) {
        guard let due = deadline?.at else { return }
        if let scheduled = timerDeadline, scheduled <= due { return }
        timer?.cancel()
        timerDeadline = due
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            timer = nil
            timerDeadline = nil
            guard let (at, closing) = deadline else { return }
            if NIODeadline.now() >= at {
                registry.note(closing)
                context.close(promise: nil)
            } else {
                arm(context)
            }
        }
    }
}
