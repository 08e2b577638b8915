import ArgumentParser
import FieldAnalysis
import FieldBundle
import FieldModel
import Foundation

extension Fieldctl {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn captures of tools/fieldcapture.sh into bundles that analyze reads.",
            discussion: """
                For devices where the agent cannot be installed: tools/fieldcapture.sh copies the same procfs \
                files with nothing but a shell (docs/import.md). Give every segment of a capture (FILE, FILE.1, \
                FILE.1.gz) in any order: they are read oldest first. Each device and boot becomes its own \
                bundles, one per --bundle-seconds of samples, named as the agent names them.

                Nothing is guessed: a sample cut short (the capture was killed mid-sample, or the file was cut) \
                is left out and recorded in the bundles as a loss (capture-cut), as is a segment the script \
                rotated out (capture-rotated); lines outside any sample are counted and reported. analyze's \
                report lists those losses.

                Exit codes: 0 imported; 1 nothing could be imported; 5 an input could not be read; 64 the \
                command line is wrong.
                """)

        @Argument(help: "Capture files, plain or gzipped (.gz).")
        var captures: [String]

        @Option(help: "Directory for the bundles (created if missing). Existing bundles there are never overwritten.")
        var out: String

        @Option(help: "Start a new bundle after this many seconds of samples.")
        var bundleSeconds: Int = 3600

        func validate() throws {
            guard bundleSeconds > 0 else { throw ValidationError("--bundle-seconds must be positive") }
        }

        func run() throws {
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch {
                printError("fieldctl: cannot create \(out): \(error.localizedDescription)")
                throw ExitCode(5)
            }
            // Oldest first: by the time of each input's first sample.
            var inputs: [(path: String, first: Int64)] = []
            for path in captures {
                guard let lines = CaptureLines(path: path) else {
                    printError("fieldctl: cannot read \(path)")
                    throw ExitCode(5)
                }
                inputs.append((path, lines.firstSampleSeconds() ?? .max))
            }
            inputs.sort { ($0.first, $0.path) < ($1.first, $1.path) }
            var sink = ImportSink(directory: out, bundleNanos: Int64(bundleSeconds) * 1_000_000_000)
            var notes: [String] = []
            for input in inputs {
                guard var lines = CaptureLines(path: input.path) else { throw ExitCode(5) }
                var parser = CaptureLogParser(source: input.path)
                var ok = true
                while let line = lines.next() {
                    for e in parser.feed(line) { ok = sink.take(e, notes: &notes) && ok }
                }
                for e in parser.finish() { ok = sink.take(e, notes: &notes) && ok }
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

/// The lines of a capture file, gzipped or not, read in chunks.
struct CaptureLines {
    private let handle: FileHandle
    private let process: Process?
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private(set) var error: String?
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
