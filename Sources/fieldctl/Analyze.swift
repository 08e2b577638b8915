import ArgumentParser
import FieldAnalysis
import FieldBundle
import FieldCollector
import Foundation

extension Fieldctl {
    struct Analyze: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say what leaks, how, in which process, and which quota runs out first and when.",
            discussion: """
                PATH is a bundle or a directory of bundles (searched recursively); bundles of one device are joined \
                in time order. Damaged bundles are reported and read up to the damage (a bundle that expands beyond \
                --max-stream-bytes is one: a decompression bomb costs at most that much work).

                A finding rests on evidence and says how sure it is: growth must be significant (Mann-Kendall \
                trend test, Sen's slope with its interval), sustained, and still rising at the end (a warm-up that \
                levels off, or growth in a process that exited, is not a leak); static evidence counts too (stacks \
                of threads that ended unjoined, a limit at its peak). Forecasts carry an interval. The agent's own \
                process is reported apart. docs/analyze-json.md has the rules and the JSON fields.

                Exit codes: 0 done (and nothing at or above --fail-on); 1 a finding at or above --fail-on; 5 no \
                bundle could be read; 64 the command line is wrong.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, html }
        enum Level: String, ExpressibleByArgument, CaseIterable { case warning, critical }

        @Argument(
            help: ArgumentHelp(
                "Bundles (.zst, .zst.open), directories of bundles, or s3://BUCKET/PREFIX[/DEVICE] of a collector's object store.",
                valueName: "path"))
        var paths: [String]

        @OptionGroup(title: "Object store") var objectStore: ObjectStoreOptions

        @Option(help: "Output: text (for a person), json (docs/analyze-json.md) or html (one self-contained file with charts).")
        var format: Format = .text

        @Option(help: "Write the report to FILE instead of standard output.")
        var output: String?

        @Option(help: "Exit 1 when a finding at or above this level exists (for CI soak gates).")
        var failOn: Level?

        @Option(help: "Only this process (repeatable).")
        var pid: [Int32] = []

        @Option(help: "Forecast horizon in hours: a leak exhausting a quota within it is critical.")
        var horizonHours: Double = 168

        @Option(help: "Only samples at or after TIME (ISO 8601 such as 2026-11-21T10:00:00Z, or Unix seconds).")
        var since: String?

        @Option(help: "Only samples at or before TIME (ISO 8601 or Unix seconds).")
        var until: String?

        @OptionGroup var read: ReadOptions

        @Option(
            help: ArgumentHelp(
                "Devices read and analyzed at once (default: one per core). One device's bundles are read in order, by one thread.",
                valueName: "N"))
        var jobs: Int?

        static func parseTime(_ s: String, _ flag: String) throws -> Int64 {
            var seconds = Double(s)
            if seconds == nil {
                let f = ISO8601DateFormatter()
                for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
                    f.formatOptions = options
                    if let d = f.date(from: s) { seconds = d.timeIntervalSince1970; break }
                }
            }
            guard let seconds else { throw ValidationError("\(flag) wants ISO 8601 (2026-11-21T10:00:00Z) or Unix seconds, not '\(s)'") }
            // Nanoseconds in 64 bits reach from 1677 to 2262.
            guard let nanos = Int64(exactly: (seconds * 1e9).rounded()) else {
                throw ValidationError("\(flag) \(s) is outside the years 1677 to 2262 that bundles' clocks can hold")
            }
            return nanos
        }

        /// Bundle files under the given paths (directories searched recursively), sorted.
        static func bundleFiles(_ paths: [String], objectStore: ObjectStoreOptions = ObjectStoreOptions()) throws -> [String] {
            var files: [String] = []
            for p in paths {
                if S3Location.isS3(p) {
                    files += try ObjectStoreDownloads.files(p, options: objectStore)
                    continue
                }
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
                    throw ValidationError("\(p) does not exist")
                }
                if isDir.boolValue {
                    // The enumerator does not enter a directory given as a symbolic link: walk what it points to,
                    // and name the files under the path as given.
                    let real = URL(fileURLWithPath: p).resolvingSymlinksInPath().path
                    let before = files.count
                    let e = FileManager.default.enumerator(atPath: real)
                    while let f = e?.nextObject() as? String {
                        if f.hasSuffix(".zst") || f.hasSuffix(".zst.open") { files.append(p + "/" + f) }
                    }
                    if files.count == before { throw ValidationError("no bundles (*.zst, *.zst.open) under \(p)") }
                } else {
                    files.append(p)
                }
            }
            return files.sorted()
        }

        func run() throws {
            defer { ObjectStoreDownloads.cleanUp() }
            let files = try Self.bundleFiles(paths, objectStore: objectStore)
            let options = BuildOptions(
                pidFilter: pid.isEmpty ? nil : Set(pid), since: try since.map { try Self.parseTime($0, "--since") },
                until: try until.map { try Self.parseTime($0, "--until") }, limits: read.limits())
            let jobs = self.jobs ?? ProcessInfo.processInfo.activeProcessorCount
            guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
            let analysis = Self.analyzeFleet(files, options, jobs: jobs, horizonSeconds: horizonHours * 3600)
            guard analysis.readable > 0 else { throw ExitCode(ExitStatus.unreadable.rawValue) }
            let (devices, findings, quotas) = (analysis.devices, analysis.findings, analysis.quotas)
            let text: String
            switch format {
            case .text:
                text = Report.fleet(findings: findings, quotas: quotas, devices: devices)
                    + Report.text(findings: findings, quotas: quotas, devices: devices, colour: output == nil && isatty(1) != 0)
            case .json:
                text = try Report.json(findings: findings, quotas: quotas, devices: devices)
            case .html:
                text = HTMLReport.render(findings: findings, quotas: quotas, devices: devices)
            }
            if let o = output {
                try text.write(toFile: o, atomically: true, encoding: .utf8)
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
            if let level = failOn {
                let threshold: Severity = level == .critical ? .critical : .warning
                if findings.contains(where: { $0.severity >= threshold }) { throw ExitCode(1) }
            }
        }
    }
}

/// What reading bundles into timelines takes besides the files.
struct BuildOptions: Sendable {
    var pidFilter: Set<Int32>?
    var since: Int64?
    var until: Int64?
    var limits: ReadLimits
}

/// Every device's timeline, findings and quotas.
struct FleetAnalysis {
    var devices: [DeviceTimeline] = []
    var findings: [Finding] = []
    var quotas: [Quota] = []
    /// Bundles that could be opened.
    var readable = 0
}

extension Fieldctl.Analyze {
    /// Reads and analyzes `files`, the devices apart and `jobs` at a time: each device's bundles (known from
    /// their headers) in order on one thread, into a timeline of its own, analyzed there. The result is that of
    /// one pass over all of them (`Analyzer.ordered`); memory is bounded per device, times `jobs`.
    static func analyzeFleet(_ files: [String], _ options: BuildOptions, jobs: Int, horizonSeconds: Double) -> FleetAnalysis {
        // Group by the device in each header; a file whose header does not read goes alone (its error is printed
        // when it is read).
        var order: [String] = []
        var groups: [String: [String]] = [:]
        for f in files {
            let key = deviceID(of: f, options.limits) ?? "\u{0}" + f
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(f)
        }
        let keys = order.sorted()
        let terminal = isatty(2) != 0
        let started = Date()
        let progress = FleetProgress(total: files.count)
        let results = FleetResults(count: keys.count)
        let groupsByKey = groups
        let work: @Sendable (Int) -> Void = { i in
            var builder = TimelineBuilder(pidFilter: options.pidFilter, since: options.since, until: options.until)
            var readable = 0
            var errors: [String] = []
            for f in groupsByKey[keys[i]]! {
                do throws(BundleError) {
                    builder.add(try BundleReader(path: f, limits: options.limits)) { bytes in
                        guard terminal, Date().timeIntervalSince(started) > 1 else { return }
                        progress.show(bytes: bytes)
                    }
                    readable += 1
                } catch {
                    errors.append("fieldctl: \(error.message)\n")
                }
                progress.done()
            }
            builder.finish()
            let devices = Array(builder.devices.values)
            let (findings, quotas) = Analyzer(horizonSeconds: horizonSeconds).analyze(devices)
            results.set(i, FleetAnalysis(devices: devices, findings: findings, quotas: quotas, readable: readable), errors: errors)
        }
        if jobs == 1 || keys.count == 1 {
            for i in keys.indices { work(i) }
        } else {
            // At most `jobs` devices at once, taken in order by whichever worker is free.
            let next = FleetProgress(total: keys.count)
            DispatchQueue.concurrentPerform(iterations: min(jobs, keys.count)) { _ in
                while let i = next.take() { work(i) }
            }
        }
        progress.clear()
        var all = FleetAnalysis()
        for r in results.all {
            all.devices += r.devices
            all.findings += r.findings
            all.quotas += r.quotas
            all.readable += r.readable
        }
        all.findings = Analyzer.ordered(all.findings)
        return all
    }

    /// The device id in a bundle's header, nil when it cannot be read.
    static func deviceID(of path: String, _ limits: ReadLimits) -> String? {
        guard let reader = try? BundleReader(path: path, limits: limits), let first = reader.next(), first.type == .header,
            let header = try? RecordCodec.decodeHeader(first.payload)
        else { return nil }
        return header.deviceID
    }
}

/// The workers' results of `analyzeFleet`, by device group, and their errors printed as they come.
final class FleetResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [FleetAnalysis?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ r: FleetAnalysis, errors: [String]) {
        lock.lock()
        defer { lock.unlock() }
        for e in errors { FileHandle.standardError.write(Data(e.utf8)) }
        results[i] = r
    }

    var all: [FleetAnalysis] {
        lock.lock()
        defer { lock.unlock() }
        return results.compactMap { $0 }
    }
}

/// Counts shared by the workers of `analyzeFleet`: bundles read (for the progress line) and the next device.
final class FleetProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int
    private var count = 0
    private var shown = false

    init(total: Int) { self.total = total }

    /// The next index below `total`, each once.
    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard count < total else { return nil }
        count += 1
        return count - 1
    }

    func done() {
        lock.lock()
        count += 1
        lock.unlock()
    }

    func show(bytes: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        shown = true
        FileHandle.standardError.write(Data("\rreading bundles: \(count)/\(total) done, \(bytes / 1_000_000) MB into the current one\u{1B}[K".utf8))
    }

    func clear() {
        lock.lock()
        defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
