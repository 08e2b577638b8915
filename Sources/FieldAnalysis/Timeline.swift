import FieldBackends
import FieldBundle
import FieldModel

/// A process as analysis knows it: pid plus the OS's start token, so a reused pid is a new process, not a trend.
public struct ProcessKey: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The process id.
    public var pid: Int32
    /// What tells a reused pid apart (Linux: start time in ticks since boot; 0 when the OS shows none).
    public var startToken: UInt64
    /// The boot this process belongs to.
    public var bootID: String

    public static func < (a: ProcessKey, b: ProcessKey) -> Bool { (a.pid, a.startToken) < (b.pid, b.startToken) }
    public var description: String { "pid \(pid)" }
}

/// Everything seen of one process, summarised as it streams in: bounded series, exact extremes, first and last
/// thread names. Nothing per sample is kept beyond the series' reservoirs.
public struct ProcessHistory: Sendable, Codable {
    /// Identity.
    public var key: ProcessKey
    /// Its name, last seen.
    public var name: String
    /// When first and last seen, Unix nanoseconds.
    public var firstNanos: Int64
    /// See `firstNanos`.
    public var lastNanos: Int64
    /// Samples that saw it.
    public var samples = 0
    /// Live threads.
    public var threads = Series()
    /// Virtual size, bytes.
    public var virtualBytes = Series()
    /// Resident size, bytes.
    public var residentBytes = Series()
    /// Open descriptors.
    public var descriptors = Series()
    /// Heap bytes (from the layout, or as the OS reports them).
    public var heapBytes = Series()
    /// Other private anonymous bytes (from the layout, or the OS's mapped bytes).
    public var anonymousBytes = Series()
    /// Shared memory bytes.
    public var sharedBytes = Series()
    /// Shared memory mappings.
    public var sharedMappings = Series()
    /// Stack-like regions beyond the live threads and the C library's labelled cache (unjoined stacks).
    public var unjoinedStacks = Series()
    /// All stack-like regions.
    public var stackRegions = Series()
    /// All mappings.
    public var mappings = Series()
    /// The last address space seen.
    public var lastSpace: AddressSpace?
    /// Its limits and their use, one per resource and source (a handful: searched, not hashed).
    public var quotas: [QuotaHistory] = []
    /// Thread names at the first and last reads that had them.
    public var firstThreadNames: [NamedAmount]?
    /// See `firstThreadNames`.
    public var lastThreadNames: [NamedAmount]?
}

extension ProcessHistory {
    /// Keeps at most `capacity` points per series from now on.
    mutating func shrink(to capacity: Int) {
        for k in [\ProcessHistory.threads, \.virtualBytes, \.residentBytes, \.descriptors, \.heapBytes, \.anonymousBytes,
                  \.sharedBytes, \.sharedMappings, \.unjoinedStacks, \.stackRegions, \.mappings] {
            self[keyPath: k].shrink(to: capacity)
        }
        for i in quotas.indices {
            quotas[i].used.shrink(to: capacity)
            quotas[i].room.shrink(to: capacity)
        }
    }

    /// A history whose series keep at most `capacity` points each.
    init(key: ProcessKey, name: String, at nanos: Int64, capacity: Int) {
        self.init(key: key, name: name, firstNanos: nanos, lastNanos: nanos)
        let s = Series(capacity: capacity)
        threads = s; virtualBytes = s; residentBytes = s; descriptors = s; heapBytes = s; anonymousBytes = s
        sharedBytes = s; sharedMappings = s; unjoinedStacks = s; stackRegions = s; mappings = s
    }
}

/// A limit over time: `{resource, scope, limit, used, peak, source}` for one process or the system.
public struct QuotaKey: Sendable, Hashable, Codable {
    /// `thread`, `fd`, `map_count`, an OS pool name...
    public var resource: String
    /// The limit's name.
    public var source: String
    /// The process, for process quotas.
    public var process: ProcessKey?
}

