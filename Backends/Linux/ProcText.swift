import CFieldPlatform
import FieldModel


/// Byte-level scanning shared by the Linux parsers.
///
/// procfs prints ASCII numbers and keys; only names (paths, comm, slab names) may carry other bytes. The parsers
/// therefore work on byte ranges and make a `String` only for the names they keep. Every helper is total: an
/// out-of-shape range yields `nil` or an empty result, never a trap.
enum ProcText {
    static let newline = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")

    /// Space or tab: the kernel pads columns with spaces and separates `status` keys from values with a tab.
    @inline(__always)
    static func isBlank(_ b: UInt8) -> Bool { b == space || b == tab }

    /// Blank, line end (for whole-file values such as `pid_max`), carriage return, or the NUL some capture tools
    /// leave at the end of a file.
    @inline(__always)
    static func isPadding(_ b: UInt8) -> Bool { b == space || b == tab || b == newline || b == 0x0D || b == 0 }

    /// Calls `body` with each line's range (without its newline). A final line without newline counts; the empty
    /// "line" after a trailing newline does not.
    @inline(__always)
    static func forEachLine(_ buf: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        var start = 0
        let end = buf.count
        while start < end {
            let i = nextNewline(buf, from: start)
            body(start..<i)
            start = i + 1
        }
    }

