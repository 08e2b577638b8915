/// Numbers for a person: sizes, durations, one decimal. Every function takes any `Double` (captured data can hold
/// anything, and arithmetic on it can give infinities and NaN) and never traps.
public enum Format {
    /// `1.5 MiB`, `512 KiB`, `12 B`.
    public static func bytes(_ v: Double) -> String {
        guard v.isFinite else { return one(v) + " B" }
        let a = abs(v)
        if a >= 1_073_741_824 { return one(v / 1_073_741_824) + " GiB" }
        if a >= 1_048_576 { return one(v / 1_048_576) + " MiB" }
        if a >= 1024 { return one(v / 1024) + " KiB" }
        return "\(Int(v.rounded())) B"
    }

    /// One decimal, without a trailing `.0`.
    public static func one(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        guard v.isFinite else { return v > 0 ? "inf" : "-inf" }
        let r = (v * 10).rounded() / 10
        return r == r.rounded() && abs(r) < 1e15 ? String(Int(r)) : String(r)
    }

    /// `45 s`, `12.5 min`, `3.2 h`, `4.1 days`.
    public static func duration(_ s: Double) -> String {
        if s.isNaN { return "unknown" }
        if !s.isFinite { return s > 0 ? "never" : "-inf s" }
        if abs(s) < 120 { return "\(Int(s.rounded())) s" }
        if abs(s) < 7200 { return "\(one(s / 60)) min" }
        if abs(s) < 172_800 { return "\(one(s / 3600)) h" }
        return "\(one(s / 86400)) days"
    }

    /// A whole number for a count; beyond what an `Int` holds, in exponent form (captured data can hold anything).
    public static func count(_ v: Double) -> String {
        guard v.isFinite else { return "?" }
        let r = v.rounded()
        return abs(r) < 9e18 ? String(Int(r)) : String(r)
    }

    /// A count in thousands above 10,000 (`12k`), for chart axes.
    public static func thousands(_ v: Double) -> String {
        v.isFinite && abs(v) >= 10_000 ? count(v / 1000) + "k" : one(v)
    }
}
