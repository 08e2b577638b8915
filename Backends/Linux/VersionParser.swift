/// The parsed `/proc/version`.
public struct KernelVersion: Sendable, Hashable {
    /// The first line as printed, without its newline.
    public var line: String
    /// The release (`uname -r`), the word after `Linux version `, e.g. `4.4.194-rt`; nil when not Linux-shaped.
    public var release: String?
    /// The release's leading numbers: major, minor and patch (`5.15.0-91-generic` -> 5, 15, 0), when present.
    public var major: Int?
    /// Minor number.
    public var minor: Int?
    /// Patch number.
    public var patch: Int?

    /// Creates a value.
    public init(line: String, release: String? = nil, major: Int? = nil, minor: Int? = nil, patch: Int? = nil) {
        self.line = line
        self.release = release
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Whether the release is at least `major.minor` (false when unknown): format facts depend on it,
    /// e.g. `[stack:TID]` only in 3.4 to 4.4, thread stacks counted in `VmData` since 4.5.
    public func isAtLeast(_ major: Int, _ minor: Int) -> Bool {
        guard let a = self.major, let b = self.minor else { return false }
        return (a, b) >= (major, minor)
    }
}

/// Parser for `/proc/version` (init/version.c: `Linux version %s (%s@%s) (%s) %s`).
public enum VersionParser {
    /// Parses the first line; nil only for empty input.
    public static func parse(_ bytes: [UInt8]) -> KernelVersion? {
        bytes.withUnsafeBufferPointer { buf -> KernelVersion? in
            var lineEnd = 0
            while lineEnd < buf.count && buf[lineEnd] != ProcText.newline { lineEnd += 1 }
            let r = ProcText.trimmed(buf, 0..<lineEnd)
            if r.isEmpty { return nil }
            var v = KernelVersion(line: ProcText.string(buf, r))
            guard ProcText.hasPrefix(buf, r, "Linux version ") else { return v }
            let rest = (r.lowerBound + 14)..<r.upperBound
            guard let word = ProcText.tokens(buf, rest).first else { return v }
            v.release = ProcText.string(buf, word)
            // Leading "N.N.N": stop at the first byte that is neither a digit nor a dot.
            var numbers: [Int] = []
            var i = word.lowerBound
            while i < word.upperBound && numbers.count < 3 {
                let s = i
                while i < word.upperBound && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 }
                guard let n = ProcText.decimal(buf, s..<i), n <= 1_000_000 else { break }
                numbers.append(Int(n))
                guard i < word.upperBound && buf[i] == UInt8(ascii: ".") else { break }
                i += 1
            }
            v.major = numbers.count > 0 ? numbers[0] : nil
            v.minor = numbers.count > 1 ? numbers[1] : nil
            v.patch = numbers.count > 2 ? numbers[2] : nil
            return v
        }
    }
}
