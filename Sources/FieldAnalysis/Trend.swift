/// A robust trend: Theil-Sen (the median of all pairwise slopes), which shrugs off outliers and steps that a
/// least-squares line would follow.
public struct Trend: Sendable {
    /// Change per second.
    public var slopePerSecond: Double
    /// First and last values.
    public var first: Double
    /// See `first`.
    public var last: Double
    /// Time from first to last point, seconds.
    public var spanSeconds: Double
    /// Share of consecutive steps that went up (1 for steady growth, about 0 for a one-time jump).
    public var risingShare: Double

    /// Per hour, for reports.
    public var slopePerHour: Double { slopePerSecond * 3600 }

    /// The trend of `(time in seconds, value)` points; nil with fewer than 3.
    public init?(_ points: [(t: Double, v: Double)]) {
        guard points.count >= 3 else { return nil }
        // Subsample evenly beyond 400 points: the pairwise median stays robust and O(n^2) stays cheap.
        let p = points.count > 400 ? stride(from: 0, to: points.count, by: points.count / 400 + 1).map { points[$0] } + [points.last!] : points
        var slopes: [Double] = []
        slopes.reserveCapacity(p.count * (p.count - 1) / 2)
        for i in 0..<p.count {
            for j in (i + 1)..<p.count where p[j].t > p[i].t {
                slopes.append((p[j].v - p[i].v) / (p[j].t - p[i].t))
            }
        }
        guard !slopes.isEmpty else { return nil }
        slopes.sort()
        let mid = slopes.count / 2
        slopePerSecond = slopes.count % 2 == 1 ? slopes[mid] : (slopes[mid - 1] + slopes[mid]) / 2
        first = points.first!.v
        last = points.last!.v
        spanSeconds = points.last!.t - points.first!.t
        let steps = zip(points, points.dropFirst())
        risingShare = Double(steps.filter { $1.v > $0.v }.count) / Double(points.count - 1)
    }

    /// Seconds until `limit` is reached at this slope; nil when not growing.
    public func secondsUntil(_ limit: Double) -> Double? {
        guard slopePerSecond > 0 else { return nil }
        return max(0, (limit - last) / slopePerSecond)
    }
}
