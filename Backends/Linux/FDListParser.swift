/// Parser for a `dir` capture of `/proc/<pid>/fd`: one entry per open descriptor.
public enum FDListParser {
    /// The number of open descriptors: entries in the listing, without `.`, `..` and blank lines.
    public static func count(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { buf in
            var n = 0
            DirectoryListing.forEachEntry(buf) { _ in n += 1 }
            return n
        }
    }
}

/// Reading the `dir` captures the agent makes: entry names, one per line, in the order the OS listed them.
enum DirectoryListing {
    /// Calls `body` with each entry name's range, skipping blank lines, `.` and `..`.
    static func forEachEntry(_ buf: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        ProcText.forEachLine(buf) { line in
            let r = ProcText.trimmed(buf, line)
            if r.isEmpty || ProcText.equals(buf, r, ".") || ProcText.equals(buf, r, "..") { return }
            body(r)
        }
    }
}