/// One limit's history.
public struct QuotaHistory: Sendable, Codable {
    /// Which.
    public var key: QuotaKey
    /// The process's name, for process quotas.
    public var processName: String?
    /// Use over time.
    public var used = Series()
    /// Room left (limit minus use) over time: the limit itself may move (a thread ceiling set by the whole
    /// system's tasks).
    public var room = Series()
    /// The highest use the OS itself remembers (0 when it keeps none).
    public var reportedPeak: Double = 0
    /// The limit, last seen.
    public var limit: Double = 0
    /// The highest use seen, or remembered by the OS.
    public var peak: Double = 0
    /// Whether this reading restates another's limit (see `QuotaReading.derived`).
    public var derived = false
    /// When last read, Unix nanoseconds.
    public var lastNanos: Int64 = 0
}

/// Processes that came and went, folded into one entry per name: short-lived ones, whose histories could never
/// support a finding (growth in a process that ran under `AnalysisContext.informationalSpanSeconds` and ended is not
/// reported) and, on a device that starts a process every few seconds, would make memory grow with the soak; and
/// the oldest of the longer-lived ones beyond `TimelineBuilder.maximumEnded` (see `TimelineBuilder.retire`).
public struct RetiredProcesses: Sendable, Codable {
    /// Processes folded in.
    public var count = 0
    /// When the first of them was first seen and the last of them last seen, Unix nanoseconds.
    public var firstNanos = Int64.max
    /// See `firstNanos`.
    public var lastNanos = Int64.min
    /// The most threads, resident bytes and descriptors any of them had.
    public var maxThreads = 0.0
    /// See `maxThreads`.
    public var maxResidentBytes = 0.0
    /// See `maxThreads`.
    public var maxDescriptors = 0.0
}

extension UInt64 {
    /// Adds `v`, stopping at `UInt64.max`.
    fileprivate mutating func add(_ v: UInt64) {
        let (s, overflow) = addingReportingOverflow(v)
        self = overflow ? .max : s
    }
}

/// Bundles a device dropped or had refused, for one reason (the `missing` array of docs/analyze-json.md).
public struct MissingData: Sendable, Encodable, Equatable {
    public var device: String
    /// `spool-quota`, `disk-full`, `rejected-by-collector`, or `samples-not-written` (samples that reached no
    /// bundle: named `seq A-B at TIME`, counted in `samples`).
    public var reason: String
    public var bundles: UInt64 = 0
    /// Compressed bytes.
    public var bytes: UInt64 = 0
    /// File names of the bundles.
    public var names: [String] = []
    /// Samples not written (only for `samples-not-written`): the union of the named ranges.
    public var samples: UInt64?

    /// The loss reason of samples that reached no bundle.
    public static let unwritten = "samples-not-written"

    /// How many samples the names `seq A-B at TIME` cover, each counted once (one range may be recorded twice,
    /// or once more grown, when the agent was stopped between a record and the next).
    static func unwrittenCount(_ names: [String]) -> UInt64 {
        var byRun: [Substring: [(UInt64, UInt64)]] = [:]
        for n in names {
            let f = n.split(separator: " ")
            guard f.count == 4, f[0] == "seq" else { continue }
            let ends = f[1].split(separator: "-").compactMap { UInt64($0) }
            guard ends.count == 2, ends[0] <= ends[1] else { continue }
            byRun[f[3], default: []].append((ends[0], ends[1]))
        }
        var total: UInt64 = 0
        for ranges in byRun.values {
            var end: UInt64? = nil
            for (lo, hi) in ranges.sorted(by: { $0.0 < $1.0 }) {
                let from = end.map { max(lo, $0 &+ 1) } ?? lo
                if hi >= from { total = total.addingReportingOverflow(hi - from + 1).overflow ? .max : total + (hi - from + 1) }
                end = max(end ?? hi, hi)
            }
        }
        return total
    }
}

/// A kernel event and when it was logged.
public struct TimedEvent: Sendable, Codable {
    /// Unix nanoseconds.
    public var wallNanos: Int64
    /// What happened.
    public var event: ObservedEvent
}

/// A bundle read into a timeline, and what was wrong with it.
public struct BundleRead: Sendable, Codable {
    /// Where it was read from (as given to the reader).
    public var path: String
    /// Why reading stopped early, if it did.
    public var damage: Damage?
}

