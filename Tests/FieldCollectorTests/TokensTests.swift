import FieldCollector
import Foundation
import Testing

/// Parses `text` and returns the error message, or nil when it was accepted.
private func parseError(_ text: String) -> String? {
    do {
        _ = try Tokens.parse(text, source: "tokens.txt")
        return nil
    } catch {
        return (error as? CollectorError)?.message ?? "not a CollectorError: \(error)"
    }
}

private let tokenA = "a-secret-token-0123456789"
private let tokenB = "b-secret-token-9876543210"

@Suite struct TokensParseTests {
    @Test func commentsBlankLinesAndTabsAreAccepted() throws {
        let text = """
            # devices of the soak rack

            board-1 \(tokenA)
            \tboard_2.x\t\t\(tokenB)   \t
               # indented comment
            """
        let t = try Tokens.parse(text + "\n\n", source: "tokens.txt")
        #expect(t.devices == ["board-1", "board_2.x"])
        #expect(t.check(authorization: "Bearer " + tokenA, device: "board-1") == .allowed)
        #expect(t.check(authorization: "Bearer " + tokenB, device: "board_2.x") == .allowed)
    }

    /// A tokens file saved with Windows line endings: the carriage return is not part of the token (the agent
    /// drops it from its own token file, so a token kept with it would never match).
    @Test func crlfLineEndingsAreAccepted() throws {
        let single = try Tokens.parse("board-1 \(tokenA)\r\n", source: "tokens.txt")
        #expect(single.check(authorization: "Bearer " + tokenA, device: "board-1") == .allowed)
        let t = try Tokens.parse("# rack\r\nboard-1 \(tokenA)\r\nboard-2 \(tokenB)\r\n", source: "tokens.txt")
        #expect(t.devices == ["board-1", "board-2"])
        #expect(t.check(authorization: "Bearer " + tokenA, device: "board-1") == .allowed)
    }

    @Test(arguments: [
        ("board-1\n", "tokens.txt:1:", "got 1 fields"),
        ("# c\nboard-1 \(tokenA) extra\n", "tokens.txt:2:", "got 3 fields"),
        ("board-1 \(tokenA)\n\nboard-2\t\(tokenB)\tx", "tokens.txt:3:", "got 3 fields"),
    ])
    func wrongFieldCountNamesTheLine(text: String, location: String, detail: String) throws {
        let message = try #require(parseError(text))
        #expect(message.contains(location), "\(message)")
        #expect(message.contains(detail), "\(message)")
        #expect(message.contains("DEVICE_ID TOKEN"), "\(message)")
    }

    @Test(arguments: ["../etc", ".hidden", "a/b", "bad:id", "dev?ice", "ü-board", String(repeating: "x", count: 129), ".."])
    func unsafeDeviceIDsAreRefused(device: String) throws {
        let text = "board-0 \(tokenB)\n\(device) \(tokenA)\n"
        let message = try #require(parseError(text), "\(device) was accepted")
        #expect(message.contains("tokens.txt:2:"), "\(message)")
        #expect(message.contains("not a valid device id"), "\(message)")
    }

    @Test func longestSafeDeviceIDIsAccepted() throws {
        let id = String(repeating: "x", count: 128)
        let t = try Tokens.parse("\(id) \(tokenA)", source: "tokens.txt")
        #expect(t.devices == [id])
    }

    @Test func duplicateDeviceIsRefused() throws {
        let message = try #require(parseError("board-1 \(tokenA)\nboard-2 \(tokenB)\nboard-1 \(tokenB)\n"))
        #expect(message.contains("tokens.txt:3:"), "\(message)")
        #expect(message.contains("'board-1' is listed twice"), "\(message)")
    }

    @Test func tokensShorterThan16CharactersAreRefused() throws {
        let message = try #require(parseError("board-1 " + String(repeating: "k", count: 15)))
        #expect(message.contains("tokens.txt:1:"), "\(message)")
        #expect(message.contains("shorter than 16"), "\(message)")
        // Exactly 16 is enough.
        let sixteen = String(repeating: "k", count: 16)
        let t = try Tokens.parse("board-1 " + sixteen, source: "tokens.txt")
        #expect(t.check(authorization: "Bearer " + sixteen, device: "board-1") == .allowed)
    }

    @Test(arguments: ["", "\n\n", "# only a comment\n", "   \n\t\n# x\n"])
    func fileWithoutDevicesIsRefused(text: String) throws {
        let message = try #require(parseError(text), "accepted \(text.debugDescription)")
        #expect(message.contains("lists no device"), "\(message)")
        #expect(message.contains("tokens.txt"), "\(message)")
    }
}

@Suite struct TokensLoadTests {
    /// Writes a tokens file with `mode` in a fresh directory; returns its path.
    private func tokensFile(mode: mode_t, text: String = "board-1 \(tokenA)\n") throws -> (dir: String, path: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("field-tokens-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/tokens"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        // Explicitly, whatever the umask.
        try #require(chmod(path, mode) == 0)
        return (dir, path)
    }

    @Test(arguments: [0o644 as mode_t, 0o640, 0o604, 0o666])
    func filesReadableByOthersAreRefused(mode: mode_t) throws {
        let (dir, path) = try tokensFile(mode: mode)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try Tokens.load(path: path)
            Issue.record("mode \(String(mode, radix: 8)) was accepted")
        } catch let error as CollectorError {
            #expect(error.message.contains("chmod 600 \(path)"), "\(error.message)")
            #expect(error.message.contains(String(mode, radix: 8)), "\(error.message)")
        }
    }

