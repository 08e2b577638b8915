import ArgumentParser
import FieldAnalysis
import FieldBundle
import FieldImport
import FieldModel
import Foundation

extension Fieldctl {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn captures of tools/fieldcapture.sh, and hand-made soak logs, into bundles that analyze reads.",
            discussion: """
                For devices where the agent cannot be installed: tools/fieldcapture.sh copies the same procfs \
                files with nothing but a shell (docs/import.md). Give every segment of a capture (FILE, FILE.1, \
                FILE.1.gz) in any order: they are read oldest first. Each device and boot becomes its own \
                bundles, one per --bundle-seconds of samples, named as the agent names them.

                Nothing is guessed: a sample cut short (the capture was killed mid-sample, or the file was cut) \
                is left out and recorded in the bundles as a loss (capture-cut), as is a segment the script \
                rotated out (capture-rotated); lines outside any sample are counted and reported. analyze's \
                report lists those losses.

                Hand-made logs (any file that is not a capture): the output of a shell loop that appends \
                `cat /proc/meminfo`, `cat /proc/PID/status`, `cat /proc/PID/maps`, `cat /proc/slabinfo`, \
                `cat /proc/loadavg`, `top -b -n 1` and `free` to one file, with or without `date` between \
                iterations. Each block is recognised by its shape; iterations are told apart by the `date` lines \
                (or top's clock), else by the first file coming again, --interval apart. Times without a date \
                (top's clock, none at all) are placed by --start, else so that the last iteration is at the \
                file's modification time. Maps are attributed to --pid, else to the one process whose status \
                is in the same iteration; what cannot be placed or identified is reported and left out \
                (docs/import.md).

                Exit codes: 0 imported; 1 nothing could be imported; 5 an input could not be read; 64 the \
                command line is wrong, or a log without times was given no --interval.
                """)

        @Argument(help: "Capture files, plain or gzipped (.gz).")
        var captures: [String]

        @Option(help: "Directory for the bundles (created if missing). Existing bundles there are never overwritten.")
        var out: String

        @Option(help: "Start a new bundle after this many seconds of samples.")
        var bundleSeconds: Int = 3600

        @Option(help: "Hand-made logs: seconds between iterations (the loop's sleep), for logs without times.")
        var interval: Double?

        @Option(help: ArgumentHelp("Hand-made logs: the time of the first iteration, for logs whose times have no date "
            + "(e.g. 2026-12-04T10:00:00Z or Unix seconds).", valueName: "time"))
        var start: String?

        @Option(help: "Hand-made logs: the pid the log's maps blocks belong to.")
        var pid: Int32?

        @Option(help: "Hand-made logs: the device's name in the bundles (default: the log's file name).")
        var deviceID: String?

        func validate() throws {
            guard bundleSeconds > 0 else { throw ValidationError("--bundle-seconds must be positive") }
            if let i = interval { guard i.isFinite, i >= 0.001, i <= 86_400 * 30 else { throw ValidationError("--interval must be 0.001 s to 30 days") } }
            if let s = start { guard HandLogScanner.time(Array(s.utf8)[...]) != nil else { throw ValidationError("--start \(s): not a time (2026-12-04T10:00:00Z, or Unix seconds)") } }
            if let p = pid { guard p > 0 else { throw ValidationError("--pid must be positive") } }
            if let d = deviceID { guard SafeName.isSafe(d) else { throw ValidationError("--device-id \(d): letters, digits, '.', '_' and '-' only") } }
        }

        func run() throws {
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch {
                printError("fieldctl: cannot create \(out): \(error.localizedDescription)")
                throw ExitCode(5)
            }
            // Oldest first: by the time of each input's first sample.
            var inputs: [(path: String, first: Int64, hand: HandLogPlan?)] = []
            var notes: [String] = []
            for path in captures {
                guard let lines = CaptureLines(path: path) else {
                    printError("fieldctl: cannot read \(path)")
                    throw ExitCode(5)
                }
                if lines.isCapture() {
                    inputs.append((path, lines.firstSampleSeconds().map { $0 * 1_000_000_000 } ?? .max, nil))
                } else {
                    let plan = try handLogPlan(path, notes: &notes)
                    inputs.append((path, plan.firstNanos ?? .max, plan))
                }
            }
            inputs.sort { ($0.first, $0.path) < ($1.first, $1.path) }
            var sink = ImportSink(directory: out, bundleNanos: Int64(bundleSeconds) * 1_000_000_000)
            for input in inputs {
                guard var lines = CaptureLines(path: input.path) else { throw ExitCode(5) }
                var ok = true
                if let plan = input.hand {
                    ok = sink.take(.segment(plan.segment), notes: &notes)
                    var scanner = HandLogScanner()
                    var assembler = plan.assembler()
                    while let line = lines.next() {
                        for item in scanner.feed(line) {
                            for e in assembler.take(item) { ok = sink.take(e, notes: &notes) && ok }
                        }
                    }
                    for item in scanner.finish(lastLineComplete: !lines.lastLineCut) {
                        for e in assembler.take(item) { ok = sink.take(e, notes: &notes) && ok }
                    }
                    for e in assembler.finish() { ok = sink.take(e, notes: &notes) && ok }
                } else {
                    var parser = CaptureLogParser(source: input.path)
                    while let line = lines.next() {
                        for e in parser.feed(line) { ok = sink.take(e, notes: &notes) && ok }
                    }
                    for e in parser.finish() { ok = sink.take(e, notes: &notes) && ok }
                }
                if let e = lines.error { notes.append("\(input.path): \(e)") }
                if !ok {
                    for n in notes { printError("fieldctl: \(n)") }
                    throw ExitCode(5)
                }
            }
            let finished = sink.finish(notes: &notes)
            for n in notes { printError("fieldctl: \(n)") }
            guard finished else { throw ExitCode(5) }
            for (key, n) in sink.imported.sorted(by: { $0.key < $1.key }) {
                print("imported \(n.samples) samples of \(key) into \(n.bundles) bundle(s) in \(out)")
            }
            if sink.imported.isEmpty {
                printError("fieldctl: no sample could be imported")
                throw ExitCode(1)
            }
        }
    }
}

