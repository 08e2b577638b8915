import ArgumentParser
import FieldAnalysis
import FieldBundle
import Foundation

extension Fieldctl {
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put devices and OSes side by side: which runs out of threads (and other quotas) first, and why.",
            discussion: """
                PATH is a bundle or a directory of bundles, of any number of devices (Linux and SylixOS alike). \
                For each device: its thread limit (on Linux the process that runs out first, with the limit that \
                binds), and every other resource at least two devices report: limit, peak, used, percent, growth \
                per hour, time to exhaustion. A time to exhaustion is given only from evidence (a limit reached, or \
                a significant, sustained trend toward it); otherwise the row says "no evidence".
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

        @Argument(help: "Bundles or directories of bundles.")
        var paths: [String]

        @Option(help: "Output: text (a verdict line and a table) or json (one row object per device and resource).")
        var format: Format = .text

        func run() throws {
            let files = try Analyze.bundleFiles(paths)
            var builder = TimelineBuilder()
            var readable = 0
            for f in files {
                do {
                    builder.add(try BundleReader(path: f))
                    readable += 1
                } catch {
                    FileHandle.standardError.write(Data("fieldctl: \(error.message)\n".utf8))
                }
            }
            guard readable > 0 else { throw ExitCode(ExitStatus.unreadable.rawValue) }
            builder.finish()
            let (_, quotas) = Analyzer().analyze(Array(builder.devices.values))
            let rows = Comparison.rows(quotas)
            switch format {
            case .text: FileHandle.standardOutput.write(Data(Comparison.text(rows).utf8))
            case .json:
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys]
                FileHandle.standardOutput.write(try e.encode(rows) + Data("\n".utf8))
            }
        }
    }
}
