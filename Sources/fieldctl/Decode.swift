import ArgumentParser
import FieldAnalysis
import FieldBundle

#if canImport(Glibc)
import Glibc
#endif

extension Fieldctl {
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the records of bundles as JSON lines, or a short summary.",
            discussion: """
                jsonl: for each bundle, a line {"bundle":PATH,...}, one line per intact record \
                {"record":N,"offset":BYTE,"type":NAME,"length":N,"payload":{...}}, and a closing line \
                {"result":PATH,"records":N,"complete":BOOL,"damage":null|{"kind","records","offset"}}. \
                Byte strings print as {"utf8":TEXT} when they are valid UTF-8, else {"base64":TEXT}. \
                tools/fieldbundle.py prints the same lines. Bundles of format 1.1 store a file identical to \
                its previous capture as {"path":...,"status":"same"} without data; --resolve prints such entries \
                as the capture they refer to.

                summary: records by type, time span, files, sizes and damage, for a person.

                Damaged bundles print everything before the damage, then the damage; the exit code says so \
                (see fieldctl --help).
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case jsonl, summary
        }

        @Argument(help: "Bundle files (.zst, or .zst.open left by a crashed agent).")
        var bundles: [String]

        @Option(help: "Output format: jsonl or summary.")
        var format: Format = .jsonl

        @Flag(help: "Print sample entries stored as \"same\" (format 1.1) with the content of the capture they refer to.")
        var resolve = false

        @Option(help: "Refuse records larger than this many bytes (protects against damaged lengths and bombs).")
        var maxRecordBytes: Int = ReadLimits.default.maxRecordBytes

        @OptionGroup var read: ReadOptions

        func validate() throws {
            guard maxRecordBytes > 0 else { throw ValidationError("--max-record-bytes must be positive") }
        }

        func run() throws {
            let limits = read.limits(maxRecordBytes: maxRecordBytes)
            var worst = ExitStatus.ok
            var out = OutputBuffer()
            for path in bundles {
                let reader: BundleReader
                do {
                    reader = try BundleReader(path: path, limits: limits)
                } catch {
                    out.flush()
                    printError("fieldctl: \(error.message)")
                    worst = max(worst, .unreadable)
                    continue
                }
                switch format {
                case .jsonl:
                    // The bundle line comes after the first record so that it can name the format version.
                    var first = true
                    var resolver = JSONLines.Resolver()
                    while let r = reader.next() {
                        if first {
                            out.line(JSONLines.bundleLine(path: path, size: reader.compressedSize, format: reader.format))
                            first = false
                        }
                        if resolve {
                            out.line(JSONLines.recordLine(r, payload: resolver.payload(r)))
                        } else if !out.appendRecordLine(r) {
                            out.line(JSONLines.recordLine(r))
                        }
                    }
                    if first {
                        out.line(JSONLines.bundleLine(path: path, size: reader.compressedSize, format: reader.format))
                    }
                    out.line(
                        JSONLines.resultLine(
                            path: path, records: reader.recordCount, complete: reader.isComplete, damage: reader.damage))
                    if let d = reader.damage {
                        out.flush()
                        printError("fieldctl: \(path): \(d)")
                    }
                case .summary:
                    let summary = BundleSummary.read(reader)
                    out.line(summary.render())
                }
                worst = max(worst, ExitStatus(reader.damage))
            }
            out.flush()
            if worst != .ok { throw ExitCode(worst.rawValue) }
        }
    }
}

/// Buffered standard output: JSON lines of a large bundle are many small writes.
struct OutputBuffer {
    private var buffer: [UInt8] = []

    mutating func line(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Appends `r`'s line the direct way (`JSONLines.appendRecordLine`); false when it must go the general way.
    mutating func appendRecordLine(_ r: RawRecord) -> Bool {
        guard JSONLines.appendRecordLine(r, to: &buffer) else { return false }
        if buffer.count >= 1 << 16 { flush() }
        return true
    }

    mutating func flush() {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { write(1, $0.baseAddress! + done, $0.count - done) }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                break  // stdout closed (e.g. piped into head): nothing more to say
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

func printError(_ s: String) {
    var line = Array(s.utf8)
    line.append(0x0A)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress!, $0.count) }
}
