import Foundation
import Glibc

/// The package root: this file is `<root>/Tests/FieldLinuxTests/LinuxTestSupport.swift`.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The shared corpora live beside the package (`../shared/corpora`); they are read there, never copied in.
let prometheusCorpus = packageRoot + "/../shared/corpora/prometheus-procfs/fixtures.ttar"

/// Bytes of a text literal, for inline fixtures.
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Reads a whole file the way procfs needs (st_size is 0 there, so read until EOF); nil when it cannot be opened.
func readProcFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

/// A directory's entry names as the agent's `dir` captures hold them: one per line.
func listingCapture(_ path: String) -> [UInt8]? {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return nil }
    return Array(names.map { $0 + "\n" }.joined().utf8)
}

/// One entry of a ttar text archive.
struct TTarEntry {
    enum Kind {
        case directory
        case file([UInt8])
        case symlink(String)
    }
    var path: String
    var kind: Kind
}

/// Reader for the "ttar" text archives of prometheus/procfs (format in ../shared/corpora/prometheus-procfs/README.md).
///
/// Records are separated by `# ttar - - -` lines; each is `Directory: PATH`, or `Path: PATH` followed by
/// `Lines: N` and N content lines, or by `SymlinkTo: TARGET`; then `Mode: OCTAL`. In content, `NULLBYTE` is a NUL
/// byte, a final line ending in `EOF` has no trailing newline, and a backslash escapes a literal `NULLBYTE`/`EOF`.
/// Content is read by its line count, so content lines that look like headers are safe.
struct TTarArchive {
    var entries: [TTarEntry] = []

    struct FormatError: Error, CustomStringConvertible {
        var description: String
    }

    init(bytes: [UInt8]) throws {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            lines.append(bytes[start..<i])
            start = i + 1
        }
        if start < bytes.count { lines.append(bytes[start...]) }

        func text(_ s: ArraySlice<UInt8>) -> String { String(decoding: s, as: UTF8.self) }
        func value(_ s: ArraySlice<UInt8>, after prefix: String) -> String? {
            let p = Array(prefix.utf8)
            guard s.starts(with: p) else { return nil }
            return text(s.dropFirst(p.count))
        }

        var pendingPath: String?
        var k = 0
        while k < lines.count {
            let line = lines[k]
            k += 1
            if let d = value(line, after: "Directory: ") {
                entries.append(TTarEntry(path: d, kind: .directory))
            } else if let p = value(line, after: "Path: ") {
                pendingPath = p
            } else if let t = value(line, after: "SymlinkTo: ") {
                guard let p = pendingPath else { throw FormatError(description: "SymlinkTo without Path at line \(k)") }
                entries.append(TTarEntry(path: p, kind: .symlink(t)))
                pendingPath = nil
            } else if let n = value(line, after: "Lines: ") {
                guard let p = pendingPath, let count = Int(n), k + count <= lines.count else {
                    throw FormatError(description: "bad Lines record at line \(k)")
                }
                entries.append(TTarEntry(path: p, kind: .file(Self.decode(lines[k..<(k + count)]))))
                k += count
                pendingPath = nil
            }
            // "Mode:", "# ttar" separators and comments carry nothing we need.
        }
    }

    static func decode(_ lines: ArraySlice<ArraySlice<UInt8>>) -> [UInt8] {
        let nullWord = Array("NULLBYTE".utf8)
        let eofWord = Array("EOF".utf8)
        var out: [UInt8] = []
        for (n, line) in lines.enumerated() {
            var l = Array(line)
            var newline = true
            if n == lines.count - 1 && l.count >= 3 && Array(l.suffix(3)) == eofWord {
                if l.count >= 4 && l[l.count - 4] == UInt8(ascii: "\\") {
                    l.remove(at: l.count - 4)  // "\EOF": a literal EOF
                } else {
                    l.removeLast(3)
                    newline = false
                }
            }
            var i = 0
            while i < l.count {
                if l[i] == UInt8(ascii: "\\") && l[(i + 1)...].starts(with: nullWord) {
                    out.append(contentsOf: nullWord)
                    i += 1 + nullWord.count
                } else if l[i...].starts(with: nullWord) {
                    out.append(0)
                    i += nullWord.count
                } else {
                    out.append(l[i])
                    i += 1
                }
            }
            if newline { out.append(0x0A) }
        }
        return out
    }

    /// Writes the entries whose path starts with `prefix` under `directory` (the prefix's last component kept),
    /// e.g. prefix `fixtures/proc` -> `<directory>/proc/...`. Returns the extracted prefix's path.
    func extract(prefix: String, to directory: String) throws -> String {
        let fm = FileManager.default
        let parent = (prefix as NSString).deletingLastPathComponent
        for e in entries where e.path == prefix || e.path.hasPrefix(prefix + "/") {
            let relative = parent.isEmpty ? e.path : String(e.path.dropFirst(parent.count + 1))
            let target = directory + "/" + relative
            switch e.kind {
            case .directory:
                try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
            case .file(let content):
                try fm.createDirectory(
                    atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(content).write(to: URL(fileURLWithPath: target))
            case .symlink(let destination):
                try fm.createDirectory(
                    atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try? fm.removeItem(atPath: target)
                try fm.createSymbolicLink(atPath: target, withDestinationPath: destination)
            }
        }
        return directory + "/" + (prefix as NSString).lastPathComponent
    }
}

/// Where the corpus is extracted for this test process; removed at exit.
let corpusDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(
    "field-corpus-\(getpid())-\(UUID().uuidString)"
).path

/// The prometheus/procfs corpus extracted once per test process into a temporary directory.
enum PrometheusCorpus {
    struct Loaded: Sendable {
        /// `<tmp>/proc`: use it as a proc root.
        var procRoot: String
        /// Every `fixtures/proc/...` regular file: path relative to the proc root -> content.
        var files: [String: [UInt8]]
    }

    static let loaded: Result<Loaded, TTarArchive.FormatError> = {
        guard let data = FileManager.default.contents(atPath: prometheusCorpus) else {
            return .failure(TTarArchive.FormatError(description: "corpus missing at \(prometheusCorpus)"))
        }
        do {
            let archive = try TTarArchive(bytes: [UInt8](data))
            let root = try archive.extract(prefix: "fixtures/proc", to: corpusDirectory)
            atexit { try? FileManager.default.removeItem(atPath: corpusDirectory) }
            var files: [String: [UInt8]] = [:]
            for e in archive.entries where e.path.hasPrefix("fixtures/proc/") {
                if case .file(let content) = e.kind {
                    files[String(e.path.dropFirst("fixtures/proc/".count))] = content
                }
            }
            return .success(Loaded(procRoot: root, files: files))
        } catch let e as TTarArchive.FormatError {
            return .failure(e)
        } catch {
            return .failure(TTarArchive.FormatError(description: "\(error)"))
        }
    }()
}

/// A file or directory a test needs could not be read.
struct Unreadable: Error, CustomStringConvertible {
    var path: String
    var description: String { "cannot read \(path)" }
}

/// `readProcFile`, failing the test (by throwing) when the file cannot be read.
func procFile(_ path: String) throws -> [UInt8] {
    guard let b = readProcFile(path) else { throw Unreadable(path: path) }
    return b
}

/// `listingCapture`, failing the test (by throwing) when the directory cannot be listed.
func listing(_ path: String) throws -> [UInt8] {
    guard let b = listingCapture(path) else { throw Unreadable(path: path) }
    return b
}
