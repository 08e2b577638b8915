import FieldModel

/// Samples of captures written as text, the input of the observation target: readable seeds, and a shape that
/// byte mutations keep.
///
/// ```
/// linux                     first line: the backend that interprets (linux, sylixos; anything else: each)
/// == 1700000000000000000    a new sample at this wall clock, nanoseconds (any Int64 but its minimum;
///                           without one: sample 0 at 0)
/// @@ f /proc/1/stat         an entry: its kind and status, then its path; its bytes are the lines up to
/// 1 (init) S 0 1 ...        the next line that starts with `@@ ` or `== `
/// ```
///
/// Kinds: `f` file, `d` directory listing, `l` link; statuses (no bytes): `m` missing, `x` denied, `b` busy,
/// `e` error. Any other letter reads as a file.
public struct CaptureScript {
    /// The first line.
    public var backend: String
    /// The samples, in order.
    public var samples: [(wallNanos: Int64, files: [FileCapture])] = []
    /// Lines of entries named `/dev/kmsg` (kernel log records), in order.
    public var logLines: [[UInt8]] = []

    /// Reads a script; never fails (odd lines are content).
    public init(_ bytes: [UInt8]) {
        var lines = bytes.split(separator: 0x0A, maxSplits: 1, omittingEmptySubsequences: false)
        backend = lines.isEmpty ? "" : String(decoding: lines.removeFirst(), as: UTF8.self)
        let body = lines.first.map(Array.init) ?? []
        var wall: Int64 = 0
        var files: [FileCapture] = []
        var entry: FileCapture?
        var contentStart = 0
        var started = false
        var samples: [(wallNanos: Int64, files: [FileCapture])] = []
        var log: [[UInt8]] = []
        func closeEntry(at end: Int) {
            guard var e = entry else { return }
            if e.status == .ok { e.bytes = Array(body[contentStart..<end]) }
            if e.path == "/dev/kmsg" { log += e.bytes.split(separator: 0x0A).map(Array.init) }
            files.append(e)
            entry = nil
        }
        func closeSample() {
            if started || !files.isEmpty { samples.append((wall, files)) }
            files = []
        }
        var lineStart = 0
        while lineStart < body.count {
            var lineEnd = lineStart
            while lineEnd < body.count && body[lineEnd] != 0x0A { lineEnd += 1 }
            let next = min(lineEnd + 1, body.count)
            let line = body[lineStart..<lineEnd]
            if line.starts(with: [0x40, 0x40, 0x20]) {  // "@@ "
                closeEntry(at: lineStart)
                entry = Self.entry(line.dropFirst(3))
                contentStart = next
            } else if line.starts(with: [0x3D, 0x3D, 0x20]) {  // "== "
                closeEntry(at: lineStart)
                closeSample()
                started = true
                let given = Int64(String(decoding: line.dropFirst(3), as: UTF8.self)) ?? 0
                wall = min(max(given, -Self.wallLimit), Self.wallLimit)
            }
            lineStart = next
        }
        closeEntry(at: body.count)
        closeSample()
        self.samples = samples
        logLines = log
    }

    /// Wall clocks span all of Int64 but its minimum (so that the negation is one too): the timeline's clock
    /// arithmetic saturates since the overflows on extreme clocks were fixed (fuzz/corpus/timeline/regression-overflow-*).
    public static let wallLimit: Int64 = .max

    static func entry(_ header: ArraySlice<UInt8>) -> FileCapture {
        let letter = header.first ?? 0x66
        let path = String(decoding: header.dropFirst(2), as: UTF8.self)
        switch letter {
        case 0x64: return FileCapture(path: path, kind: .directory)
        case 0x6C: return FileCapture(path: path, kind: .link)
        case 0x6D: return FileCapture(path: path, status: .missing, errno: 2)
        case 0x78: return FileCapture(path: path, status: .denied, errno: 13)
        case 0x62: return FileCapture(path: path, status: .busy, errno: 16)
        case 0x65: return FileCapture(path: path, status: .error, errno: 5)
        default: return FileCapture(path: path)
        }
    }
}
