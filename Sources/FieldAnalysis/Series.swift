/// One value over time, in bounded memory: exact first, last, minimum and maximum, and a reservoir of at most
/// `capacity` points for trends and charts.
///
/// While the reservoir has room every point is kept. When it fills, neighbouring points are merged in pairs
/// (their mean time and mean value), and from then on each new stored point is the mean of as many raw points as
/// each old one now stands for, so the reservoir stays evenly spread over the whole history however long it
/// runs. A rank-based trend on the reservoir is the trend of the history at a coarser step.
public struct Series: Sendable, Codable {
    /// One raw point.
    public struct Point: Sendable, Codable, Equatable {
        /// Time, seconds.
        public var t: Double
        /// Value.
        public var v: Double
    }

    /// The most points kept (even, at least 16).
    public private(set) var capacity: Int
    /// Stored times, seconds, ascending.
    public private(set) var times: [Double] = []
    /// Stored values, one per time.
    public private(set) var values: [Double] = []
    /// Raw points seen.
    public private(set) var count = 0
    /// The first raw point (earliest time).
    public private(set) var first: Point?
    /// The last raw point (latest time).
    public private(set) var last: Point?
    /// Smallest raw value.
    public private(set) var minimum = Double.infinity
    /// Largest raw value.
    public private(set) var maximum = -Double.infinity
    /// Raw points per stored point (a power of two).
    public private(set) var stride = 1
    var pendingT = 0.0, pendingV = 0.0, pendingN = 0

    /// Points a series keeps unless told otherwise: enough for trends and charts, 16 KiB per series.
    public static let defaultCapacity = 1024

    /// An empty series keeping at most `capacity` points.
    public init(capacity: Int = Series.defaultCapacity) { self.capacity = max(16, capacity & ~1) }

    /// Whether nothing was added.
    public var isEmpty: Bool { count == 0 }

    /// Adds a point. Points may come out of time order (bundles read in any order); they are stored in order.
    public mutating func append(_ t: Double, _ v: Double) {
        guard t.isFinite, v.isFinite else { return }
        count += 1
        if first == nil || t < first!.t { first = Point(t: t, v: v) }
        if last == nil || t >= last!.t { last = Point(t: t, v: v) }
        minimum = min(minimum, v)
        maximum = max(maximum, v)
        if stride > 1 {
            pendingT += t
            pendingV += v
            pendingN += 1
            guard pendingN == stride else { return }
            store(pendingT / Double(stride), pendingV / Double(stride))
            pendingT = 0; pendingV = 0; pendingN = 0
        } else {
            store(t, v)
        }
    }

    mutating func store(_ t: Double, _ v: Double) {
        if let lt = times.last, t < lt {
            // Out of order: insert in place (binary search).
            var lo = 0, hi = times.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if times[mid] <= t { lo = mid + 1 } else { hi = mid }
            }
            times.insert(t, at: lo)
            values.insert(v, at: lo)
        } else {
            times.append(t)
            values.append(v)
        }
        if times.count >= capacity { halve() }
    }

    /// Keeps at most `smaller` points from now on (merging neighbours as when it fills); first, last, minimum and
    /// maximum stay exact.
    public mutating func shrink(to smaller: Int) {
        let c = max(16, smaller & ~1)
        guard c < capacity else { return }
        capacity = c
        while times.count >= capacity { halve() }
    }

    mutating func halve() {
        let n = times.count / 2
        for i in 0..<n {
            times[i] = (times[2 * i] + times[2 * i + 1]) / 2
            values[i] = (values[2 * i] + values[2 * i + 1]) / 2
        }
        if times.count % 2 == 1 {
            times[n] = times[times.count - 1]
            values[n] = values[values.count - 1]
            times.removeLast(times.count - n - 1)
            values.removeLast(values.count - n - 1)
        } else {
            times.removeLast(n)
            values.removeLast(n)
        }
        stride *= 2
    }

    /// The stored points, plus the last raw point when it is not among them (charts end where the data ends).
    public var points: [(t: Double, v: Double)] {
        var out = Array(zip(times, values)).map { (t: $0.0, v: $0.1) }
        if let l = last, out.last.map({ $0.t < l.t }) ?? true { out.append((l.t, l.v)) }
        return out
    }

    /// Time from the first to the last raw point, seconds.
    public var spanSeconds: Double { (last?.t ?? 0) - (first?.t ?? 0) }
}
