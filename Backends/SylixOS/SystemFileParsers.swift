/// `/proc/version` on SylixOS: `SylixOS kernel version: X.Y.Z Code name: NAME BSP...`, then
/// `(compile time: ...)` and `GCC:x.y.z` (procKernel.c).
public struct SylixVersion: Sendable, Hashable {
    /// `2.3.8`.
    public var version: String
    /// `Enterprise`, when printed (kernels since about 2017).
    public var codeName: String?
    /// The first line as printed.
    public var line: String

    /// Parses the file; nil when it is not a SylixOS version text.
    public static func parse(_ bytes: [UInt8]) -> SylixVersion? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let first = text.split(separator: "\n").first, first.hasPrefix("SylixOS kernel version:") else { return nil }
        let words = first.dropFirst("SylixOS kernel version:".count).split(separator: " ")
        guard let v = words.first else { return nil }
        var code: String?
        if let i = words.firstIndex(of: "name:"), i + 1 < words.count, i > 0, words[i - 1] == "Code" { code = String(words[i + 1]) }
        return SylixVersion(version: String(v), codeName: code, line: String(first))
    }
}

/// `/proc/kernel/tick`: `tick rate    : N hz`, `tick         : N`, then the monotonic and two realtime lines.
public struct SylixTick: Sendable, Hashable {
    /// Ticks per second.
    public var rate: UInt64?
    /// Ticks since boot.
    public var ticks: UInt64?

    /// Seconds since boot, when both numbers are there.
    public var uptimeSeconds: Double? {
        guard let r = rate, r > 0, let t = ticks else { return nil }
        return Double(t) / Double(r)
    }

    /// Parses the file; lines it does not know are ignored.
    public static func parse(_ bytes: [UInt8]) -> SylixTick {
        var t = SylixTick()
        for raw in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = raw.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].split(separator: " ").joined(separator: " ")
            let value = parts[1].split(separator: " ").first.flatMap { UInt64($0) }
            if key == "tick rate" { t.rate = value } else if key == "tick" { t.ticks = value }
        }
        return t
    }
}

/// One named POSIX object in `/proc/posix/pnamed` (`"%-4s %6d %s\n"`: type, open count, name).
public struct NamedObject: Sendable, Hashable {
    /// `SEM` or `MQ`.
    public var type: String
    /// How many opens are outstanding.
    public var openCount: Int
    /// The name.
    public var name: String

    /// Creates an entry.
    public init(type: String, openCount: Int, name: String) {
        self.type = type
        self.openCount = openCount
        self.name = name
    }

    /// Parses the file: header and dashes skipped, rows kept.
    public static func parse(_ bytes: [UInt8]) -> [NamedObject] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { raw in
            let f = raw.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard f.count == 3, let n = Int(f[1]), f[0] == "SEM" || f[0] == "MQ" else { return nil }
            return NamedObject(type: String(f[0]), openCount: n, name: String(f[2]))
        }
    }
}