    /// Index of the next newline at or after `from`, or `buf.count`. `memchr` scans many bytes per step, which
    /// matters for a maps file of 65k lines.
    @inline(__always)
    static func nextNewline(_ buf: UnsafeBufferPointer<UInt8>, from: Int) -> Int {
        guard let base = buf.baseAddress, from < buf.count else { return buf.count }
        guard let hit = memchr(base + from, Int32(newline), buf.count - from) else { return buf.count }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    /// Number of newlines in the buffer.
    static func countNewlines(_ buf: UnsafeBufferPointer<UInt8>) -> Int {
        var n = 0
        var i = nextNewline(buf, from: 0)
        while i < buf.count {
            n += 1
            i = nextNewline(buf, from: i + 1)
        }
        return n
    }

    /// The range without leading and trailing padding.
    @inline(__always)
    static func trimmed(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Range<Int> {
        var lo = r.lowerBound
        var hi = r.upperBound
        while lo < hi && isPadding(buf[lo]) { lo += 1 }
        while hi > lo && isPadding(buf[hi - 1]) { hi -= 1 }
        return lo..<hi
    }

    /// Whitespace-separated tokens of a range, in order.
    static func tokens(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = r.lowerBound
        let end = r.upperBound
        while i < end {
            while i < end && isPadding(buf[i]) { i += 1 }
            if i == end { break }
            let s = i
            while i < end && !isPadding(buf[i]) { i += 1 }
            out.append(s..<i)
        }
        return out
    }

    /// Unsigned decimal of the whole range; `nil` when empty, not all digits, or beyond `UInt64`.
    @inline(__always)
    static func decimal(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> UInt64? {
        if r.isEmpty { return nil }
        var v: UInt64 = 0
        for i in r {
            let d = buf[i] &- 0x30
            if d > 9 { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = a
        }
        return v
    }

    /// Signed decimal (optional leading `-` or `+`) of the whole range.
    static func signedDecimal(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Int64? {
        guard let first = r.first else { return nil }
        let negative = buf[first] == UInt8(ascii: "-")
        let digits = (negative || buf[first] == UInt8(ascii: "+")) ? (first + 1)..<r.upperBound : r
        guard let magnitude = decimal(buf, digits) else { return nil }
        if negative {
            if magnitude == UInt64(Int64.max) + 1 { return Int64.min }
            return magnitude <= UInt64(Int64.max) ? -Int64(magnitude) : nil
        }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    /// Hexadecimal (no `0x`) of the whole range; at most 16 digits.
    @inline(__always)
    static func hex(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> UInt64? {
        if r.isEmpty || r.count > 16 { return nil }
        var v: UInt64 = 0
        for i in r {
            guard let d = hexDigit(buf[i]) else { return nil }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    @inline(__always)
    static func hexDigit(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x61...0x66: return b - 0x61 + 10
        case 0x41...0x46: return b - 0x41 + 10
        default: return nil
        }
    }

    /// The bytes of a range as they go into a report of a value that could not be used (`UnusableValue`).
    static func excerpt(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> String {
        UnusableValue(path: "", field: "", bytes: UnsafeBufferPointer(rebasing: buf[r])).text
    }

    /// The bytes of a range as a String (invalid UTF-8 is repaired, not rejected).
    @inline(__always)
    static func string(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> String {
        if r.isEmpty { return "" }
        return String(decoding: UnsafeBufferPointer(rebasing: buf[r]), as: UTF8.self)
    }

    /// Whether the range is exactly the ASCII literal.
    @inline(__always)
    static func equals(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ literal: StaticString) -> Bool {
        r.count == literal.utf8CodeUnitCount && hasPrefix(buf, r, literal)
    }

    /// Whether the range starts with the ASCII literal.
    @inline(__always)
    static func hasPrefix(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        if r.count < n { return false }
        let p = literal.utf8Start
        for k in 0..<n where buf[r.lowerBound + k] != p[k] { return false }
        return true
    }

    /// Whether the range ends with the ASCII literal.
    @inline(__always)
    static func hasSuffix(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        if r.count < n { return false }
        let p = literal.utf8Start
        let base = r.upperBound - n
        for k in 0..<n where buf[base + k] != p[k] { return false }
        return true
    }

    /// First index of `byte` in the range.
    @inline(__always)
    static func firstIndex(of byte: UInt8, in buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Int? {
        var i = r.lowerBound
        while i < r.upperBound {
            if buf[i] == byte { return i }
            i += 1
        }
        return nil
    }

    /// Last index of `byte` in the range.
    @inline(__always)
    static func lastIndex(of byte: UInt8, in buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Int? {
        var i = r.upperBound
        while i > r.lowerBound {
            i -= 1
            if buf[i] == byte { return i }
        }
        return nil
    }

    /// Start of the last occurrence of the literal in the range.
    static func lastRange(of literal: StaticString, in buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Range<Int>?
    {
        let n = literal.utf8CodeUnitCount
        if n == 0 || r.count < n { return nil }
        var s = r.upperBound - n
        while s >= r.lowerBound {
            if hasPrefix(buf, s..<r.upperBound, literal) { return s..<(s + n) }
            s -= 1
        }
        return nil
    }

    /// Start of the first occurrence of the literal in the range.
    static func firstRange(of literal: StaticString, in buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Range<Int>?
    {
        let n = literal.utf8CodeUnitCount
        if n == 0 || r.count < n { return nil }
        var s = r.lowerBound
        while s + n <= r.upperBound {
            if hasPrefix(buf, s..<r.upperBound, literal) { return s..<(s + n) }
            s += 1
        }
        return nil
    }

    /// `value * 1024` for the `kB` unit procfs uses (it means KiB: the kernel shifts pages by `PAGE_SHIFT - 10`).
    @inline(__always)
    static func kibibytes(_ value: UInt64) -> UInt64? {
        let (v, overflow) = value.multipliedReportingOverflow(by: 1024)
        return overflow ? nil : v
    }

    /// A number followed by an optional `kB` unit (`"  1234 kB"`), in bytes when the unit is there.
    static func quantity(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> (value: UInt64, unit: ValueUnit)? {
        let t = tokens(buf, r)
        guard let first = t.first, let n = decimal(buf, first) else { return nil }
        if t.count == 1 { return (n, .count) }
        if t.count == 2 && (equals(buf, t[1], "kB") || equals(buf, t[1], "KB") || equals(buf, t[1], "kb")) {
            guard let bytes = kibibytes(n) else { return nil }
            return (bytes, .bytes)
        }
        return nil
    }
}
