/// A rank-based trend test: the Mann-Kendall statistic for "does it keep rising", and Sen's slope (the median of
/// all pairwise slopes) with its confidence interval. Both depend on the order of values only, so outliers and
/// one-time steps move them little.
public struct TrendTest: Sendable {
    /// Points tested.
    public var n: Int
    /// Time from the first to the last point, seconds.
    public var spanSeconds: Double
    /// Sen's slope, per second (0 when |z| <= 1: no trend either way).
    public var slope: Double
    /// The 95 % confidence interval of the slope, per second.
    public var slopeLow: Double
    /// See `slopeLow`.
    public var slopeHigh: Double
    /// The Mann-Kendall statistic, normalised (continuity-corrected, ties accounted for): above 2.33 the rise is
    /// significant at 1 % one-sided, below -2.33 the fall.
    public var z: Double
    /// The first and last values.
    public var first: Double
    /// See `first`.
    public var last: Double

    /// The most points the O(n²) statistics look at; longer series are thinned evenly (first and last kept).
    public static let maxPoints = 240

    /// The test of `points` in time order; nil with fewer than 4 points or no time span.
    public init?(_ points: [(t: Double, v: Double)]) {
        guard points.count >= 4, let f = points.first, let l = points.last, l.t > f.t else { return nil }
        var p = points
        if p.count > Self.maxPoints {
            let step = Double(p.count - 1) / Double(Self.maxPoints - 1)
            p = (0..<Self.maxPoints).map { points[Int((Double($0) * step).rounded())] }
        }
        let n = p.count
        var s = 0
        let ts = p.map(\.t), vs = p.map(\.v)
        for i in 0..<n {
            let vi = vs[i]
            for j in (i + 1)..<n { s += vs[j] > vi ? 1 : (vs[j] < vi ? -1 : 0) }
        }
        // Variance of S under "no trend", less the share of tied groups.
        var variance = Double(n * (n - 1) * (2 * n + 5))
        let sortedValues = p.map(\.v).sorted()
        var i = 0
        while i < n {
            var j = i
            while j + 1 < n && sortedValues[j + 1] == sortedValues[i] { j += 1 }
            let t = Double(j - i + 1)
            if t > 1 { variance -= t * (t - 1) * (2 * t + 5) }
            i = j + 1
        }
        variance /= 18
        let sd = variance > 0 ? variance.squareRoot() : 0
        z = sd > 0 ? (s > 0 ? Double(s - 1) / sd : (s < 0 ? Double(s + 1) / sd : 0)) : 0
        // The slopes (n² of them, sorted) only when they can matter: without a trend either way (|z| <= 1) the
        // slope and its interval are 0.
        var slopes: [Double] = []
        if abs(z) > 1 {
            slopes.reserveCapacity(n * (n - 1) / 2)
            for i in 0..<n {
                for j in (i + 1)..<n where ts[j] > ts[i] { slopes.append((vs[j] - vs[i]) / (ts[j] - ts[i])) }
            }
            slopes.sort()
        } else {
            slopes = [0]
        }
        let m = slopes.count
        slope = m % 2 == 1 ? slopes[m / 2] : (slopes[m / 2 - 1] + slopes[m / 2]) / 2
        let c = 1.96 * sd
        let lower = Int(((Double(m) - c) / 2).rounded(.down)) - 1
        let upper = Int(((Double(m) + c) / 2).rounded(.up))
        slopeLow = slopes[min(max(0, lower), m - 1)]
        slopeHigh = slopes[min(max(0, upper), m - 1)]
        self.n = n
        spanSeconds = l.t - f.t
        first = f.v
        last = l.v
    }

    /// Per hour, for reports.
    public var slopePerHour: Double { slope * 3600 }
}

/// Whether a series grows like a leak: significantly, over a sustained span, and still at the end of what was
/// observed (a warm-up ramp or a cache that fills and then stays flat is not a leak).
public struct Growth: Sendable {
    /// The test over the whole series.
    public var whole: TrendTest
    /// The test over its last third (at least 4 points): is it still rising?
    public var late: TrendTest?
    /// Raw change from the first point to the last.
    public var change: Double
    /// How many stored steps rise.
    public var rises: Int
    /// The largest rise between two stored points.
    public var largestStep: Double

    /// The evaluation of `series`; nil when it has too few points to say anything.
    public init?(_ series: Series) {
        let p = series.points
        guard let w = TrendTest(p) else { return nil }
        whole = w
        let tail = max(4, p.count / 3)
        late = p.count >= tail + 2 ? TrendTest(Array(p.suffix(tail))) : nil
        change = (series.last?.v ?? 0) - (series.first?.v ?? 0)
        var r = 0
        var big = 0.0
        for (a, b) in zip(p, p.dropFirst()) where b.v > a.v {
            r += 1
            big = max(big, b.v - a.v)
        }
        rises = r
        largestStep = big
    }

    /// Rises at least five times, and no single step makes half of the whole rise: sustained growth, not a
    /// one-time allocation or a few uploads' buffers.
    public var spread: Bool { rises >= 5 && (change <= 0 || largestStep < 0.5 * change) }

    /// The whole series rises significantly (1 % one-sided) and its slope's interval lies above zero.
    public var significant: Bool { whole.z >= 2.33 && whole.slopeLow > 0 }

    /// Its last third still rises (5 % one-sided) at a good part of the overall rate: no plateau.
    public var stillRising: Bool {
        guard let l = late else { return false }
        return l.z >= 1.64 && l.slope > 0 && l.slope >= 0.25 * whole.slope
    }
}

/// How sure a finding is, from its statistics and how long the evidence runs.
public enum Confidence: String, Sendable, Codable, Comparable {
    /// Significant and still rising, but over a short span or few points: worth a look, not yet a verdict.
    case low
    /// Significant, sustained, still rising.
    case medium
    /// Strongly significant, sustained over half an hour or more, still rising; or static evidence beyond doubt.
    case high

    public static func < (a: Confidence, b: Confidence) -> Bool {
        let order: [Confidence] = [.low, .medium, .high]
        return order.firstIndex(of: a)! < order.firstIndex(of: b)!
    }
}
