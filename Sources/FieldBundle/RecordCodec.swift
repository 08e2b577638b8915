import FieldModel

/// Encodes typed records to CBOR payloads and decodes them back, tolerating unknown fields.
///
/// Keys are short lowercase text; the order written here is the order JSON renderings show.
public enum RecordCodec {
    // MARK: Encoding

    /// The header payload.
    public static func encode(_ h: BundleHeader) -> [UInt8] {
        var e = CBOREncoder(capacity: 1024 + h.osIdentity.count)
        e.beginMap((h.bootID == nil ? 12 : 13) + (h.sameWindow > 0 ? 1 : 0) + (h.agentPID == nil ? 0 : 1))
        e.encode("format"); e.encode(UInt64(h.format.major))
        e.encode("format_minor"); e.encode(UInt64(h.format.minor))
        e.encode("agent"); e.encode(h.agent)
        e.encode("backend"); e.encode(h.backend)
        e.encode("os"); e.encode(bytes: h.osIdentity)
        e.encode("device"); e.encode(h.deviceID)
        if let b = h.bootID { e.encode("boot_id"); e.encode(b) }
        e.encode("wall_ns"); e.encode(h.wallNanos)
        e.encode("mono_ns"); e.encode(h.monoNanos)
        e.encode("interval_ns"); e.encode(h.intervalNanos)
        e.encode("proc_root"); e.encode(h.procRoot)
        e.encode("sequence"); e.encode(h.sequence)
        if h.sameWindow > 0 { e.encode("same_window"); e.encode(h.sameWindow) }
        if let pid = h.agentPID { e.encode("agent_pid"); e.encode(UInt64(UInt32(bitPattern: pid))) }
        e.encode("plan")
        e.beginArray(h.plan.count)
        for p in h.plan {
            e.beginMap(5)
            e.encode("path"); e.encode(p.path)
            e.encode("scope"); e.encode(p.scope.rawValue)
            e.encode("tier"); e.encode(p.tier.rawValue)
            e.encode("every"); e.encode(UInt64(p.every))
            e.encode("kind"); e.encode(p.kind.rawValue)
        }
        return e.bytes
    }

    /// The sample payload.
    ///
    /// Read durations travel in one array after the entries rather than inside them: an entry whose content did
    /// not change then repeats the previous sample's bytes exactly, and zstd codes a run of such entries as one
    /// match. Microseconds are precise enough for a file read and take a byte or two.
    ///
    /// `same[i]` true stores entry i as a reference to the same path's previous capture in the bundle (status
    /// `same`, no data; format 1.1): `BundleWriter` decides, because only it knows what the bundle holds.
    ///
    /// `reusing` is a buffer whose storage the payload may take over (the previous sample's payload).
    public static func encode(_ s: Sample, same: [Bool] = [], reusing: consuming [UInt8] = []) -> [UInt8] {
        var size = 64
        for (i, f) in s.files.enumerated() { size += (i < same.count && same[i] ? 0 : f.bytes.count) + f.path.utf8.count + 40 }
        var e = CBOREncoder(reusing: consume reusing, capacity: size)
        e.beginMap(s.part == nil ? 5 : 7)
        e.encode("seq"); e.encode(s.sequence)
        e.encode("wall_ns"); e.encode(s.wallNanos)
        e.encode("mono_ns"); e.encode(s.monoNanos)
        if let part = s.part {
            e.encode("part"); e.encode(UInt64(part.index))
            e.encode("more"); e.encode(part.more)
        }
        e.encode("files")
        e.beginArray(s.files.count)
        for (i, f) in s.files.enumerated() {
            if i < same.count && same[i] {
                // The content, size limit flag and status come from the previous capture; the kind is kept so a
                // reader can check it refers to the same sort of entry.
                e.beginMap(f.kind != .file ? 3 : 2)
                e.encode("path"); e.encode(f.path)
                if f.kind != .file { e.encode("kind"); e.encode(f.kind.rawValue) }
                e.encode("status"); e.encode(sameStatus)
                continue
            }
            let hasData = f.status == .ok
            e.beginMap(2 + (f.kind != .file ? 1 : 0) + (f.errno != nil ? 1 : 0) + (f.truncated ? 1 : 0) + (hasData ? 1 : 0))
            e.encode("path"); e.encode(f.path)
            if f.kind != .file { e.encode("kind"); e.encode(f.kind.rawValue) }
            e.encode("status"); e.encode(f.status.rawValue)
            if let n = f.errno { e.encode("errno"); e.encode(Int64(n)) }
            if f.truncated { e.encode("truncated"); e.encode(true) }
            if hasData { e.encode("data"); e.encode(bytes: f.bytes) }
        }
        e.encode("read_us")
        e.beginArray(s.files.count)
        for f in s.files { e.encode((f.readNanos + 500) / 1000) }
        return e.bytes
    }

