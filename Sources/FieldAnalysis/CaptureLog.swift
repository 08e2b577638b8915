import FieldBundle
import FieldModel

/// Reads the framing tools/fieldcapture.sh writes (docs/import.md, "The capture format") into samples, line by
/// line: `fieldctl import` turns them into bundles.
///
///     #@field capture 1 device ID boot BOOT backend linux interval 5 deep-every 10
///     #@field lost TEXT                      (a segment rotated out before this one)
///     #@field sample SEQ UNIX_SECONDS
///     #@field file PATH KIND [missing|denied]
///     ...the bytes...
///     #@field end ok|error
///     #@field sample-end SEQ
///
/// A file's bytes are the lines between its `file` and `end` lines joined by newlines (the script writes one
/// newline after the bytes). A sample without its `sample-end` (the capture was cut, or killed mid-sample) is left
/// out and reported; so is a line that belongs to no sample.
public struct CaptureLogParser {
    /// What a capture said about where its samples come from.
    public struct Segment: Sendable, Equatable {
        public var device: String
        public var boot: String
        public var backend: String
        public var intervalNanos: UInt64
        public var deepEvery: Int

        /// A segment's description.
        public init(device: String, boot: String, backend: String, intervalNanos: UInt64, deepEvery: Int) {
            self.device = device
            self.boot = boot
            self.backend = backend
            self.intervalNanos = intervalNanos
            self.deepEvery = deepEvery
        }
    }

    /// What the parser found, in order.
    public enum Event {
        /// A segment header: the samples after it are of this device and boot.
        case segment(Segment)
        /// A whole sample.
        case sample(Sample)
        /// The capture says it dropped a segment (its text), or a sample was cut: a loss to record in the bundles.
        case lost(reason: String, what: String, bytes: UInt64)
        /// Something that could not be used, for the person importing.
        case note(String)
    }

    /// The reason recorded for segments the capture script rotated out.
    public static let rotatedReason = "capture-rotated"
    /// The reason recorded for samples that were cut short.
    public static let cutReason = "capture-cut"
    /// The reason recorded for a file absent from iterations of an imported hand-made log (one record per run of
    /// consecutive iterations without it).
    public static let missingReason = "log-file-missing"

    static let prefix = Array("#@field ".utf8)

    private var segment: Segment?
    private var sample: (seq: UInt64, wall: Int64, files: [FileCapture], line: Int)?
    private var file: (path: String, kind: EntryKind, lines: [ArraySlice<UInt8>])?
    private var lineNumber = 0
    private var strayLines = 0
    private var firstStray = 0
    /// Where the input comes from, for notes.
    public let source: String

    /// A parser of one capture file, named `source` in notes.
    public init(source: String) { self.source = source }

    /// Whether `bytes` start like a capture (its first line is a segment header).
    public static func looksLikeCapture(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: Array("#@field capture ".utf8))
    }

    /// One line, without its newline.
    public mutating func feed(_ line: ArraySlice<UInt8>) -> [Event] {
        lineNumber += 1
        guard line.starts(with: Self.prefix) else {
            if file != nil {
                file!.lines.append(line)
            } else {
                stray()
            }
            return []
        }
        let words = line.dropFirst(Self.prefix.count).split(separator: 0x20, omittingEmptySubsequences: true)
            .map { String(decoding: $0, as: UTF8.self) }
        guard let directive = words.first else { return stray() }
        var out: [Event] = []
        switch directive {
        case "end":
            guard let f = file else { return stray() }
            let status: ReadStatus = words.count > 1 && words[1] == "ok" ? .ok : .error
            var bytes: [UInt8] = []
            for (i, l) in f.lines.enumerated() {
                if i > 0 { bytes.append(0x0A) }
                bytes += l
            }
            sample?.files.append(FileCapture(path: f.path, kind: f.kind, status: status, bytes: status == .ok ? bytes : []))
            file = nil
        case "file":
            if file != nil { out += cut("a file was cut before line \(lineNumber)") }
            guard sample != nil, words.count >= 3 else { return out + stray() }
            let kind = EntryKind(rawValue: words[2]) ?? .file
            if words.count >= 4 {
                sample!.files.append(FileCapture(path: words[1], kind: kind, status: ReadStatus(rawValue: words[3]) ?? .error))
            } else {
                file = (words[1], kind, [])
            }
        case "sample":
            if sample != nil { out += cut("its end is missing (line \(lineNumber) starts another)") }
            guard words.count >= 3, let seq = UInt64(words[1]), let secs = Int64(words[2]),
                secs > 0, secs < Int64.max / 1_000_000_000
            else {
                return out + [.note("\(source):\(lineNumber): a sample line without a sequence and a time: left out")]
            }
            guard segment != nil else {
                return out + [.note("\(source):\(lineNumber): a sample before any capture header: the file is not whole at its start")]
            }
            sample = (seq, secs * 1_000_000_000, [], lineNumber)
        case "sample-end":
            guard let s = sample else { return stray() }
            if file != nil { return cut("a file in it has no end") }
            sample = nil
            out.append(.sample(Sample(sequence: s.seq, wallNanos: s.wall, monoNanos: 0, files: s.files)))
        case "capture":
            if sample != nil { out += cut("the capture restarted at line \(lineNumber)") }
            var fields: [String: String] = [:]
            var i = 2
            while i + 1 < words.count {
                fields[words[i]] = words[i + 1]
                i += 2
            }
            guard let device = fields["device"], SafeName.isSafe(device), let interval = fields["interval"].flatMap(UInt64.init),
                interval > 0, interval < UInt64.max / 1_000_000_000
            else {
                return out + [.note("\(source):\(lineNumber): a capture header without a valid device and interval: its samples are left out")]
            }
            let s = Segment(device: device, boot: fields["boot"] ?? "unknown", backend: fields["backend"] ?? "linux",
                intervalNanos: interval * 1_000_000_000, deepEvery: fields["deep-every"].flatMap(Int.init) ?? 10)
            segment = s
            out.append(.segment(s))
        case "lost":
            out.append(.lost(reason: Self.rotatedReason, what: words.dropFirst().joined(separator: " "), bytes: Self.bytes(in: words)))
        default:
            if file != nil { file!.lines.append(line) } else { return stray() }
        }
        return out
    }

    /// The end of the input: a sample still open was cut.
    public mutating func finish() -> [Event] {
        var out: [Event] = []
        if sample != nil { out += cut("the capture ends inside it") }
        if strayLines > 0 {
            out.append(.note("\(source): \(strayLines) line(s) outside any sample, from line \(firstStray): left out"))
        }
        return out
    }

    private mutating func cut(_ why: String) -> [Event] {
        guard let s = sample else { return [] }
        sample = nil
        file = nil
        let what = "sample \(s.seq) at \(BundleName.timestamp(s.wall)) (line \(s.line))"
        return [.lost(reason: Self.cutReason, what: what, bytes: 0), .note("\(source): \(what) is left out: \(why)")]
    }

    @discardableResult
    private mutating func stray() -> [Event] {
        strayLines += 1
        if strayLines == 1 { firstStray = lineNumber }
        return []
    }

    /// `N bytes` in a lost line's words.
    static func bytes(in words: [String]) -> UInt64 {
        for (i, w) in words.enumerated() where w.hasPrefix("bytes") && i > 0 {
            if let n = UInt64(words[i - 1]) { return n }
        }
        return 0
    }
}