/// One device's history, joined across its bundles.
public struct DeviceTimeline: Sendable, Codable {
    /// Device id.
    public var device: String
    /// Backend id (from the bundle header).
    public var backend: String
    /// The agent's own process ids on this device (from the bundle headers).
    public var agentPIDs: Set<Int32> = []
    /// Sample times, Unix nanoseconds, in the order read (sorted by `finish`).
    public var sampleTimes: [Int64] = []
    /// Memory the system can still give, bytes.
    public var memoryAvailable = Series()
    /// All memory, last seen.
    public var memoryTotal: UInt64?
    /// Kernel object caches by name, bytes.
    public var kernelCaches: [String: Series] = [:]
    /// The caches the kernel reclaims under pressure.
    public var reclaimableCaches: Set<String> = []
    /// Processes by identity.
    public var processes: [ProcessKey: ProcessHistory] = [:]
    /// System-wide limits and their use.
    public var systemQuotas: [QuotaHistory] = []
    /// Every limit's history: the system's, then each process's.
    public var quotas: [QuotaHistory] { systemQuotas + processes.values.flatMap(\.quotas) }
    /// Kernel events with their time.
    public var events: [TimedEvent] = []
    /// Boot ids in the order seen; more than one means the device rebooted between or within bundles.
    public var boots: [String] = []
    /// Bundles read, and what was wrong with any of them.
    public var bundles: [BundleRead] = []
    /// Sampling interval, nanoseconds.
    public var intervalNanos: UInt64 = 0
    /// Bundles the device dropped (spool quota, full disk) or the collector refused, as its loss records say.
    public var losses: [LossReport] = []
    /// Instants written in parts (format 1.2) of which a part was missing: left out of the timelines.
    public var incompleteSamples = 0
    /// Samples of a backend this fieldctl does not know: read, not interpreted.
    public var uninterpretedSamples = 0
    /// Captured values that could not be used, left out of the history and counted.
    public var skipped = SkippedValues()
    /// Points each series keeps (`Series.capacity`).
    public var seriesCapacity = Series.defaultCapacity
    /// Short-lived processes that ended, by name (see `RetiredProcesses`); not in `processes`.
    public var retired: [String: RetiredProcesses] = [:]
    /// Processes seen, `processes` and `retired` together.
    public var processCount: Int { processes.count + retired.values.reduce(0) { $0 + $1.count } }
    /// The latest sample time so far, and whether every sample came after the one before (bundles read in order):
    /// only then is a process not seen for a while known to have ended.
    var latestNanos = Int64.min
    var inOrder = true
    var foldsEnded = true
    var samplesSinceRetiring = 0

    /// The first and last sample, Unix nanoseconds.
    public var firstNanos: Int64 { sampleTimes.first ?? 0 }
    /// See `firstNanos`.
    public var lastNanos: Int64 { sampleTimes.last ?? 0 }
    /// Time observed, seconds.
    public var spanSeconds: Double { Nanos.seconds(from: firstNanos, to: lastNanos) }

    /// What the device's loss records say is missing, one entry per reason, in order of reason.
    ///
    /// A bundle named by two loss records counts once: an agent that keeps its losses on disk until a bundle
    /// holds them may record one twice, when it was stopped between writing the record and forgetting the file.
    public var missing: [MissingData] {
        var byReason: [String: MissingData] = [:]
        var seen = Set<String>()
        // Bundles a record counts beyond its names: an agent carrying a long chain of drops forward keeps only the
        // newest names, so those counted are older than its oldest name (names sort by time). Known names older
        // than that may be among them; what remains is added once, the largest per reason.
        var beyond: [(reason: String, count: UInt64, before: String)] = []
        for l in losses {
            if let oldest = l.names.min(), l.bundles > UInt64(l.names.count) {
                beyond.append((l.reason, l.bundles - UInt64(l.names.count), oldest))
            }
            var entry = byReason[l.reason] ?? MissingData(device: device, reason: l.reason)
            let fresh = l.names.filter { seen.insert(l.reason + "\u{0}" + $0).inserted }
            guard fresh.count > 0 || l.names.isEmpty else { continue }
            // Bytes in proportion to the names not counted yet (records list bytes for all their names together).
            let share = l.names.isEmpty || fresh.count == l.names.count
                ? l.bytes : l.bytes / UInt64(l.names.count) * UInt64(fresh.count)
            let bundles = l.names.isEmpty ? l.bundles : UInt64(fresh.count)
            entry.bundles.add(bundles)  // saturated: the numbers come from the device's records
            entry.bytes.add(share)
            entry.names += fresh
            byReason[l.reason] = entry
        }
        var unnamed: [String: UInt64] = [:]
        for b in beyond where b.reason != MissingData.unwritten {
            let known = UInt64(byReason[b.reason]?.names.filter { $0 < b.before }.count ?? 0)
            unnamed[b.reason] = max(unnamed[b.reason] ?? 0, b.count > known ? b.count - known : 0)
        }
        for (reason, n) in unnamed { byReason[reason]?.bundles.add(n) }
        if var e = byReason[MissingData.unwritten] {
            e.bundles = 0
            e.samples = MissingData.unwrittenCount(e.names)
            byReason[MissingData.unwritten] = e
        }
        return byReason.keys.sorted().map { byReason[$0]! }
    }

