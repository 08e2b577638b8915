/// Parser for `/proc/<pid>/comm` and `/proc/<pid>/task/<tid>/comm`.
public enum CommParser {
    /// The task name: up to 15 bytes (`TASK_COMM_LEN` 16 with the NUL) followed by a newline, which is removed.
    /// Only that one newline goes: a name may itself end with spaces. Empty input gives nil.
    public static func parse(_ bytes: [UInt8]) -> String? {
        if bytes.isEmpty { return nil }
        var end = bytes.count
        if bytes[end - 1] == ProcText.newline { end -= 1 }
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }
}
