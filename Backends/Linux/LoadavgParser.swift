/// The parsed `/proc/loadavg`.
public struct LoadAverage: Sendable, Hashable {
    /// Load average over 1 minute.
    public var one: Double
    /// Over 5 minutes.
    public var five: Double
    /// Over 15 minutes.
    public var fifteen: Double
    /// Runnable tasks now (fourth field, before the slash).
    public var runnable: UInt64
    /// All tasks (threads) in the system now (fourth field, after the slash).
    public var total: UInt64
    /// The most recently allocated pid (fifth field).
    public var lastPID: UInt64?

    /// Creates a value.
    public init(one: Double, five: Double, fifteen: Double, runnable: UInt64, total: UInt64, lastPID: UInt64?) {
        self.one = one
        self.five = five
        self.fifteen = fifteen
        self.runnable = runnable
        self.total = total
        self.lastPID = lastPID
    }
}

/// Parser for `/proc/loadavg` (fs/proc/loadavg.c: `%lu.%02lu %lu.%02lu %lu.%02lu %u/%d %d`).
public enum LoadavgParser {
    /// Parses the line; nil unless the first four fields are there.
    public static func parse(_ bytes: [UInt8]) -> LoadAverage? {
        bytes.withUnsafeBufferPointer { buf -> LoadAverage? in
            let t = ProcText.tokens(buf, 0..<buf.count)
            guard t.count >= 4, let one = decimalFraction(buf, t[0]), let five = decimalFraction(buf, t[1]),
                let fifteen = decimalFraction(buf, t[2]),
                let slash = ProcText.firstIndex(of: UInt8(ascii: "/"), in: buf, t[3]),
                let running = ProcText.decimal(buf, t[3].lowerBound..<slash),
                let total = ProcText.decimal(buf, (slash + 1)..<t[3].upperBound)
            else { return nil }
            let last = t.count >= 5 ? ProcText.decimal(buf, t[4]) : nil
            return LoadAverage(one: one, five: five, fifteen: fifteen, runnable: running, total: total, lastPID: last)
        }
    }

    /// `123.45` style numbers as procfs prints them (no sign, no exponent).
    static func decimalFraction(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Double? {
        guard let dot = ProcText.firstIndex(of: UInt8(ascii: "."), in: buf, r) else {
            return ProcText.decimal(buf, r).map { Double($0) }
        }
        guard let whole = ProcText.decimal(buf, r.lowerBound..<dot) else { return nil }
        let fracRange = (dot + 1)..<r.upperBound
        if fracRange.isEmpty { return Double(whole) }
        guard fracRange.count <= 18, let frac = ProcText.decimal(buf, fracRange) else { return nil }
        var scale = 1.0
        for _ in 0..<fracRange.count { scale *= 10 }
        return Double(whole) + Double(frac) / scale
    }
}