    /// `missing` for a person: one phrase each, e.g. `3 bundle(s) of 96 KiB dropped on the device (spool-quota)`.
    public var lossSummary: [String] {
        missing.map { m in
            if let n = m.samples { return "\(n) sample(s) not written on the device (the disk stayed full)" }
            if m.reason == CaptureLogParser.cutReason { return "\(m.names.count) sample(s) of the imported capture cut short and left out" }
            if m.reason == CaptureLogParser.missingReason {
                return "\(m.names.count) run(s) of iterations of the imported log without one of its files (log-file-missing): "
                    + m.names.prefix(3).joined(separator: "; ") + (m.names.count > 3 ? "; ..." : "")
            }
            if m.reason == CaptureLogParser.rotatedReason {
                return "\(m.bundles) segment(s) of \(m.bytes / 1024) KiB of the capture rotated out on the device (capture-rotated)"
            }
            let what = m.reason == "rejected-by-collector"
                ? "refused by the collector (kept on the device as .rejected)" : "dropped on the device (\(m.reason))"
            return "\(m.bundles) bundle(s) of \(m.bytes / 1024) KiB \(what)"
        }
    }

    /// Holes in the sampling longer than three intervals (agent stopped, device off, bundles lost): start and
    /// length in seconds, in time order.
    public var gaps: [(startNanos: Int64, seconds: Double)] {
        let limit = Double(max(intervalNanos, 1)) * 3 / 1e9
        return zip(sampleTimes, sampleTimes.dropFirst()).compactMap { a, b in
            let g = Nanos.seconds(from: a, to: b)
            return g > limit ? (a, g) : nil
        }
    }

    /// Whether the process was still there at the end of the observation (seen in the last sample, or within
    /// two intervals of it).
    public func alive(_ p: ProcessHistory) -> Bool {
        Nanos.between(p.lastNanos, lastNanos) <= Nanos.times(2, max(intervalNanos, 1_000_000_000))
    }
}

/// Builds device timelines from bundles: each sample goes through its backend's interpreter (the registry's, by
/// the header's backend id) and only the observations reach the timeline.
public struct TimelineBuilder {
    /// Timelines by device id.
    public private(set) var devices: [String: DeviceTimeline] = [:]
    /// Only these pids, when set.
    public var pidFilter: Set<Int32>?
    /// Only samples at or after this wall clock (Unix nanoseconds).
    public var since: Int64?
    /// Only samples at or before this wall clock (Unix nanoseconds).
    public var until: Int64?
    /// The backends that can interpret samples.
    let backends: [any Backend]
    /// One interpreter per device (they remember deep captures between samples).
    var interpreters: [String: any SampleInterpreter] = [:]
    /// Points each series keeps. The default bounds memory whatever the soak's length; tests set it beyond any
    /// soak's sample count to check that the verdicts do not depend on it.
    public let seriesCapacity: Int
    /// Whether short-lived processes that ended are folded into `DeviceTimeline.retired` (bounded memory under
    /// process churn); tests turn it off to check that no verdict depends on it.
    public let foldsEndedProcesses: Bool

    /// An empty builder. `backends` defaults to every backend field knows (tests add their own).
    public init(pidFilter: Set<Int32>? = nil, since: Int64? = nil, until: Int64? = nil, backends: [any Backend] = BackendRegistry.all,
                seriesCapacity: Int = Series.defaultCapacity, foldsEndedProcesses: Bool = true) {
        self.foldsEndedProcesses = foldsEndedProcesses
        self.pidFilter = pidFilter
        self.since = since
        self.until = until
        self.backends = backends
        self.seriesCapacity = seriesCapacity
    }

