import Foundation
import Testing

/// Runs the real binaries and tools from the tests.
enum Harness {
    /// The package root (this file is Tests/EndToEndTests/Harness.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Where `swift test` put the executables: next to the test bundle.
    static let binDir: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("fieldctl").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.path
    }()

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs a program to completion, capturing its output.
    @discardableResult
    static func run(
        _ program: String, _ args: [String], timeout: TimeInterval = 120, in directory: String? = nil,
        environment: [String: String] = [:]
    ) throws -> Result {
        let p = Process()
        if let d = directory { p.currentDirectoryURL = URL(fileURLWithPath: d) }
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : "/usr/bin/env")
        p.arguments = program.hasPrefix("/") ? args : [program] + args
        // Output goes to files, not pipes: no reader threads, and no deadlock on large outputs.
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("field-run-\(UUID().uuidString)")
        let outURL = base.appendingPathExtension("out"), errURL = base.appendingPathExtension("err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        try p.run()
        if !waitFor(timeout, { !p.isRunning }) {
            p.terminate()
            throw HarnessError("\(program) \(args) did not finish within \(timeout) s")
        }
        p.waitUntilExit()
        let outData = (try? Data(contentsOf: outURL)) ?? Data()
        let errData = (try? Data(contentsOf: errURL)) ?? Data()
        return Result(status: p.terminationStatus, stdout: outData, stderr: String(decoding: errData, as: UTF8.self))
    }

    static func fieldctl(_ args: [String]) throws -> Result { try run(binDir + "/fieldctl", args) }
    /// The agent under test, as a command: the normal build beside the tests, or the binary named by
    /// `FIELD_AGENT` (an Embedded or cross build from tools/build-agent.sh), run through `FIELD_AGENT_EMULATOR`
    /// when that is set (e.g. `qemu-arm -L /`). The same tests then check any build.
    static let agentCommand: [String] = {
        let env = ProcessInfo.processInfo.environment
        let agent = env["FIELD_AGENT"].flatMap { $0.isEmpty ? nil : $0 } ?? binDir + "/fieldagent"
        let emulator = (env["FIELD_AGENT_EMULATOR"] ?? "").split(separator: " ").map(String.init)
        return emulator + [agent]
    }()

    /// Whether the agent runs under an emulator (whose own /proc/self is not the agent's).
    static var agentIsEmulated: Bool { agentCommand.count > 1 }

    /// The agent command as one shell word list (for `sh -c` scripts).
    static var agentShellCommand: String { agentCommand.map { "'" + $0 + "'" }.joined(separator: " ") }

    /// Sets `process` up to run the agent under test with `args`.
    static func configureAgent(_ process: Process, _ args: [String]) {
        let command = agentCommand
        process.executableURL = URL(fileURLWithPath: command[0].hasPrefix("/") ? command[0] : "/usr/bin/env")
        process.arguments = (command[0].hasPrefix("/") ? [] : [command[0]]) + command.dropFirst() + args
    }

    static func fieldagent(_ args: [String]) throws -> Result { try run(agentCommand[0], Array(agentCommand.dropFirst()) + args) }

    static func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("field-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Writes the file `from` cut `offset` bytes past the start (`atEnd`: past the end) of the last occurrence of
    /// `marker` to `to`: a capture or log that a power cut ended mid-write. Throws when the marker is absent.
    static func cutCopy(of from: String, to: String, afterLast marker: String, atEnd: Bool = false, offset: Int) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: from))
        let text = String(decoding: bytes, as: UTF8.self)
        guard let r = text.range(of: marker, options: .backwards) else {
            throw HarnessError("\(from) holds no \(marker)")
        }
        let cutAt = text.utf8.distance(from: text.utf8.startIndex, to: atEnd ? r.upperBound : r.lowerBound) + offset
        try bytes.prefix(cutAt).write(to: URL(fileURLWithPath: to))
    }

    static func files(in dir: String, suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(suffix) }.sorted().map { dir + "/" + $0 }
    }

    /// Polls `condition` until it holds or `seconds` pass.
    static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
