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
                a significant, sustained trend toward it); otherwise the row says "no evidence". Damaged bundles are \
                read up to the damage, and listed with the captured values that could not be used: after the table, \
                or on standard error with --format json.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

        @Argument(help: "Bundles, directories of bundles, or s3://BUCKET/PREFIX[/DEVICE] of a collector's object store.")
        var paths: [String]

        @OptionGroup(title: "Object store") var objectStore: ObjectStoreOptions

        @Option(help: "Output: text (a verdict line and a table) or json (one row object per device and resource).")
        var format: Format = .text

        @OptionGroup var read: ReadOptions

        func run() throws {
            defer { ObjectStoreDownloads.cleanUp() }
            let files = try Analyze.bundleFiles(paths, objectStore: objectStore)
            var builder = TimelineBuilder()
            var readable = 0
            for f in files {
                do {
                    builder.add(try BundleReader(path: f, limits: read.limits()))
                    readable += 1
                } catch {
                    FileHandle.standardError.write(Data("fieldctl: \(error.message)\n".utf8))
                }
            }
            guard readable > 0 else { throw ExitCode(ExitStatus.unreadable.rawValue) }
            builder.finish()
            let devices = Array(builder.devices.values)
            let (_, quotas) = Analyzer().analyze(devices)
            let rows = Comparison.rows(quotas)
            let notes = Report.notes(devices)
            switch format {
            case .text:
                let text = Comparison.text(rows) + (notes.isEmpty ? "" : "\nnotes:\n" + notes.map { "  " + $0 + "\n" }.joined())
                FileHandle.standardOutput.write(Data(text.utf8))
            case .json:
                // The rows are the document; what was not read or not usable goes beside it, to standard error.
                FileHandle.standardOutput.write(try Report.encoder().encode(rows) + Data("\n".utf8))
                for n in notes { FileHandle.standardError.write(Data("fieldctl: \(n)\n".utf8)) }
            }
        }
    }
}