    /// Carries on from a timeline built earlier (`DeviceAnalysisState`): later bundles are added to it.
    public mutating func resume(_ timeline: DeviceTimeline) { devices[timeline.device] = timeline }

    /// Reads a bundle that is already in the timeline only to bring its device's interpreter to where it was
    /// after it: the interpreter remembers deep captures (maps, limits) between samples, and a resumed builder
    /// starts with a fresh one. The timeline is not touched.
    public mutating func prime(_ reader: BundleReader) {
        var header: BundleHeader?
        var samples: SampleDecoder?
        var parts = SampleAssembler()
        while let r = reader.next() {
            switch r.type {
            case .header:
                header = try? RecordCodec.decodeHeader(r.payload)
                samples = header.map(SampleDecoder.init(header:))
            case .sample:
                guard let h = header, let s = try? samples?.decode(r.payload), let whole = parts.add(s) else { continue }
                if let a = since, whole.wallNanos < a { continue }
                if let b = until, whole.wallNanos > b { continue }
                _ = interpreter(h)?.interpret(wallNanos: whole.wallNanos, files: whole.files)
            default: break
            }
        }
    }

    /// Reads one bundle into the timelines. Damage is recorded, never fatal. `progress` is called now and then
    /// with the decompressed bytes read so far.
    public mutating func add(_ reader: BundleReader, progress: ((UInt64) -> Void)? = nil) {
        var header: BundleHeader?
        var samples: SampleDecoder?
        var parts = SampleAssembler()
        var count = 0
        while let r = reader.next() {
            count += 1
            if count % 256 == 0 { progress?(reader.streamBytes) }
            switch r.type {
            case .header:
                header = try? RecordCodec.decodeHeader(r.payload)
                samples = header.map(SampleDecoder.init(header:))
                if let h = header { start(h) }
            case .sample:
                guard let h = header, let s = try? samples?.decode(r.payload), let whole = parts.add(s) else { continue }
                add(sample: whole, header: h)
            case .event:
                guard let h = header, let e = try? RecordCodec.decodeEvent(r.payload), let i = interpreter(h) else { continue }
                for ev in i.events(inLogLines: e.lines) { devices[h.deviceID]!.events.append(TimedEvent(wallNanos: e.wallNanos, event: ev)) }
                for u in i.unusableValues(inLogLines: e.lines) { devices[h.deviceID]!.skipped.add(u) }
            case .loss:
                guard let h = header, let l = try? RecordCodec.decodeLoss(r.payload) else { continue }
                devices[h.deviceID]!.losses.append(l)
            default: break
            }
        }
        parts.finish()
        let id = header?.deviceID ?? "unknown"
        if devices[id] == nil { devices[id] = header.map(empty) ?? DeviceTimeline(device: id, backend: "unknown") }
        devices[id]!.bundles.append(BundleRead(path: reader.name, damage: reader.damage))
        devices[id]!.incompleteSamples += parts.incomplete
    }

    /// Puts what depends on order in time order: bundles may be given in any order.
    public mutating func finish() {
        for id in devices.keys {
            if devices[id]!.inOrder && devices[id]!.foldsEnded { Self.retire(in: &devices[id]!) }
            devices[id]!.sampleTimes.sort()
            devices[id]!.events.sort { $0.wallNanos < $1.wallNanos }
        }
    }

    func empty(_ h: BundleHeader) -> DeviceTimeline {
        var d = DeviceTimeline(device: h.deviceID, backend: h.backend)
        d.intervalNanos = h.intervalNanos
        d.seriesCapacity = seriesCapacity
        d.foldsEnded = foldsEndedProcesses
        d.memoryAvailable = Series(capacity: seriesCapacity)
        return d
    }

    mutating func start(_ h: BundleHeader) {
        if devices[h.deviceID] == nil { devices[h.deviceID] = empty(h) }
        if let pid = h.agentPID { devices[h.deviceID]!.agentPIDs.insert(pid) }
    }

