/// One line of a PSI file: the share of wall time tasks were stalled, and the total stall time.
public struct PressureStall: Sendable, Hashable {
    /// Percent of the last 10 s.
    public var avg10: Double?
    /// Percent of the last 60 s.
    public var avg60: Double?
    /// Percent of the last 300 s.
    public var avg300: Double?
    /// Total stall time since boot, microseconds.
    public var totalMicroseconds: UInt64?

    /// Creates a value.
    public init(avg10: Double? = nil, avg60: Double? = nil, avg300: Double? = nil, totalMicroseconds: UInt64? = nil) {
        self.avg10 = avg10
        self.avg60 = avg60
        self.avg300 = avg300
        self.totalMicroseconds = totalMicroseconds
    }
}

/// The parsed `/proc/pressure/memory` (or `cpu`, `io`): pressure stall information, 4.20+.
public struct Pressure: Sendable, Hashable {
    /// `some`: at least one task stalled.
    public var some: PressureStall?
    /// `full`: all non-idle tasks stalled at once (absent for cpu before 5.13).
    public var full: PressureStall?
    /// Lines that were neither `some` nor `full`.
    public var skippedLines: Int

    /// Creates a value.
    public init(some: PressureStall? = nil, full: PressureStall? = nil, skippedLines: Int = 0) {
        self.some = some
        self.full = full
        self.skippedLines = skippedLines
    }
}

/// Parser for the PSI files (kernel/sched/psi.c: `some avg10=%lu.%02lu avg60=... avg300=... total=%llu`).
public enum PressureParser {
    /// Parses the whole file; the `key=value` pairs are read by name.
    public static func parse(_ bytes: [UInt8]) -> Pressure {
        bytes.withUnsafeBufferPointer { buf in
            var p = Pressure()
            ProcText.forEachLine(buf) { line in
                let t = ProcText.tokens(buf, line)
                guard let kind = t.first else { return }
                var stall = PressureStall()
                for pair in t.dropFirst() {
                    guard let eq = ProcText.firstIndex(of: UInt8(ascii: "="), in: buf, pair) else { continue }
                    let key = pair.lowerBound..<eq
                    let value = (eq + 1)..<pair.upperBound
                    if ProcText.equals(buf, key, "avg10") {
                        stall.avg10 = LoadavgParser.decimalFraction(buf, value)
                    } else if ProcText.equals(buf, key, "avg60") {
                        stall.avg60 = LoadavgParser.decimalFraction(buf, value)
                    } else if ProcText.equals(buf, key, "avg300") {
                        stall.avg300 = LoadavgParser.decimalFraction(buf, value)
                    } else if ProcText.equals(buf, key, "total") {
                        stall.totalMicroseconds = ProcText.decimal(buf, value)
                    }
                }
                if ProcText.equals(buf, kind, "some") {
                    p.some = stall
                } else if ProcText.equals(buf, kind, "full") {
                    p.full = stall
                } else {
                    p.skippedLines += 1
                }
            }
            return p
        }
    }
}
