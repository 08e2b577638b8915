/// Decides, per process, when its deep files are read.
///
/// Deep files are read when a process is first seen, at least every `every` intervals, and in between when one
/// of its cheap signals changed. A process whose deep read is expensive (60k mappings take the mmap lock for
/// tens of milliseconds) is held to a gap that keeps its deep reads under `budgetShare` of the interval, so a
/// leaking process whose size changes every interval is not walked every interval.
struct DeepSchedule {
    struct State {
        var lastDeep: UInt64
        var signals: [UInt64]
        var costNanos: UInt64
    }

    let every: UInt64
    let intervalNanos: UInt64
    let budgetShare = 0.05
    private(set) var states: [Int32: State] = [:]

    init(every: UInt32, intervalNanos: UInt64) {
        self.every = UInt64(every)
        self.intervalNanos = intervalNanos
    }

    /// Whether to read `pid`'s deep files in sample `seq`, given its cheap signals now.
    func wantsDeep(pid: Int32, seq: UInt64, signals: [UInt64]) -> Bool {
        guard let s = states[pid] else { return true }
        let since = seq - s.lastDeep
        if since >= every { return true }
        guard s.signals != signals else { return false }
        let minGap = max(1, UInt64((Double(s.costNanos) / (budgetShare * Double(intervalNanos))).rounded(.up)))
        return since >= min(minGap, every)
    }

    /// Records a deep read and what it cost.
    mutating func didDeep(pid: Int32, seq: UInt64, signals: [UInt64], costNanos: UInt64) {
        states[pid] = State(lastDeep: seq, signals: signals, costNanos: costNanos)
    }

    /// Forgets processes that are gone.
    mutating func keepOnly(_ live: Set<Int32>) {
        states = states.filter { live.contains($0.key) }
    }
}