    mutating func interpreter(_ h: BundleHeader) -> (any SampleInterpreter)? {
        if let i = interpreters[h.deviceID] { return i }
        guard let b = BackendRegistry.named(h.backend, in: backends) else { return nil }
        let i = b.makeInterpreter()
        interpreters[h.deviceID] = i
        return i
    }

    /// Adds one sample of a bundle with header `h`.
    public mutating func add(sample s: Sample, header h: BundleHeader) {
        if let a = since, s.wallNanos < a { return }
        if let b = until, s.wallNanos > b { return }
        start(h)
        guard let i = interpreter(h) else {
            devices[h.deviceID]!.uninterpretedSamples += 1
            return
        }
        let obs = SkippedValues.screened(i.interpret(wallNanos: s.wallNanos, files: s.files), backend: h.backend)
        // In place: copying a device's history out of the dictionary and back on every sample would copy it all.
        Self.add(obs, boot: h.bootID ?? "boot", pidFilter: pidFilter, into: &devices[h.deviceID]!)
    }

    static func add(_ o: SampleObservations, boot: String, pidFilter: Set<Int32>?, into d: inout DeviceTimeline) {
        if d.boots.last != boot { d.boots.append(boot) }
        for u in o.unusable { d.skipped.add(u) }
        let t = Double(o.wallNanos) / 1e9
        d.sampleTimes.append(o.wallNanos)
        if o.wallNanos < d.latestNanos { d.inOrder = false }
        d.latestNanos = max(d.latestNanos, o.wallNanos)
        d.samplesSinceRetiring += 1
        if d.inOrder && d.foldsEnded && d.samplesSinceRetiring >= 256 {
            d.samplesSinceRetiring = 0
            retire(in: &d)
        }
        if let v = o.system.memoryAvailable { d.memoryAvailable.append(t, Double(v)) }
        if let v = o.system.memoryTotal { d.memoryTotal = v }
        for c in o.system.kernelCaches ?? [] {
            d.kernelCaches[c.name, default: Series(capacity: d.seriesCapacity > Series.defaultCapacity ? d.seriesCapacity : min(256, d.seriesCapacity))].append(t, Double(c.bytes))
            if c.reclaimable { d.reclaimableCaches.insert(c.name) }
        }
        let capacity = d.seriesCapacity
        for q in o.system.quotas { addQuota(q, process: nil, name: nil, at: o.wallNanos, capacity: capacity, into: &d.systemQuotas) }
        for p in o.processes {
            if let filter = pidFilter, !filter.contains(p.pid) { continue }
            let key = ProcessKey(pid: p.pid, startToken: p.startToken, bootID: boot)
            addProcess(p, key: key, at: o.wallNanos, capacity: capacity,
                       into: &d.processes[key, default: ProcessHistory(key: key, name: p.name, at: o.wallNanos, capacity: capacity)])
        }
    }

    /// What happens to processes that ended (not seen for ten minutes, or 20 intervals if longer; bundles read in
    /// time order): one that ran under `AnalysisContext.informationalSpanSeconds` is folded into `retired` (its
    /// growth can never be reported), unless one of its limits was reached (an exhausted limit is a finding even in
    /// a process that is gone); a longer one keeps its history at `endedCapacity` points per series; beyond
    /// `maximumEnded` such histories, the oldest are folded too. Memory then stays bounded under any churn.
    static func retire(in d: inout DeviceTimeline) {
        let quiet = max(600_000_000_000, Nanos.times(20, d.intervalNanos))
        let short = Int64(AnalysisContext().informationalSpanSeconds * 1e9)
        var ended: [(key: ProcessKey, last: Int64)] = []
        var fold: [ProcessKey] = []
        var shrink: [ProcessKey] = []
        for (key, p) in d.processes where Nanos.between(p.lastNanos, d.latestNanos) > quiet {
            let exhausted = p.quotas.contains { $0.limit > 0 && ($0.room.minimum <= 0 || $0.reportedPeak >= $0.limit) }
            if Nanos.between(p.firstNanos, p.lastNanos) < short && !exhausted {
                fold.append(key)
            } else {
                ended.append((key, p.lastNanos))
                if p.threads.capacity > endedCapacity { shrink.append(key) }
            }
        }
        // After the walk: changing the dictionary while walking it would copy it whole.
        for key in shrink { d.processes[key]!.shrink(to: endedCapacity) }
        if ended.count > maximumEnded {
            ended.sort { $0.last < $1.last }
            fold += ended.prefix(ended.count - maximumEnded).filter { k in
                !d.processes[k.key]!.quotas.contains { $0.limit > 0 && ($0.room.minimum <= 0 || $0.reportedPeak >= $0.limit) }
            }.map(\.key)
        }
        for key in fold {
            let p = d.processes.removeValue(forKey: key)!
            var r = d.retired[p.name, default: RetiredProcesses()]
            r.count += 1
            r.firstNanos = min(r.firstNanos, p.firstNanos)
            r.lastNanos = max(r.lastNanos, p.lastNanos)
            if !p.threads.isEmpty { r.maxThreads = max(r.maxThreads, p.threads.maximum) }
            if !p.residentBytes.isEmpty { r.maxResidentBytes = max(r.maxResidentBytes, p.residentBytes.maximum) }
            if !p.descriptors.isEmpty { r.maxDescriptors = max(r.maxDescriptors, p.descriptors.maximum) }
            d.retired[p.name] = r
        }
    }

