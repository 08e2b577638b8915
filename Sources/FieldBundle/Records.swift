import FieldModel

/// The header record: the first record of every bundle.
public struct BundleHeader: Sendable, Hashable {
    /// Stream format version the writer used.
    public var format: FormatVersion
    /// Name and version of the writing agent, e.g. `fieldagent 0.1.0`.
    public var agent: String
    /// Backend identifier, e.g. `linux`, `sylixos`.
    public var backend: String
    /// The OS identity as the device printed it (`/proc/version` bytes), uninterpreted.
    public var osIdentity: [UInt8]
    /// Device identifier (machine id, host name or as configured).
    public var deviceID: String
    /// Boot identifier, when the OS has one (Linux `sys/kernel/random/boot_id`); tells reboots apart.
    public var bootID: String?
    /// Wall clock at bundle start, Unix nanoseconds.
    public var wallNanos: Int64
    /// `CLOCK_MONOTONIC` at bundle start, nanoseconds.
    public var monoNanos: UInt64
    /// Sampling interval, nanoseconds.
    public var intervalNanos: UInt64
    /// Proc root the agent read, e.g. `/proc`.
    public var procRoot: String
    /// Bundle number within the agent run (0 for the first), so gaps between bundles are visible.
    public var sequence: UInt64
    /// What the agent planned to read.
    public var plan: [CapturePlanEntry]
    /// How many sample records back an entry stored as `same` may refer (format 1.1); 0: the bundle has none.
    /// `BundleWriter` sets it from its options.
    public var sameWindow: UInt64
    /// The writing agent's own process id on the device, when it has one (analysis reports the agent apart, never
    /// as a suspect).
    public var agentPID: Int32?

    /// Creates a header.
    public init(
        format: FormatVersion = .current, agent: String, backend: String, osIdentity: [UInt8], deviceID: String,
        bootID: String?, wallNanos: Int64, monoNanos: UInt64, intervalNanos: UInt64, procRoot: String,
        sequence: UInt64, plan: [CapturePlanEntry], sameWindow: UInt64 = 0, agentPID: Int32? = nil
    ) {
        self.sameWindow = sameWindow
        self.agentPID = agentPID
        self.format = format
        self.agent = agent
        self.backend = backend
        self.osIdentity = osIdentity
        self.deviceID = deviceID
        self.bootID = bootID
        self.wallNanos = wallNanos
        self.monoNanos = monoNanos
        self.intervalNanos = intervalNanos
        self.procRoot = procRoot
        self.sequence = sequence
        self.plan = plan
    }
}

/// The agent's own cost, written periodically.
public struct AgentStats: Sendable, Hashable {
    /// Wall clock, Unix nanoseconds.
    public var wallNanos: Int64
    /// `CLOCK_MONOTONIC`, nanoseconds.
    public var monoNanos: UInt64
    /// Resident set size of the agent, bytes.
    public var rssBytes: UInt64
    /// CPU time in user mode since the agent started, microseconds.
    public var cpuUserMicros: UInt64
    /// CPU time in kernel mode since the agent started, microseconds.
    public var cpuSystemMicros: UInt64
    /// Samples taken since the agent started.
    public var samples: UInt64
    /// Duration of the last sample, nanoseconds.
    public var lastSampleNanos: UInt64
    /// Longest sample since the agent started, nanoseconds.
    public var maxSampleNanos: UInt64
    /// Intervals skipped because a sample overran, since the agent started.
    public var missedIntervals: UInt64
    /// Bytes of data dropped (spool quota, per-file limits), since the agent started.
    public var droppedBytes: UInt64

    /// Creates statistics.
    public init(
        wallNanos: Int64, monoNanos: UInt64, rssBytes: UInt64 = 0, cpuUserMicros: UInt64 = 0,
        cpuSystemMicros: UInt64 = 0, samples: UInt64 = 0, lastSampleNanos: UInt64 = 0, maxSampleNanos: UInt64 = 0,
        missedIntervals: UInt64 = 0, droppedBytes: UInt64 = 0
    ) {
        self.wallNanos = wallNanos
        self.monoNanos = monoNanos
        self.rssBytes = rssBytes
        self.cpuUserMicros = cpuUserMicros
        self.cpuSystemMicros = cpuSystemMicros
        self.samples = samples
        self.lastSampleNanos = lastSampleNanos
        self.maxSampleNanos = maxSampleNanos
        self.missedIntervals = missedIntervals
        self.droppedBytes = droppedBytes
    }
}

/// Data dropped before it could be kept, recorded in the next bundle so the loss is never silent.
public struct LossReport: Sendable, Hashable {
    /// Wall clock when the loss was recorded, Unix nanoseconds.
    public var wallNanos: Int64
    /// `CLOCK_MONOTONIC` when the loss was recorded, nanoseconds.
    public var monoNanos: UInt64
    /// Why, e.g. `spool-quota`.
    public var reason: String
    /// How many bundles were dropped.
    public var bundles: UInt64
    /// How many compressed bytes were dropped.
    public var bytes: UInt64
    /// File names of the dropped bundles.
    public var names: [String]

    /// Creates a report.
    public init(wallNanos: Int64, monoNanos: UInt64, reason: String, bundles: UInt64, bytes: UInt64, names: [String]) {
        self.wallNanos = wallNanos
        self.monoNanos = monoNanos
        self.reason = reason
        self.bundles = bundles
        self.bytes = bytes
        self.names = names
    }
}

/// The end record: the last record of a closed bundle.
public struct BundleEnd: Sendable, Hashable {
    /// Wall clock at close, Unix nanoseconds.
    public var wallNanos: Int64
    /// `CLOCK_MONOTONIC` at close, nanoseconds.
    public var monoNanos: UInt64
    /// Why the bundle was closed: `rotation`, `shutdown`, `recovered` (closed by a later run after a crash).
    public var reason: String
    /// Records before this one, by type name, in type order.
    public var counts: [(type: String, count: UInt64)]

    /// Creates an end record.
    public init(wallNanos: Int64, monoNanos: UInt64, reason: String, counts: [(type: String, count: UInt64)]) {
        self.wallNanos = wallNanos
        self.monoNanos = monoNanos
        self.reason = reason
        self.counts = counts
    }

    public static func == (a: BundleEnd, b: BundleEnd) -> Bool {
        a.wallNanos == b.wallNanos && a.monoNanos == b.monoNanos && a.reason == b.reason
            && a.counts.elementsEqual(b.counts, by: { $0.type == $1.type && $0.count == $1.count })
    }

    public func hash(into h: inout Hasher) {
        h.combine(wallNanos); h.combine(monoNanos); h.combine(reason)
        for c in counts { h.combine(c.type); h.combine(c.count) }
    }
}

// Host builds keep these in analysis state (FieldAnalysis's incremental timelines); Embedded Swift has no Codable.
#if !hasFeature(Embedded)
extension LossReport: Codable {}
#endif
