import CFieldPlatform

/// Bundle file names: `DEVICE-YYYYmmddTHHMMSS.mmmZ-NNNN.zst`, the wall clock of the first sample (UTC, to the
/// millisecond) and the bundle's sequence. Names of one device sort by time.
public enum BundleName {
    /// `DEVICE-TIME-NNNN.zst`.
    public static func make(device: String, wallNanos: Int64, sequence: UInt64) -> String {
        let seq = String(sequence)
        return "\(device)-\(timestamp(wallNanos))-\(String(repeating: "0", count: max(0, 4 - seq.count)) + seq).zst"
    }

    /// `YYYYmmddTHHMMSS.mmmZ` of a Unix time in nanoseconds.
    public static func timestamp(_ wall: Int64) -> String {
        var t = time_t(clamping: wall / 1_000_000_000)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let ms = Int((wall % 1_000_000_000 + 1_000_000_000) % 1_000_000_000 / 1_000_000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(tmv.tm_year + 1900)\(two(tmv.tm_mon + 1))\(two(tmv.tm_mday))T\(two(tmv.tm_hour))\(two(tmv.tm_min))\(two(tmv.tm_sec)).\(msText)Z"
    }
}
