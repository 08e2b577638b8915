/// System-wide file handle counts from `/proc/sys/fs/file-nr`.
public struct FileHandleCounts: Sendable, Hashable {
    /// Allocated file handles.
    public var allocated: UInt64
    /// Allocated but unused handles (always 0 since 2.6).
    public var unused: UInt64
    /// The system maximum (`fs.file-max`).
    public var maximum: UInt64

    /// Creates a value.
    public init(allocated: UInt64, unused: UInt64, maximum: UInt64) {
        self.allocated = allocated
        self.unused = unused
        self.maximum = maximum
    }
}

/// Parser for `/proc/sys/fs/file-nr` (fs/file_table.c: three numbers separated by tabs).
public enum FileNrParser {
    /// The three counts; nil unless the file holds three unsigned numbers.
    public static func parse(_ bytes: [UInt8]) -> FileHandleCounts? {
        bytes.withUnsafeBufferPointer { buf in
            let t = ProcText.tokens(buf, 0..<buf.count)
            guard t.count == 3, let a = ProcText.decimal(buf, t[0]), let u = ProcText.decimal(buf, t[1]),
                let m = ProcText.decimal(buf, t[2])
            else { return nil }
            return FileHandleCounts(allocated: a, unused: u, maximum: m)
        }
    }
}