/// How one hand-made log is read: its mode, where its times are placed, and the segment its samples belong to.
struct HandLogPlan {
    var mode: HandLogAssembler.Mode
    var mapsPID: Int32?
    var intervalNanos: Int64
    var offsetNanos: Int64
    var segment: CaptureLogParser.Segment
    var source: String
    var firstNanos: Int64?

    func assembler() -> HandLogAssembler {
        var a = HandLogAssembler(mode: mode, mapsPID: mapsPID, intervalNanos: intervalNanos, source: source)
        a.offsetNanos = offsetNanos
        return a
    }
}

extension Fieldctl.Import {
    /// Reads a hand-made log twice without writing: once for how it marks time, once for its samples' raw times
    /// (to place them and to infer the interval).
    func handLogPlan(_ path: String, notes: inout [String]) throws -> HandLogPlan {
        guard var lines = CaptureLines(path: path) else { throw ExitCode(5) }
        var scanner = HandLogScanner()
        var survey = HandLogAssembler.Survey()
        while let line = lines.next() { for item in scanner.feed(line) { survey.take(item) } }
        for item in scanner.finish(lastLineComplete: !lines.lastLineCut) { survey.take(item) }
        lines.close()
        let mode = survey.mode
        guard survey.blocks > 0 else {
            printError("fieldctl: \(path): neither a capture of tools/fieldcapture.sh nor a log with a recognised /proc file, top or free output in it")
            throw ExitCode(1)
        }
        if mode == .repetition && interval == nil {
            printError("fieldctl: \(path) has no times (no date lines, no top clock): give --interval SECONDS, the loop's sleep (and --start TIME to place it)")
            throw ExitCode(64)
        }
        let given = interval.map { Int64(($0 * 1e9).rounded()) }
        // The raw times of its samples.
        var dry = HandLogAssembler(mode: mode, mapsPID: pid, intervalNanos: given ?? 1_000_000_000, source: path)
        var times: [Int64] = []
        guard var again = CaptureLines(path: path) else { throw ExitCode(5) }
        scanner = HandLogScanner()
        func collect(_ events: [CaptureLogParser.Event]) { for case .sample(let s) in events { times.append(s.wallNanos) } }
        while let line = again.next() { for item in scanner.feed(line) { collect(dry.take(item)) } }
        for item in scanner.finish(lastLineComplete: !again.lastLineCut) { collect(dry.take(item)) }
        collect(dry.finish())
        again.close()
        let deltas = zip(times, times.dropFirst()).map { $1 - $0 }.filter { $0 > 0 }.sorted()
        let intervalNanos = given ?? (deltas.isEmpty ? 1_000_000_000 : deltas[deltas.count / 2])
        var offset: Int64 = 0
        let modeWords: String
        switch mode {
        case .dates(let before):
            modeWords = "iterations marked by date lines (each \(before ? "starts" : "ends") one)"
            if survey.unknownZones > 0 { notes.append("\(path): \(survey.unknownZones) date line(s) name a time zone by its abbreviation: read as UTC") }
        case .topClock(let before):
            modeWords = "iterations marked by top's clock (each screen \(before ? "starts" : "ends") one)"
        case .repetition:
            modeWords = "no times in it: iterations \(Format.duration(Double(intervalNanos) / 1e9)) apart, cut where its first file comes again"
        }
        if mode != .dates(before: true) && mode != .dates(before: false), let first = times.first, let last = times.last {
            if let s = start, let t = HandLogScanner.time(Array(s.utf8)[...]) {
                offset = t.nanos - first
            } else {
                let attributes = try? FileManager.default.attributesOfItem(atPath: path)
                let modified = (attributes?[.modificationDate] as? Date).map { Int64(($0.timeIntervalSince1970 * 1e9).rounded()) } ?? 0
                offset = modified - last
                notes.append("\(path): the last iteration is placed at the file's modification time, \(BundleName.timestamp(modified)) (give --start to place the first)")
            }
        }
        notes.append("\(path): read as a hand-made log, \(times.count) iteration(s), \(modeWords), interval \(Format.duration(Double(intervalNanos) / 1e9))"
            + (given == nil ? " (inferred)" : ""))
        let name = deviceID ?? Self.deviceName(path)
        let segment = CaptureLogParser.Segment(device: name, boot: "unknown", backend: "linux", intervalNanos: UInt64(max(intervalNanos, 1)), deepEvery: 1)
        return HandLogPlan(mode: mode, mapsPID: pid, intervalNanos: given ?? 1_000_000_000, offsetNanos: offset, segment: segment, source: path,
            firstNanos: times.first.map { $0 + offset })
    }

