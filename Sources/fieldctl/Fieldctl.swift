import ArgumentParser

/// The host tool: decode, and later analyze, compare and serve.
@main
struct Fieldctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldctl",
        abstract: "Open, check and analyze bundles written by fieldagent.",
        discussion: """
            Bundles are zstd-compressed record streams (docs/bundle-format.md).

            Exit codes: 0 success; 3 a bundle is incomplete (never closed: the agent was killed or lost power, \
            everything it flushed was read); 4 a bundle is damaged (everything before the damage was printed); \
            5 a bundle could not be opened; 64 the command line is wrong.
            """,
        version: "0.1.0",
        subcommands: [Decode.self]
    )
}

/// The documented exit codes; the highest that applies wins.
enum ExitStatus: Int32, Comparable {
    case ok = 0
    case incomplete = 3
    case damaged = 4
    case unreadable = 5

    static func < (a: ExitStatus, b: ExitStatus) -> Bool { a.rawValue < b.rawValue }
}