    /// The event payload.
    public static func encode(_ b: EventBatch) -> [UInt8] {
        var e = CBOREncoder(capacity: 64 + b.lines.reduce(0) { $0 + $1.count + 3 })
        e.beginMap(4)
        e.encode("wall_ns"); e.encode(b.wallNanos)
        e.encode("mono_ns"); e.encode(b.monoNanos)
        e.encode("source"); e.encode(b.source)
        e.encode("lines")
        e.beginArray(b.lines.count)
        for l in b.lines { e.encode(bytes: l) }
        return e.bytes
    }

    /// The agent statistics payload.
    public static func encode(_ s: AgentStats) -> [UInt8] {
        var e = CBOREncoder()
        e.beginMap(10)
        e.encode("wall_ns"); e.encode(s.wallNanos)
        e.encode("mono_ns"); e.encode(s.monoNanos)
        e.encode("rss_bytes"); e.encode(s.rssBytes)
        e.encode("cpu_user_us"); e.encode(s.cpuUserMicros)
        e.encode("cpu_system_us"); e.encode(s.cpuSystemMicros)
        e.encode("samples"); e.encode(s.samples)
        e.encode("last_sample_ns"); e.encode(s.lastSampleNanos)
        e.encode("max_sample_ns"); e.encode(s.maxSampleNanos)
        e.encode("missed_intervals"); e.encode(s.missedIntervals)
        e.encode("dropped_bytes"); e.encode(s.droppedBytes)
        return e.bytes
    }

    /// The loss payload.
    public static func encode(_ l: LossReport) -> [UInt8] {
        var e = CBOREncoder()
        e.beginMap(6)
        e.encode("wall_ns"); e.encode(l.wallNanos)
        e.encode("mono_ns"); e.encode(l.monoNanos)
        e.encode("reason"); e.encode(l.reason)
        e.encode("bundles"); e.encode(l.bundles)
        e.encode("bytes"); e.encode(l.bytes)
        e.encode("names")
        e.beginArray(l.names.count)
        for n in l.names { e.encode(n) }
        return e.bytes
    }

    /// The end payload.
    public static func encode(_ end: BundleEnd) -> [UInt8] {
        var e = CBOREncoder()
        e.beginMap(4)
        e.encode("wall_ns"); e.encode(end.wallNanos)
        e.encode("mono_ns"); e.encode(end.monoNanos)
        e.encode("reason"); e.encode(end.reason)
        e.encode("records")
        e.beginMap(end.counts.count)
        for c in end.counts { e.encode(c.type); e.encode(c.count) }
        return e.bytes
    }

    // MARK: Decoding

    private static func field(_ m: CBORValue, _ key: String, _ type: RecordType) throws(BundleError) -> CBORValue {
        guard let v = m[key] else { throw BundleError(.schema, "\(type) record has no '\(key)' field") }
        return v
    }

    private static func uint(_ m: CBORValue, _ key: String, _ type: RecordType) throws(BundleError) -> UInt64 {
        guard let v = try field(m, key, type).uint64 else {
            throw BundleError(.schema, "\(type) record field '\(key)' is not an unsigned integer")
        }
        return v
    }