    @Test(arguments: [0o600 as mode_t, 0o400])
    func privateFilesAreLoaded(mode: mode_t) throws {
        let (dir, path) = try tokensFile(mode: mode, text: "# rack\nboard-1 \(tokenA)\nboard-2 \(tokenB)\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try Tokens.load(path: path)
        #expect(t.devices == ["board-1", "board-2"])
        #expect(t.check(authorization: "Bearer " + tokenB, device: "board-2") == .allowed)
    }

    @Test func parseErrorsOfALoadedFileNameTheFile() throws {
        let (dir, path) = try tokensFile(mode: 0o600, text: "board-1 short\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try Tokens.load(path: path)
            Issue.record("accepted")
        } catch let error as CollectorError {
            #expect(error.message.contains(path + ":1:"), "\(error.message)")
        }
    }

    @Test func missingFileIsAnError() throws {
        do {
            _ = try Tokens.load(path: "/nonexistent/field-tokens")
            Issue.record("accepted")
        } catch let error as CollectorError {
            #expect(error.message.contains("cannot read the tokens file /nonexistent/field-tokens"), "\(error.message)")
        }
    }
}

@Suite struct TokensCheckTests {
    let tokens = Tokens([(device: "board-1", token: tokenA), (device: "board-2", token: tokenB)])

    @Test(arguments: [
        nil, "", "Bearer", "Bearer ", "Bearer    ", "Bearer \t ", "Basic \(tokenA)", "Token \(tokenA)",
        "Bearer\(tokenA)", tokenA,
    ] as [String?])
    func unusableHeadersAreMissing(header: String?) {
        #expect(tokens.check(authorization: header, device: "board-1") == .missing, "\(String(describing: header))")
    }

    @Test func rightTokenIsAllowed() {
        #expect(tokens.check(authorization: "Bearer " + tokenA, device: "board-1") == .allowed)
        #expect(tokens.check(authorization: "Bearer " + tokenB, device: "board-2") == .allowed)
        // Surrounding spaces are not part of the token.
        #expect(tokens.check(authorization: "Bearer   " + tokenA + "  ", device: "board-1") == .allowed)
    }

    @Test(arguments: ["bearer ", "BEARER ", "BeArEr "])
    func schemeIsCaseInsensitive(scheme: String) {
        #expect(tokens.check(authorization: scheme + tokenA, device: "board-1") == .allowed)
        #expect(tokens.check(authorization: scheme + tokenB, device: "board-1") == .wrong)
    }

    @Test func wrongTokensAreWrong() {
        // Another device's token.
        #expect(tokens.check(authorization: "Bearer " + tokenB, device: "board-1") == .wrong)
        #expect(tokens.check(authorization: "Bearer " + tokenA, device: "board-2") == .wrong)
        // Near misses: a prefix, an extension, a changed last character, another case.
        #expect(tokens.check(authorization: "Bearer " + tokenA.dropLast(), device: "board-1") == .wrong)
        #expect(tokens.check(authorization: "Bearer " + tokenA + "x", device: "board-1") == .wrong)
        #expect(tokens.check(authorization: "Bearer " + tokenA.dropLast() + "8", device: "board-1") == .wrong)
        #expect(tokens.check(authorization: "Bearer " + tokenA.uppercased(), device: "board-1") == .wrong)
    }

    @Test func unknownDevicesAreWrong() {
        #expect(tokens.check(authorization: "Bearer " + tokenA, device: "board-3") == .wrong)
        #expect(tokens.check(authorization: "Bearer " + tokenA, device: "") == .wrong)
        // An empty table allows nothing.
        let empty = Tokens([])
        #expect(empty.check(authorization: "Bearer " + tokenA, device: "board-1") == .wrong)
        #expect(empty.devices.isEmpty)
    }

    @Test func constantTimeEqualCompares() {
        let a: [UInt8] = Array(0..<32)
        #expect(Tokens.constantTimeEqual(a, a))
        #expect(Tokens.constantTimeEqual([], []))
        for i in 0..<a.count {
            var b = a
            b[i] ^= 0x40
            #expect(!Tokens.constantTimeEqual(a, b), "differs at \(i)")
        }
        #expect(!Tokens.constantTimeEqual(a, Array(a.dropLast())))
        #expect(!Tokens.constantTimeEqual(Array(a.dropLast()), a))
        #expect(!Tokens.constantTimeEqual(a, a + [0]))
        #expect(!Tokens.constantTimeEqual([], [0]))
    }

    @Test func collectorErrorDescriptionIsTheMessage() {
        let e = CollectorError("do this")
        #expect(e.description == "do this")
        #expect(e.message == "do this")
    }
}
