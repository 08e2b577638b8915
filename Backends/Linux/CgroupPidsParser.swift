/// The cgroup v2 `pids.max` value: a ceiling on the tasks (threads) in the cgroup, e.g. systemd's `TasksMax`.
public enum PidsMax: Sendable, Hashable {
    /// `max`: no limit of its own (an ancestor's may still apply).
    case unlimited
    /// At most this many tasks.
    case limit(UInt64)

    /// The limit, nil when unlimited.
    public var value: UInt64? {
        if case .limit(let n) = self { return n }
        return nil
    }
}

/// Parser for the cgroup v2 pids controller files (kernel/cgroup/pids.c).
public enum CgroupPidsParser {
    /// `pids.max`: `max` or a number; nil when neither.
    public static func parseMax(_ bytes: [UInt8]) -> PidsMax? {
        bytes.withUnsafeBufferPointer { buf in
            let r = ProcText.trimmed(buf, 0..<buf.count)
            if ProcText.equals(buf, r, "max") { return .unlimited }
            return ProcText.decimal(buf, r).map { .limit($0) }
        }
    }

    /// `pids.current`: tasks in the cgroup now; nil when not a number.
    public static func parseCurrent(_ bytes: [UInt8]) -> UInt64? {
        NumberFileParser.parse(bytes)
    }
}