    private static func int(_ m: CBORValue, _ key: String, _ type: RecordType) throws(BundleError) -> Int64 {
        guard let v = try field(m, key, type).int64 else {
            throw BundleError(.schema, "\(type) record field '\(key)' is not an integer")
        }
        return v
    }

    private static func text(_ m: CBORValue, _ key: String, _ type: RecordType) throws(BundleError) -> String {
        guard let v = try field(m, key, type).string else {
            throw BundleError(.schema, "\(type) record field '\(key)' is not text")
        }
        return v
    }

    private static func map(_ payload: [UInt8], _ type: RecordType) throws(BundleError) -> CBORValue {
        let v: CBORValue
        do { v = try CBORDecoder.decode(payload) } catch { throw BundleError(.schema, "\(type) record: \(error)") }
        guard case .map = v else { throw BundleError(.schema, "\(type) record payload is not a map") }
        return v
    }

    /// Decodes a header payload.
    public static func decodeHeader(_ payload: [UInt8]) throws(BundleError) -> BundleHeader {
        let t = RecordType.header
        let m = try map(payload, t)
        var plan: [CapturePlanEntry] = []
        for item in m["plan"]?.arrayValue ?? [] {
            guard let path = item["path"]?.string else { continue }
            plan.append(
                CapturePlanEntry(
                    path: path,
                    scope: item["scope"]?.string.flatMap(CaptureScope.init(rawValue:)) ?? .system,
                    tier: item["tier"]?.string.flatMap(CaptureTier.init(rawValue:)) ?? .cheap,
                    every: UInt32(clamping: item["every"]?.uint64 ?? 1),
                    kind: item["kind"]?.string.flatMap(EntryKind.init(rawValue:)) ?? .file))
        }
        return BundleHeader(
            format: FormatVersion(
                major: UInt8(clamping: try uint(m, "format", t)), minor: UInt8(clamping: m["format_minor"]?.uint64 ?? 0)),
            agent: try text(m, "agent", t),
            backend: try text(m, "backend", t),
            osIdentity: m["os"]?.byteString ?? [],
            deviceID: try text(m, "device", t),
            bootID: m["boot_id"]?.string,
            wallNanos: try int(m, "wall_ns", t),
            monoNanos: try uint(m, "mono_ns", t),
            intervalNanos: m["interval_ns"]?.uint64 ?? 0,
            procRoot: m["proc_root"]?.string ?? "/proc",
            sequence: m["sequence"]?.uint64 ?? 0,
            plan: plan,
            sameWindow: m["same_window"]?.uint64 ?? 0,
            agentPID: m["agent_pid"]?.uint64.flatMap { $0 <= UInt64(Int32.max) ? Int32($0) : nil })
    }

    /// The status text of an entry stored as a reference to its previous capture (format 1.1).
    static let sameStatus = "same"

    /// Decodes a sample payload on its own.
    ///
    /// Entries a 1.1 writer stored as references to an earlier capture (status `same`) come back with status
    /// `.error` and no bytes, as a 1.0 reader would see them: whoever needs the content decodes a bundle's samples
    /// in order through `SampleDecoder`, which resolves them.
    public static func decodeSample(_ payload: [UInt8]) throws(BundleError) -> Sample {
        var same: [Int] = []
        return try decodeSample(payload, same: &same)
    }

