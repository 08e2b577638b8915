/// The thread ids of a process, from a listing of `/proc/<pid>/task`.
public struct ThreadList: Sendable, Hashable {
    /// Thread ids in listing order.
    public var threadIDs: [Int32]
    /// Names that are not thread ids (not counted as threads).
    public var skippedLines: Int

    /// Creates a value.
    public init(threadIDs: [Int32] = [], skippedLines: Int = 0) {
        self.threadIDs = threadIDs
        self.skippedLines = skippedLines
    }
}

/// Parser for a `dir` capture of `/proc/<pid>/task`: entry names one per line, each a thread id.
public enum TaskListParser {
    /// The thread ids; `.` and `..` are ignored, other non-numeric names counted as skipped.
    public static func parse(_ bytes: [UInt8]) -> ThreadList {
        bytes.withUnsafeBufferPointer { buf in
            var list = ThreadList()
            DirectoryListing.forEachEntry(buf) { r in
                if let v = ProcText.decimal(buf, r), v > 0, v <= UInt64(Int32.max) {
                    list.threadIDs.append(Int32(v))
                } else {
                    list.skippedLines += 1
                }
            }
            return list
        }
    }
}
