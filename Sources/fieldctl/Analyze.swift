import ArgumentParser
import FieldAnalysis
import FieldBundle
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

        @Argument(help: "Bundles (.zst, .zst.open) or directories of bundles.")
        var paths: [String]

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
        static func bundleFiles(_ paths: [String]) throws -> [String] {
            var files: [String] = []
            for p in paths {
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
            let files = try Self.bundleFiles(paths)
            var builder = TimelineBuilder(
                pidFilter: pid.isEmpty ? nil : Set(pid), since: try since.map { try Self.parseTime($0, "--since") },
                until: try until.map { try Self.parseTime($0, "--until") })
            var readable = 0
            // Progress on a terminal, for runs longer than about a second.
            let terminal = isatty(2) != 0
            let started = Date()
            var shown = false
            for (i, f) in files.enumerated() {
                do {
                    builder.add(try BundleReader(path: f, limits: read.limits())) { bytes in
                        guard terminal, Date().timeIntervalSince(started) > 1 else { return }
                        shown = true
                        FileHandle.standardError.write(Data("\rreading bundle \(i + 1)/\(files.count): \(bytes / 1_000_000) MB decompressed\u{1B}[K".utf8))
                    }
                    readable += 1
                } catch {
                    FileHandle.standardError.write(Data("fieldctl: \(error.message)\n".utf8))
                }
            }
            if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            builder.finish()
            guard readable > 0 else { throw ExitCode(ExitStatus.unreadable.rawValue) }
            let devices = Array(builder.devices.values)
            let (findings, quotas) = Analyzer(horizonSeconds: horizonHours * 3600).analyze(devices)
            let text: String
            switch format {
            case .text:
                text = Report.text(findings: findings, quotas: quotas, devices: devices, colour: output == nil && isatty(1) != 0)
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
