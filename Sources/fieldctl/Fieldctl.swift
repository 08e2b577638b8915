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
            bytes, or over a size limit): every record before the damage was read; 5 a bundle could not be opened; \
            64 the command line is wrong. With several bundles the highest code wins.
            """,
        version: "0.1.0",
        subcommands: [Decode.self, Analyze.self, Compare.self, Serve.self, Devices.self]
    )
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