    /// Decodes a sample payload and lists, in `same`, the indices of the entries stored as references.
    static func decodeSample(_ payload: [UInt8], same: inout [Int]) throws(BundleError) -> Sample {
        let t = RecordType.sample
        let m = try map(payload, t)
        guard let items = try field(m, "files", t).arrayValue else {
            throw BundleError(.schema, "sample record field 'files' is not an array")
        }
        let times = m["read_us"]?.arrayValue ?? []
        var files: [FileCapture] = []
        files.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard let path = item["path"]?.string else { throw BundleError(.schema, "sample file entry has no path") }
            let status = item["status"]?.string
            if status == sameStatus { same.append(i) }
            files.append(
                FileCapture(
                    path: path,
                    kind: item["kind"]?.string.flatMap(EntryKind.init(rawValue:)) ?? .file,
                    // A status this version does not know is kept as the closest generic one.
                    status: status.flatMap(ReadStatus.init(rawValue:)) ?? .error,
                    errno: item["errno"]?.int64.map { Int32(clamping: $0) },
                    readNanos: (i < times.count ? times[i].uint64 ?? 0 : 0) &* 1000,
                    truncated: item["truncated"]?.boolValue ?? false,
                    bytes: item["data"]?.byteString ?? []))
        }
        var part: SamplePart?
        if let p = m["part"] {
            guard let index = p.uint64, index <= UInt64(UInt32.max) else {
                throw BundleError(.schema, "sample record field 'part' is not an unsigned integer below 2^32")
            }
            var more = false
            if let flag = m["more"] {
                guard let b = flag.boolValue else { throw BundleError(.schema, "sample record field 'more' is not a bool") }
                more = b
            }
            part = SamplePart(index: UInt32(index), more: more)
        }
        return Sample(
            sequence: try uint(m, "seq", t), wallNanos: try int(m, "wall_ns", t), monoNanos: try uint(m, "mono_ns", t),
            files: files, part: part)
    }

    /// Decodes an event payload.
    public static func decodeEvent(_ payload: [UInt8]) throws(BundleError) -> EventBatch {
        let t = RecordType.event
        let m = try map(payload, t)
        let lines = (m["lines"]?.arrayValue ?? []).compactMap { $0.byteString ?? $0.string.map { Array($0.utf8) } }
        return EventBatch(
            wallNanos: try int(m, "wall_ns", t), monoNanos: try uint(m, "mono_ns", t),
            source: m["source"]?.string ?? "", lines: lines)
    }

    /// Decodes an agent statistics payload; absent counters read as 0.
    public static func decodeStats(_ payload: [UInt8]) throws(BundleError) -> AgentStats {
        let t = RecordType.stats
        let m = try map(payload, t)
        return AgentStats(
            wallNanos: try int(m, "wall_ns", t), monoNanos: try uint(m, "mono_ns", t),
            rssBytes: m["rss_bytes"]?.uint64 ?? 0, cpuUserMicros: m["cpu_user_us"]?.uint64 ?? 0,
            cpuSystemMicros: m["cpu_system_us"]?.uint64 ?? 0, samples: m["samples"]?.uint64 ?? 0,
            lastSampleNanos: m["last_sample_ns"]?.uint64 ?? 0, maxSampleNanos: m["max_sample_ns"]?.uint64 ?? 0,
            missedIntervals: m["missed_intervals"]?.uint64 ?? 0, droppedBytes: m["dropped_bytes"]?.uint64 ?? 0)
    }

    /// Decodes a loss payload.
    public static func decodeLoss(_ payload: [UInt8]) throws(BundleError) -> LossReport {
        let t = RecordType.loss
        let m = try map(payload, t)
        return LossReport(
            wallNanos: try int(m, "wall_ns", t), monoNanos: try uint(m, "mono_ns", t),
            reason: m["reason"]?.string ?? "", bundles: m["bundles"]?.uint64 ?? 0, bytes: m["bytes"]?.uint64 ?? 0,
            names: (m["names"]?.arrayValue ?? []).compactMap { $0.string })
    }

    /// Decodes an end payload.
    public static func decodeEnd(_ payload: [UInt8]) throws(BundleError) -> BundleEnd {
        let t = RecordType.end
        let m = try map(payload, t)
        var counts: [(type: String, count: UInt64)] = []
        if case .map(let pairs)? = m["records"] {
            for (k, v) in pairs { if let name = k.string, let n = v.uint64 { counts.append((name, n)) } }
        }
        return BundleEnd(
            wallNanos: try int(m, "wall_ns", t), monoNanos: try uint(m, "mono_ns", t),
            reason: m["reason"]?.string ?? "", counts: counts)
    }
}
