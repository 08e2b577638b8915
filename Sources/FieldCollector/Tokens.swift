import FieldBundle
import Foundation

/// The devices allowed to upload and their secrets, from a file of `DEVICE_ID TOKEN` lines.
///
/// The file must not be readable by group or others: the collector refuses to start otherwise, as ssh does with
/// a private key. Tokens are compared through their SHA-256 digests in constant time, so neither the length nor
/// the first differing byte of a guess shows in the response time.
public struct Tokens: Sendable {
    private let digests: [String: [UInt8]]

    /// Device ids in the file.
    public var devices: [String] { digests.keys.sorted() }

    /// Builds the table from (device, token) pairs.
    public init(_ pairs: [(device: String, token: String)]) {
        var d: [String: [UInt8]] = [:]
        for p in pairs { d[p.device] = SHA256.hash(Array(p.token.utf8)) }
        digests = d
    }

    /// Reads and checks a tokens file.
    public static func load(path: String) throws -> Tokens {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw CollectorError("cannot read the tokens file \(path): \(String(cString: strerror(errno)))")
        }
        if st.st_mode & 0o044 != 0 {
            throw CollectorError(
                "the tokens file \(path) is readable by other users (mode \(String(st.st_mode & 0o777, radix: 8))); "
                    + "run: chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw CollectorError("cannot read the tokens file \(path) as UTF-8 text")
        }
        return try parse(text, source: path)
    }

    /// Parses `DEVICE_ID TOKEN` lines; blank lines and `#` comments are skipped.
    public static func parse(_ text: String, source: String) throws -> Tokens {
        var pairs: [(device: String, token: String)] = []
        var seen = Set<String>()
        // Split on bytes: Swift counts "\r\n" as one Character, so a Windows-edited file would be one long line.
        let rawLines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        for (n, raw) in rawLines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count == 2 else {
                throw CollectorError("\(source):\(n + 1): expected 'DEVICE_ID TOKEN', got \(parts.count) fields")
            }
            let device = String(parts[0])
            guard SafeName.isSafe(device) else {
                throw CollectorError(
                    "\(source):\(n + 1): '\(device)' is not a valid device id (1-128 of A-Z a-z 0-9 . _ -, not starting with a dot)"
                )
            }
            guard seen.insert(device).inserted else {
                throw CollectorError("\(source):\(n + 1): device '\(device)' is listed twice")
            }
            guard parts[1].utf8.count >= 16 else {
                throw CollectorError("\(source):\(n + 1): the token for '\(device)' is shorter than 16 characters")
            }
            pairs.append((device, String(parts[1])))
        }
        guard !pairs.isEmpty else { throw CollectorError("\(source) lists no device: add lines of 'DEVICE_ID TOKEN'") }
        return Tokens(pairs)
    }

    /// The outcome of checking a request's credentials.
    public enum Verdict: Equatable, Sendable {
        case allowed
        /// No usable `Authorization: Bearer` header (401).
        case missing
        /// A token that is not this device's (403).
        case wrong
    }

    /// Checks an `Authorization` header value for `device`.
    public func check(authorization: String?, device: String) -> Verdict {
        guard let auth = authorization, auth.count > 7, auth.prefix(7).lowercased() == "bearer " else {
            return .missing
        }
        let token = auth.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty else { return .missing }
        let given = SHA256.hash(Array(token.utf8))
        // An unknown device is compared against a fixed digest, so it costs the same as a known one.
        let expected = digests[device] ?? [UInt8](repeating: 0, count: 32)
        return Self.constantTimeEqual(given, expected) && digests[device] != nil ? .allowed : .wrong
    }

    /// Equality whose time depends only on the lengths.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// The tokens in force, replaced as a whole when the file is read again.
final class TokenTable: @unchecked Sendable {
    private let lock = NSLock()
    private var tokens: Tokens

    init(_ tokens: Tokens) { self.tokens = tokens }

    var current: Tokens { lock.withLock { tokens } }

    func replace(with fresh: Tokens) { lock.withLock { tokens = fresh } }
}

/// A collector failure with a message for the user.
public struct CollectorError: Error, CustomStringConvertible, Sendable {
    /// Kinds of failure a caller may treat apart.
    public enum Code: Sendable, Equatable {
        /// Anything else: unreadable, damaged, wrong device, cannot be written.
        case failed
        /// Beyond a configured limit (a bundle that decompresses to more than allowed, a record too large).
        case overLimit
    }

    /// Which kind of failure.
    public var code: Code
    /// What went wrong.
    public var message: String
    /// Creates an error.
    public init(_ message: String, code: Code = .failed) {
        self.message = message
        self.code = code
    }
    public var description: String { message }
}
