import ArgumentParser
import FieldBundle

/// The host tool: decode, and later analyze, compare and serve.
@main
struct Fieldctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldctl",
        abstract: "Open, check, analyze and collect bundles written by fieldagent.",
        discussion: """
            Bundles are zstd-compressed record streams (docs/bundle-format.md).

            Exit codes: 0 success; 3 a bundle ends early (never closed because the agent was killed or lost \
            power, or cut short in a copy): every record before the end was read; 4 a bundle is damaged (wrong \
            bytes, or over a size limit: a record over --max-record-bytes, a decompressed stream over \
            --max-stream-bytes, by default 4096 times the bundle's size, or a zstd window over 2^27): every record \
            before the damage was read; 5 a bundle could not be opened; 64 the command line is wrong. With several \
            bundles the highest code wins. analyze and compare read damaged bundles up to the damage and say so in \
            their reports (their own exit codes: see their --help).
            """,
        version: "0.1.0",
        subcommands: [Decode.self, Analyze.self, Compare.self, Serve.self, Devices.self, Import.self]
    )
}

/// How much of a bundle is read at most: `decode`, `analyze` and `compare` share it.
struct ReadOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Stop reading a bundle after this many decompressed bytes (default: 4096 times its compressed size, at least 64 MiB, at most 64 GiB).",
        discussion: "procfs text expands about 60 times, and about 1,400 times when every sample repeats the last; a bundle that expands more is a decompression bomb. A bundle stopped by the limit is damaged, kind limit (decode exits 4)."))
    var maxStreamBytes: UInt64?

    /// The limits to read with.
    func limits(maxRecordBytes: Int = ReadLimits.default.maxRecordBytes) -> ReadLimits {
        guard let n = maxStreamBytes else { return ReadLimits(maxRecordBytes: maxRecordBytes) }
        return ReadLimits(maxRecordBytes: maxRecordBytes, maxStreamBytes: n, maxExpansion: nil)
    }
}

/// The documented exit codes; the highest that applies wins.
enum ExitStatus: Int32, Comparable {
    case ok = 0
    case endsEarly = 3
    case damaged = 4
    case unreadable = 5

    static func < (a: ExitStatus, b: ExitStatus) -> Bool { a.rawValue < b.rawValue }
}

extension ExitStatus {
    /// The exit status a reader's damage deserves.
    init(_ damage: Damage?) {
        switch damage?.kind {
        case nil: self = .ok
        case .incomplete, .truncated: self = .endsEarly
        case .corrupt, .limit: self = .damaged
        }
    }
}
