/// Numbers for a person: sizes, durations, one decimal.
public enum Format {
    /// `1.5 MiB`, `512 KiB`, `12 B`.
    public static func bytes(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1_073_741_824 { return one(v / 1_073_741_824) + " GiB" }
        if a >= 1_048_576 { return one(v / 1_048_576) + " MiB" }
        if a >= 1024 { return one(v / 1024) + " KiB" }
        return "\(Int(v.rounded())) B"
    }

    /// One decimal, without a trailing `.0`.
    public static func one(_ v: Double) -> String {
        guard v.isFinite else { return v > 0 ? "inf" : "-inf" }
        let r = (v * 10).rounded() / 10
        return r == r.rounded() && abs(r) < 1e15 ? String(Int(r)) : String(r)
    }

    /// `45 s`, `12.5 min`, `3.2 h`, `4.1 days`.
    public static func duration(_ s: Double) -> String {
        if !s.isFinite { return "never" }
        if s < 120 { return "\(Int(s.rounded())) s" }
        if s < 7200 { return "\(one(s / 60)) min" }
        if s < 172_800 { return "\(one(s / 3600)) h" }
        return "\(one(s / 86400)) days"
    }

    /// A whole number for a count, clamped (captured data can hold anything).
    public static func count(_ v: Double) -> String {
        guard v.isFinite else { return "?" }
        return String(Int(max(-9e18, min(9e18, v.rounded()))))
    }
}
