import FieldModel

/// One row of `/proc/kernel/objects`: a kernel object pool.
public struct KernelObjectPool: Sendable, Hashable {
    /// Row name as printed: `thread`, `event`, `msgqueue`, ... (unknown names are kept).
    public var name: String
    /// Compile-time pool size.
    public var total: UInt64
    /// In use now.
    public var used: UInt64
    /// Peak since boot, never reset: `maxUsed == total` means creation calls failed at least once.
    public var maxUsed: UInt64

    /// Creates a row.
    public init(name: String, total: UInt64, used: UInt64, maxUsed: UInt64) {
        self.name = name
        self.total = total
        self.used = used
        self.maxUsed = maxUsed
    }
}

/// `/proc/kernel/objects`, parsed.
public struct KernelObjects: Sendable, Hashable {
    /// Pools in printed order.
    public var pools: [KernelObjectPool]
    /// Lines that were neither the header nor a well-formed row.
    public var skippedLines: Int
    /// The first of them, as printed (cut to `UnusableValue.textLimit` bytes).
    public var firstSkippedLine: String?

    /// The pool with this name.
    public func pool(_ name: String) -> KernelObjectPool? { pools.first { $0.name == name } }
}

/// Parser for `/proc/kernel/objects` (fs/procFs/procKernel/procKernel.c): a header `object total used max-used`
/// then rows printed `"%-12s%-9d%-9d%d\n"`, present only for the kernel options that are on.
///
/// Rows are split on blanks rather than by column: a name of 12 characters or more runs into the next column
/// without a space, so such a row is recognised by its three trailing numbers.
public enum KernelObjectsParser {
    /// Parses the file; damaged lines are counted and skipped, the rest kept.
    public static func parse(_ bytes: [UInt8]) -> KernelObjects {
        var pools: [KernelObjectPool] = []
        var skipped = 0
        var first: String?
        for raw in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
            let fields = raw.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }).map { String(decoding: $0, as: UTF8.self) }
            if fields.isEmpty { continue }
            if fields.first == "object" && fields.contains("total") { continue }  // the header
            // "%-9d": each number is an int, and a count is never negative.
            func count(_ s: String) -> UInt64? { UInt64(s).flatMap { $0 <= UInt64(Int32.max) ? $0 : nil } }
            guard fields.count >= 4,
                  let total = count(fields[fields.count - 3]), let used = count(fields[fields.count - 2]),
                  let maxUsed = count(fields[fields.count - 1])
            else {
                skipped += 1
                if first == nil { first = UnusableValue(path: "", field: "", bytes: raw).text }
                continue
            }
            let name = fields[0..<(fields.count - 3)].joined(separator: " ")
            pools.append(KernelObjectPool(name: name, total: total, used: used, maxUsed: maxUsed))
        }
        return KernelObjects(pools: pools, skippedLines: skipped, firstSkippedLine: first)
    }
}

/// `/proc/<pid>/mem`: `static memory : N Bytes` and the heap, mmap and total lines (no newline after the last).
public struct ProcessMemory: Sendable, Hashable {
    /// Static (program image) bytes.
    public var staticBytes: UInt64?
    /// Heap bytes.
    public var heapBytes: UInt64?
    /// mmap bytes.
    public var mmapBytes: UInt64?
    /// Total bytes.
    public var totalBytes: UInt64?
    /// Lines whose key is one of the above but whose value is not a number of bytes that fits 64 bits.
    public var unusable: [UnusableValue] = []

    /// Parses the file; missing lines stay nil.
    public static func parse(_ bytes: [UInt8]) -> ProcessMemory {
        var m = ProcessMemory()
        for raw in bytes.split(separator: 0x0A) {
            let line = String(decoding: raw, as: UTF8.self)
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters()
            let text = line[line.index(after: colon)...]
            let value = UInt64(text.split(separator: " ").first ?? "")
            switch key {
            case "static memory": m.staticBytes = value
            case "heap memory": m.heapBytes = value
            case "mmap memory": m.mmapBytes = value
            case "total memory": m.totalBytes = value
            default: continue
            }
            if value == nil { m.unusable.append(UnusableValue(path: "", field: key, bytes: text.utf8.drop { $0 == 0x20 })) }
        }
        return m
    }
}

/// `/proc/<pid>/filedesc`: header `FD NAME`, then one row per open descriptor.
public enum FiledescParser {
    /// Number of open descriptors (rows after the header).
    public static func count(_ bytes: [UInt8]) -> Int {
        bytes.split(separator: 0x0A).filter { row in
            guard let first = row.first else { return false }
            return first >= 0x30 && first <= 0x39
        }.count
    }
}

/// `/proc/kernel/affinity` (SMP builds): the only thread list in SylixOS procfs.
public struct SylixThread: Sendable, Hashable {
    /// Thread name.
    public var name: String
    /// Thread id (printed in hex).
    public var tid: UInt64
    /// Owning process.
    public var pid: Int32

    /// Creates a thread entry.
    public init(name: String, tid: UInt64, pid: Int32) {
        self.name = name
        self.tid = tid
        self.pid = pid
    }
}

/// The thread list of `/proc/kernel/affinity`.
public struct SylixThreadList: Sendable, Hashable {
    /// The threads, in printed order.
    public var threads: [SylixThread] = []
    /// Rows (lines after the header and the dashes) whose numbers did not parse.
    public var skippedLines = 0
    /// The first of them, as printed (cut to `UnusableValue.textLimit` bytes).
    public var firstSkippedLine: String?
}

/// Parser for `/proc/kernel/affinity`: header, dashes, rows `"%-16s %7lx %5d %3d\n"` (or with `  *`).
public enum AffinityParser {
    /// The threads; the name is everything before the last three fields (names may contain spaces).
    public static func parse(_ bytes: [UInt8]) -> [SylixThread] { list(bytes).threads }

    /// The threads, and the rows that did not parse.
    public static func list(_ bytes: [UInt8]) -> SylixThreadList {
        var out = SylixThreadList()
        for raw in bytes.split(separator: 0x0A) {
            let line = String(decoding: raw, as: UTF8.self)
            var fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if fields.isEmpty || fields[0] == "NAME" || fields[0].hasPrefix("-") { continue }  // header, dashes
            // The CPU column is a number, or `*` for a thread bound to no CPU.
            guard let cpu = fields.popLast(), cpu == "*" || Int(cpu) != nil, fields.count >= 3,
                  let pid = Int32(fields[fields.count - 1]), let tid = UInt64(fields[fields.count - 2], radix: 16)
            else {
                out.skippedLines += 1
                if out.firstSkippedLine == nil { out.firstSkippedLine = UnusableValue(path: "", field: "", bytes: raw).text }
                continue
            }
            out.threads.append(SylixThread(name: fields[0..<(fields.count - 2)].joined(separator: " "), tid: tid, pid: pid))
        }
        return out
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
