import FieldAnalysis
import FieldBundle
import Foundation

/// What the collector knows of each device's health, for `GET /metrics` (Prometheus's text format).
///
/// The truth is the store: each device's stored bundles are analyzed as `fieldctl analyze` would, whenever the
/// device's bundles changed (this collector stored one, or another collector sharing the bucket did: the store is
/// listed every `interval`), and at most once per `interval` per device. The analysis is incremental: the device's
/// analysis so far (`DeviceAnalysisState`) is kept in the store, and an update reads only the bundles it does not
/// hold yet (and the newest two it holds, for the interpreter's memory). A restarted collector, or a second one,
/// carries on from the same state and computes the same numbers.
public actor FleetHealth {
    /// Where the bundles are.
    public enum Source: Sendable {
        case files(root: String)
        case objects(ObjectStore, cache: String)
    }

    /// One device's numbers.
    struct DeviceHealth: Sendable {
        var stored: DeviceSummary
        /// Findings by kind and severity.
        var findings: [String: [String: Int]] = [:]
        /// Per resource and scope: headroom (1 - used/limit, the least over processes) and time to exhaustion.
        var quotas: [QuotaKey: QuotaNumbers] = [:]
        var lastSampleNanos: Int64?
        /// Bundles lost by reason, and samples not written, as the device's loss records say.
        var lostBundles: [String: UInt64] = [:]
        var lostSamples: UInt64 = 0
        var analyzedAt: Double?
        var analyzedBundles = -1
        var analysisError: String?
        /// Bundles the update that made these numbers read into the device's analysis.
        var added = 0
    }

    struct QuotaKey: Hashable, Sendable, Comparable {
        var resource: String
        var scope: String
        static func < (a: Self, b: Self) -> Bool { (a.resource, a.scope) < (b.resource, b.scope) }
    }

    struct QuotaNumbers: Sendable {
        var headroom: Double
        var eta: Double?
        var etaLow: Double?
        var etaHigh: Double?
    }

    let source: Source
    let interval: Double
    let horizonSeconds: Double
    let log: @Sendable (String) -> Void
    private var devices: [String: DeviceHealth] = [:]
    private var analyses = 0
    private var analysisFailures = 0
    private var bundlesRead = 0
    private var lastListing = 0.0

    public init(source: Source, interval: Double, horizonSeconds: Double = 7 * 24 * 3600, log: @escaping @Sendable (String) -> Void) {
        self.source = source
        self.interval = interval
        self.horizonSeconds = horizonSeconds
        self.log = log
    }

    /// A bundle was stored: the device's numbers are out of date.
    public func stored(device: String, _ entry: StoredBundle) {
        var h = devices[device] ?? DeviceHealth(stored: DeviceSummary(device: device, entries: []))
        h.stored.bundles += 1
        h.stored.bytes += entry.bytes
        h.stored.samples += entry.samples
        h.stored.lastReceived = max(h.stored.lastReceived ?? 0, entry.received)
        h.stored.lastWallNanos = max(h.stored.lastWallNanos ?? .min, entry.endWallNanos)
        h.stored.firstWallNanos = min(h.stored.firstWallNanos ?? .max, entry.startWallNanos)
        devices[device] = h
    }

    /// Runs until cancelled: lists the store and analyzes the devices whose bundles changed.
    public func run(listing: @escaping @Sendable () async -> [DeviceSummary]?) async {
        while !Task.isCancelled {
            await refresh(listing: listing)
            try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
        }
    }

    func refresh(listing: @Sendable () async -> [DeviceSummary]?) async {
        if let listed = await listing() {
            for d in listed {
                var h = devices[d.device] ?? DeviceHealth(stored: d)
                h.stored = d
                devices[d.device] = h
            }
        }
        let now = Date().timeIntervalSince1970
        for id in devices.keys.sorted() {
            guard let h = devices[id], h.stored.bundles != h.analyzedBundles,
                now - (h.analyzedAt ?? 0) >= interval
            else { continue }
            let source = source
            let horizon = horizonSeconds
            let log = log
            let outcome = await Collector.blocking { Self.analyze(device: id, source: source, horizonSeconds: horizon, log: log) }
            var updated = devices[id] ?? h
            updated.analyzedAt = Date().timeIntervalSince1970
            analyses += 1
            switch outcome {
            case .success(let fresh):
                bundlesRead += fresh.added
                updated.findings = fresh.findings
                updated.quotas = fresh.quotas
                updated.lastSampleNanos = fresh.lastSampleNanos
                updated.lostBundles = fresh.lostBundles
                updated.lostSamples = fresh.lostSamples
                updated.analyzedBundles = fresh.analyzedBundles
                updated.analysisError = nil
            case .failure(let e):
                analysisFailures += 1
                updated.analyzedBundles = h.stored.bundles
                if updated.analysisError != e.message { log("metrics: cannot analyze \(id): \(e.message)") }
                updated.analysisError = e.message
            }
            devices[id] = updated
        }
    }

    /// Brings one device's analysis up to date with its stored bundles. Blocking.
    ///
    /// The analysis so far is kept in the store (`StateFiles` or `ObjectStore.analysisState`): the bundles it does
    /// not name yet are added to it, and it is written back. A missing or damaged state is started afresh from
    /// every bundle (and a damaged one logged). Two collectors updating one device at once each write a state
    /// that is whole; a bundle the surviving state lacks is added at the next update, so none is counted twice or
    /// left out for long.
    static func analyze(device: String, source: Source, horizonSeconds: Double, log: @Sendable (String) -> Void)
        -> Result<DeviceHealth, CollectorError>
    {
        let names: [String]
        let stored: [UInt8]?
        switch source {
        case .files(let root):
            let dir = root + "/" + device
            names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".zst") }.sorted()
            stored = FileManager.default.contents(atPath: StateFiles.path(root: root, device: device)).map { Array($0) }
        case .objects(let store, _):
            switch store.bundleNames(device: device) {
            case .failure(let e): return .failure(e)
            case .success(let n): names = n
            }
            switch store.analysisState(device: device) {
            case .failure(let e): return .failure(e)
            case .success(let b): stored = b
            }
        }
        var state = DeviceAnalysisState(device: device)
        if let bytes = stored {
            do { state = try DeviceAnalysisState.decode(bytes) } catch {
                log("metrics: the analysis state of \(device) is \(error.message); analyzing its bundles afresh")
            }
        }
        let todo = state.unfolded(names)
        var added = 0
        if !todo.isEmpty || state.timeline == nil {
            let paths: (String) -> String
            switch source {
            case .files(let root):
                paths = { root + "/" + device + "/" + $0 }
            case .objects(let store, let cache):
                // Only what this update reads is downloaded: the new bundles and the two that prime the
                // interpreter. The cache keeps those two for the next update.
                let dir = cache + "/" + device
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for name in state.primingNames + todo where !FileManager.default.fileExists(atPath: dir + "/" + name) {
                    let partial = dir + "/" + name + ".part"
                    if case .failure(let e) = store.download(device: device, name: name, to: partial) { return .failure(e) }
                    guard rename(partial, dir + "/" + name) == 0 else { return .failure(CollectorError("cannot keep \(dir)/\(name)")) }
                }
                paths = { dir + "/" + $0 }
            }
            let failed = state.add(todo.map { (name: $0, path: paths($0)) }, priming: state.primingNames.map(paths))
            added = todo.count - failed.count
            if !failed.isEmpty { log("metrics: cannot read \(failed.count) bundle(s) of \(device), e.g. \(failed[0]); trying again later") }
            let bytes: [UInt8]
            do { bytes = try state.encoded() } catch { return .failure(CollectorError(error.message)) }
            switch source {
            case .files(let root):
                if let why = StateFiles.save(bytes, root: root, device: device) { log("metrics: \(why)") }
            case .objects(let store, let cache):
                if case .failure(let e) = store.saveAnalysisState(device: device, bytes) { log("metrics: \(e.message)") }
                let keep = Set(state.primingNames)
                let dir = cache + "/" + device
                for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where !keep.contains(name) {
                    unlink(dir + "/" + name)
                }
            }
        }
        var h = DeviceHealth(stored: DeviceSummary(device: device, entries: []))
        h.analyzedBundles = names.count
        h.added = added
        guard let timeline = state.finished else { return .success(h) }
        let (findings, quotas) = Analyzer(horizonSeconds: horizonSeconds).analyze([timeline])
        for f in findings { h.findings[f.kind.rawValue, default: [:]][f.severity.rawValue, default: 0] += 1 }
        for q in quotas where q.limit > 0 {
            let key = QuotaKey(resource: q.resource, scope: q.scope)
            let headroom = max(0, 1 - q.used / q.limit)
            let mine = QuotaNumbers(headroom: headroom, eta: q.etaSeconds, etaLow: q.etaLowSeconds, etaHigh: q.etaHighSeconds)
            // Over a device's processes, the one nearest its limit speaks for the resource (no pid labels).
            if let seen = h.quotas[key] {
                let sooner = (mine.eta ?? .infinity) < (seen.eta ?? .infinity)
                var kept = sooner ? mine : seen
                kept.headroom = min(seen.headroom, headroom)
                h.quotas[key] = kept
            } else {
                h.quotas[key] = mine
            }
        }
        h.lastSampleNanos = timeline.sampleTimes.isEmpty ? nil : timeline.lastNanos
        for m in timeline.missing {
            if m.reason == MissingData.unwritten { h.lostSamples += m.samples ?? 0 } else { h.lostBundles[m.reason, default: 0] += m.bundles }
        }
        return .success(h)
    }

    /// The metrics, in Prometheus's text exposition format (version 0.0.4).
    public func render() -> String {
        var out = MetricsText()
        let ids = devices.keys.sorted()
        func each(_ body: (String, DeviceHealth) -> Void) { for id in ids { body(id, devices[id]!) } }

        out.family("field_device_bundles_received_total", "counter", "Bundles stored for the device.")
        each { id, h in out.sample("field_device_bundles_received_total", ["device": id], Double(h.stored.bundles)) }
        out.family("field_device_received_bytes_total", "counter", "Bytes of the bundles stored for the device.")
        each { id, h in out.sample("field_device_received_bytes_total", ["device": id], Double(h.stored.bytes)) }
        out.family(
            "field_device_last_upload_timestamp_seconds", "gauge", "When the device's latest bundle was stored (Unix time).")
        each { id, h in
            if let t = h.stored.lastReceived, t > 0 { out.sample("field_device_last_upload_timestamp_seconds", ["device": id], t) }
        }
        out.family(
            "field_device_last_sample_timestamp_seconds", "gauge",
            "The device's clock at its latest stored sample (Unix time).")
        each { id, h in
            if let n = h.lastSampleNanos ?? h.stored.lastWallNanos, n > 0 {
                out.sample("field_device_last_sample_timestamp_seconds", ["device": id], Double(n) / 1e9)
            }
        }
        out.family(
            "field_device_findings", "gauge",
            "Findings of the latest analysis of the device's stored bundles, by kind and severity (docs/analyze-json.md).")
        each { id, h in
            for (kind, bySeverity) in h.findings.sorted(by: { $0.key < $1.key }) {
                for (severity, n) in bySeverity.sorted(by: { $0.key < $1.key }) {
                    out.sample("field_device_findings", ["device": id, "kind": kind, "severity": severity], Double(n))
                }
            }
        }
        out.family(
            "field_device_quota_headroom_ratio", "gauge",
            "Share of the limit still free at the latest sample (1 - used/limit); for process limits, the process nearest its limit.")
        each { id, h in
            for (k, q) in h.quotas.sorted(by: { $0.key < $1.key }) {
                out.sample("field_device_quota_headroom_ratio", ["device": id, "resource": k.resource, "scope": k.scope], q.headroom)
            }
        }
        out.family(
            "field_device_quota_exhaustion_seconds", "gauge",
            "Seconds from the latest sample until the limit runs out at the trend seen, only where a significant trend says so: the estimate, and the 95 % interval's early and late ends (no late end: the interval reaches a flat trend).")
        each { id, h in
            for (k, q) in h.quotas.sorted(by: { $0.key < $1.key }) {
                let labels = ["device": id, "resource": k.resource, "scope": k.scope]
                for (bound, v) in [("estimate", q.eta), ("early", q.etaLow), ("late", q.etaHigh)] {
                    if let v { out.sample("field_device_quota_exhaustion_seconds", labels.merging(["bound": bound]) { $1 }, v) }
                }
            }
        }
        out.family(
            "field_device_lost_bundles_total", "counter",
            "Bundles the device recorded as lost, by reason (spool-quota, disk-full, rejected-by-collector).")
        each { id, h in
            for (reason, n) in h.lostBundles.sorted(by: { $0.key < $1.key }) {
                out.sample("field_device_lost_bundles_total", ["device": id, "reason": reason], Double(n))
            }
        }
        out.family("field_device_lost_samples_total", "counter", "Samples the device recorded as never written.")
        each { id, h in out.sample("field_device_lost_samples_total", ["device": id], Double(h.lostSamples)) }
        out.family(
            "field_device_analysis_timestamp_seconds", "gauge", "When the collector last analyzed the device's bundles (Unix time).")
        each { id, h in
            if let t = h.analyzedAt { out.sample("field_device_analysis_timestamp_seconds", ["device": id], t) }
        }
        out.family("field_collector_analyses_total", "counter", "Analyses of a device's bundles this collector ran.")
        out.sample("field_collector_analyses_total", [:], Double(analyses))
        out.family("field_collector_analysis_failures_total", "counter", "Analyses that could not read the store.")
        out.sample("field_collector_analysis_failures_total", [:], Double(analysisFailures))
        out.family("field_collector_analysis_bundles_total", "counter",
            "Bundles this collector read into device analyses (each once: the analysis so far is kept in the store).")
        out.sample("field_collector_analysis_bundles_total", [:], Double(bundlesRead))
        return out.text
    }
}

/// Prometheus's text format: `# HELP`, `# TYPE`, then `name{label="value"} number` lines.
struct MetricsText {
    private(set) var text = ""

    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n"
        text += "# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\"\(Self.escape($0.value))\"" }
                .joined(separator: ",") + "}"
        }
        text += " " + Self.number(value) + "\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}

/// The file store's analysis states: `ROOT/.analysis/DEVICE.state` (a dot name: not a device directory).
enum StateFiles {
    static func path(root: String, device: String) -> String { root + "/.analysis/" + device + ".state" }

    /// Writes the state whole (a temporary file renamed over the old one); the reason on failure.
    static func save(_ bytes: [UInt8], root: String, device: String) -> String? {
        let dir = root + "/.analysis"
        let target = path(root: root, device: device)
        let temporary = target + ".part"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        } catch {
            return "cannot write \(temporary): \(error.localizedDescription)"
        }
        guard rename(temporary, target) == 0 else { return "cannot rename \(temporary): \(String(cString: strerror(errno)))" }
        return nil
    }
}