    /// Points per series kept for a process that ended after running long enough for its growth to be reported.
    static let endedCapacity = 128
    /// Ended processes kept with their histories; older ones are folded into `retired`.
    static let maximumEnded = 4096

    static func addQuota(_ q: QuotaReading, process: ProcessKey?, name: String?, at nanos: Int64, capacity: Int,
                         into list: inout [QuotaHistory]) {
        let i: Int
        if let found = list.firstIndex(where: { $0.key.resource == q.resource && $0.key.source == q.source }) {
            i = found
        } else {
            list.append(QuotaHistory(key: QuotaKey(resource: q.resource, source: q.source, process: process), processName: name,
                                     used: Series(capacity: capacity), room: Series(capacity: capacity)))
            i = list.count - 1
        }
        let t = Double(nanos) / 1e9
        list[i].used.append(t, q.used)
        list[i].room.append(t, q.limit - q.used)
        list[i].limit = q.limit
        if let p = q.peak { list[i].reportedPeak = max(list[i].reportedPeak, p) }
        list[i].peak = max(list[i].peak, q.used, q.peak ?? 0)
        list[i].derived = q.derived
        list[i].lastNanos = max(list[i].lastNanos, nanos)
        if let n = name { list[i].processName = n }
    }

    static func addProcess(_ p: ProcessObservation, key: ProcessKey, at nanos: Int64, capacity: Int, into h: inout ProcessHistory) {
        let t = Double(nanos) / 1e9
        h.name = p.name
        h.samples += 1
        h.firstNanos = min(h.firstNanos, nanos)
        h.lastNanos = max(h.lastNanos, nanos)
        if let v = p.threads { h.threads.append(t, Double(v)) }
        if let v = p.virtualBytes { h.virtualBytes.append(t, Double(v)) }
        if let v = p.residentBytes { h.residentBytes.append(t, Double(v)) }
        if let v = p.descriptors { h.descriptors.append(t, Double(v)) }
        if let s = p.addressSpace {
            h.heapBytes.append(t, Double(s.heapBytes))
            h.anonymousBytes.append(t, Double(s.anonymousBytes))
            h.sharedBytes.append(t, Double(s.sharedBytes))
            h.sharedMappings.append(t, Double(s.sharedMappings))
            h.stackRegions.append(t, Double(s.stackRegions))
            h.mappings.append(t, Double(s.mappings))
            let live = p.threads ?? 1
            // In doubles: a backend's counts may be anything an Int holds.
            h.unjoinedStacks.append(t, max(0, Double(s.stackRegions) - Double(s.cachedStacks) - max(0, Double(live) - 1)))
            h.lastSpace = s
        } else {
            if let v = p.heapBytes { h.heapBytes.append(t, Double(v)) }
            if let v = p.mappedBytes { h.anonymousBytes.append(t, Double(v)) }
        }
        if let names = p.threadNames {
            if h.firstThreadNames == nil { h.firstThreadNames = names }
            h.lastThreadNames = names
        }
        for q in p.quotas { addQuota(q, process: key, name: p.name, at: nanos, capacity: capacity, into: &h.quotas) }
    }
}
