/// Parser for files that hold one unsigned number and a newline: `sys/kernel/threads-max`, `sys/kernel/pid_max`,
/// `sys/vm/max_map_count`, cgroup `pids.current`.
public enum NumberFileParser {
    /// The number; nil for empty input or anything else than one unsigned decimal (surrounding blanks allowed).
    public static func parse(_ bytes: [UInt8]) -> UInt64? {
        bytes.withUnsafeBufferPointer { buf in
            ProcText.decimal(buf, ProcText.trimmed(buf, 0..<buf.count))
        }
    }
}