    /// A device name from a log's file name: its base name up to the first dot, in the characters names allow.
    static func deviceName(_ path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? "log"
        let stem = base.split(separator: ".").first.map(String.init) ?? base
        let safe = String(stem.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "-" }.prefix(64))
        return SafeName.isSafe(safe) ? safe : "imported"
    }
}

/// The lines of a capture file, gzipped or not, read in chunks.
struct CaptureLines {
    private let handle: FileHandle
    private let process: Process?
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private(set) var error: String?
    /// Whether the input's last line had no newline (the file was cut mid-line).
    private(set) var lastLineCut = false
    let path: String

    init?(path: String) {
        self.path = path
        if path.hasSuffix(".gz") {
            guard FileManager.default.isReadableFile(atPath: path) else { return nil }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "exec gzip -dc -- \"$0\"", path]
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return nil }
            process = p
            handle = pipe.fileHandleForReading
        } else {
            guard let h = FileHandle(forReadingAtPath: path) else { return nil }
            handle = h
            process = nil
        }
    }

    /// Whether the input starts as tools/fieldcapture.sh writes (its first line a capture header).
    func isCapture() -> Bool {
        var copy = CaptureLines(path: path)
        defer { copy?.close() }
        guard let first = copy?.next() else { return false }
        return CaptureLogParser.looksLikeCapture(Array(first))
    }

    /// The time of the first sample line, without reading further.
    func firstSampleSeconds() -> Int64? {
        var copy = CaptureLines(path: path)
        defer { copy?.close() }
        while let line = copy?.next() {
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("#@field sample ") {
                let w = text.split(separator: " ")
                return w.count >= 4 ? Int64(w[3]) : nil
            }
        }
        return nil
    }

    mutating func close() {
        try? handle.close()
        if let p = process, p.isRunning { p.terminate() }
    }

    /// The next line without its newline; a last line without one counts.
    mutating func next() -> ArraySlice<UInt8>? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                let line = buffer[start..<nl]
                start = nl + 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                lastLineCut = true
                return line
            }
            buffer.removeFirst(start)
            start = 0
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty {
                atEnd = true
                if let p = process {
                    p.waitUntilExit()
                    if p.terminationStatus != 0 { error = "gzip could not decompress all of it (the rest is left out)" }
                }
            } else {
                buffer += chunk
            }
        }
    }
}

/// Writes the parser's samples into bundles: one series per device and boot, a new bundle every `bundleNanos`.
struct ImportSink {
    let directory: String
    let bundleNanos: Int64
    private var segment: CaptureLogParser.Segment?
    private var writer: BundleWriter?
    private var bundleStart: Int64 = 0
    private var lastWall = Int64.min
    private var sequence: [String: UInt64] = [:]
    private var pending: [LossReport] = []
    /// Samples and bundles written, by "DEVICE (boot BOOT)".
    private(set) var imported: [String: (samples: Int, bundles: Int)] = [:]

    init(directory: String, bundleNanos: Int64) {
        self.directory = directory
        self.bundleNanos = bundleNanos
    }

    var key: String { segment.map { "\($0.device) (boot \($0.boot))" } ?? "?" }

    /// Takes one event; false when a bundle could not be written (said in `notes`).
    mutating func take(_ e: CaptureLogParser.Event, notes: inout [String]) -> Bool {
        switch e {
        case .note(let n):
            notes.append(n)
        case .segment(let s):
            if s != segment, writer != nil { guard close(notes: &notes) else { return false } }
            segment = s
        case .lost(let reason, let what, let bytes):
            let loss = LossReport(wallNanos: max(lastWall, 0), monoNanos: 0, reason: reason,
                bundles: reason == CaptureLogParser.rotatedReason ? 1 : 0, bytes: bytes, names: [what])
            guard let w = writer else {
                pending.append(loss)
                return true
            }
            do { try w.append(loss) } catch {
                notes.append("cannot write \(w.openPath): \(error.message)")
                return false
            }
        case .sample(let s):
            guard let seg = segment else { return true }
            if s.wallNanos < lastWall {
                notes.append("sample \(s.sequence) of \(key) at \(BundleName.timestamp(s.wallNanos)) is older than the one before it: left out")
                return true
            }
            if writer != nil, s.wallNanos - bundleStart >= bundleNanos { guard close(notes: &notes) else { return false } }
            if writer == nil { guard open(seg, at: s.wallNanos, notes: &notes) else { return false } }
            var sample = s
            sample.monoNanos = UInt64(s.wallNanos - bundleStart)
            do { try writer!.append(sample) } catch {
                notes.append("cannot write \(writer!.openPath): \(error.message)")
                return false
            }
            lastWall = s.wallNanos
            imported[key, default: (0, 0)].samples += 1
        }
        return true
    }

    /// Closes the last bundle; losses after the last sample go into a bundle of their own.
    mutating func finish(notes: inout [String]) -> Bool {
        if writer == nil, !pending.isEmpty, let seg = segment {
            guard open(seg, at: max(lastWall, 0), notes: &notes) else { return false }
        }
        return writer == nil || close(notes: &notes)
    }

    private mutating func open(_ seg: CaptureLogParser.Segment, at wall: Int64, notes: inout [String]) -> Bool {
        let seq = sequence[seg.device + "\u{0}" + seg.boot, default: 0]
        let name = BundleName.make(device: seg.device, wallNanos: wall, sequence: seq)
        let path = directory + "/" + name
        guard !FileManager.default.fileExists(atPath: path) else {
            notes.append("\(path) exists already: not overwritten (import into an empty directory)")
            return false
        }
        let header = BundleHeader(
            agent: "fieldcapture.sh (fieldctl import)", backend: seg.backend, osIdentity: [], deviceID: seg.device,
            bootID: seg.boot == "unknown" ? nil : seg.boot, wallNanos: wall, monoNanos: 0, intervalNanos: seg.intervalNanos,
            procRoot: "/proc", sequence: seq, plan: [])
        do {
            let w = try BundleWriter(path: path, header: header)
            for l in pending { try w.append(l) }
            pending = []
            writer = w
        } catch {
            notes.append("cannot write \(path): \(error.message)")
            return false
        }
        sequence[seg.device + "\u{0}" + seg.boot] = seq + 1
        bundleStart = wall
        imported[key, default: (0, 0)].bundles += 1
        return true
    }

    private mutating func close(notes: inout [String]) -> Bool {
        guard let w = writer else { return true }
        writer = nil
        do {
            _ = try w.close(reason: "imported", wallNanos: max(lastWall, 0), monoNanos: 0)
        } catch {
            notes.append("cannot close \(w.openPath): \(error.message)")
            return false
        }
        return true
    }
}
