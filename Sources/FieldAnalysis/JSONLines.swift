import FieldBundle

#if canImport(Glibc)
import Glibc
#endif

/// Renders decoded bundles as JSON lines, the format `fieldctl decode --format jsonl` prints and
/// `tools/fieldbundle.py` reproduces byte for byte (docs/bundle-format.md, "JSON lines").
///
/// Rules both implementations follow: object keys in stream order (a repeated key keeps its first position and
/// takes its last value), byte strings as `{"utf8": text}` when valid UTF-8 and `{"base64": text}` otherwise,
/// tags replaced by their content, `undefined` as null, no spaces, only `"`, `\`, and control characters escaped.
public enum JSONLines {
    /// The opening line of a bundle.
    public static func bundleLine(path: String, size: UInt64?, format: FormatVersion?) -> String {
        var s = "{\"bundle\":"
        appendString(path, to: &s)
        s += ",\"size\":" + (size.map { String($0) } ?? "null")
        s += ",\"format\":" + (format.map { "\"\($0)\"" } ?? "null") + "}"
        return s
    }

    /// One record line.
    public static func recordLine(_ r: RawRecord) -> String {
        recordLine(r, payload: try? CBORDecoder.decode(r.payload))
    }

    /// One record line with an already decoded (or resolved) payload; nil prints as null (malformed).
    public static func recordLine(_ r: RawRecord, payload: CBORValue?) -> String {
        var s = "{\"record\":\(r.index),\"offset\":\(r.offset),\"type\":"
        appendString(r.type.name, to: &s)
        s += ",\"length\":\(r.payload.count),\"payload\":"
        if let v = payload { append(v, to: &s) } else { s += "null" }
        s += "}"
        return s
    }

    /// `decode --resolve`: prints a sample entry stored as a reference to its previous capture (status `same`,
    /// format 1.1) as that capture, i.e. as a writer without references would have stored it. One per bundle, fed
    /// every record in order. Only the `files` array as printed is rewritten (for a repeated key, the last value);
    /// a reference that cannot be resolved is printed as stored.
    public struct Resolver {
        private var window: UInt64 = 0
        private var last: [String: (entry: CBORValue, sample: UInt64)] = [:]
        private var samples: UInt64 = 0

        /// A resolver for one bundle.
        public init() {}

        /// The payload to print for `r`: decoded, and for samples resolved; nil when malformed.
        public mutating func payload(_ r: RawRecord) -> CBORValue? {
            guard let v = try? CBORDecoder.decode(r.payload) else { return nil }
            guard case .map(var pairs) = v else { return v }
            if r.type == .header {
                window = v["same_window"]?.uint64 ?? 0
                return v
            }
            guard r.type == .sample else { return v }
            defer { samples += 1 }
            guard let at = pairs.lastIndex(where: { $0.key == .text("files") }), case .array(var files) = pairs[at].value else {
                return v
            }
            for i in files.indices {
                let entry = files[i]
                guard case .map = entry, case .text(let path)? = Self.last(entry, "path") else { continue }
                let status = Self.last(entry, "status")
                if status == .text("same") {
                    if let l = last[path], samples - l.sample <= window, Self.kind(l.entry) == Self.kind(entry) {
                        files[i] = l.entry
                        last[path] = (l.entry, samples)
                    } else {
                        last[path] = nil
                    }
                } else if status == .text("ok") {
                    last[path] = (entry, samples)
                } else {
                    last[path] = nil
                }
            }
            pairs[at].value = .array(files)
            return .map(pairs)
        }

        /// The value printed for `key`: the last of repeated keys, as the JSON rendering shows it.
        private static func last(_ m: CBORValue, _ key: String) -> CBORValue? {
            guard case .map(let pairs) = m else { return nil }
            return pairs.last { $0.key == .text(key) }?.value
        }

        private static func kind(_ entry: CBORValue) -> String {
            if case .text(let k)? = last(entry, "kind") { return k }
            return "file"
        }
    }

    /// The closing line of a bundle: how many records, whether it was complete, and its damage.
    public static func resultLine(path: String, records: Int, complete: Bool, damage: Damage?) -> String {
        var s = "{\"result\":"
        appendString(path, to: &s)
        s += ",\"records\":\(records),\"complete\":\(complete),\"damage\":"
        if let d = damage {
            s += "{\"kind\":\"\(d.kind.rawValue)\",\"records\":\(d.records),\"offset\":\(d.offset)}"
        } else {
            s += "null"
        }
        s += "}"
        return s
    }

    /// Appends the JSON form of a CBOR value.
    public static func append(_ v: CBORValue, to s: inout String) {
        switch v {
        case .unsigned(let n): s += String(n)
        case .negative(let n): s += n == UInt64.max ? "-18446744073709551616" : "-" + String(n + 1)
        case .text(let t): appendString(t, to: &s)
        case .bytes(let b):
            if let t = String(validating: b, as: UTF8.self) {
                s += "{\"utf8\":"
                appendString(t, to: &s)
            } else {
                s += "{\"base64\":\"" + Base64.encode(b) + "\""
            }
            s += "}"
        case .array(let a):
            s += "["
            for (i, e) in a.enumerated() {
                if i > 0 { s += "," }
                append(e, to: &s)
            }
            s += "]"
        case .map(let pairs):
            // Keep first positions, last values: what a dictionary-based decoder produces. Keys are told apart by
            // their bytes, as Python's dictionary and the direct path do: Swift's String equality would merge
            // canonically equivalent keys ("é" precomposed and "e" + U+0301), printing one key where they print two.
            var order: [(key: String, value: CBORValue)] = []
            var position: [[UInt8]: Int] = [:]
            for (k, val) in pairs {
                let key = k.string ?? ""
                if let i = position[Array(key.utf8)] {
                    order[i].value = val
                } else {
                    position[Array(key.utf8)] = order.count
                    order.append((key, val))
                }
            }
            s += "{"
            for (i, entry) in order.enumerated() {
                if i > 0 { s += "," }
                appendString(entry.key, to: &s)
                s += ":"
                append(entry.value, to: &s)
            }
            s += "}"
        case .tagged(_, let inner): append(inner, to: &s)
        case .bool(let b): s += b ? "true" : "false"
        case .null, .undefined: s += "null"
        case .simple(let n): s += String(n)
        case .float(let d): s += d.isFinite ? String(d) : "null"
        }
    }

    /// Appends a JSON string literal.
    public static func appendString(_ t: String, to s: inout String) {
        s += "\""
        var plain = true
        for u in t.utf8 where u < 0x20 || u == 0x22 || u == 0x5C {
            plain = false
            break
        }
        if plain {
            s += t
        } else {
            for c in t.unicodeScalars {
                switch c {
                case "\"": s += "\\\""
                case "\\": s += "\\\\"
                case "\n": s += "\\n"
                case "\r": s += "\\r"
                case "\t": s += "\\t"
                case "\u{08}": s += "\\b"
                case "\u{0C}": s += "\\f"
                case let c where c.value < 0x20:
                    let hex = String(c.value, radix: 16)
                    s += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: s.unicodeScalars.append(c)
                }
            }
        }
        s += "\""
    }
}

/// Standard base64 with padding (RFC 4648 §4).
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Encodes bytes.
    public static func encode(_ b: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= b.count {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            out += [alphabet[Int(n >> 18)], alphabet[Int((n >> 12) & 63)], alphabet[Int((n >> 6) & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = b.count - i
        if rest == 1 {
            let n = UInt32(b[i]) << 16
            out += [alphabet[Int(n >> 18)], alphabet[Int((n >> 12) & 63)], 61, 61]
        } else if rest == 2 {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8
            out += [alphabet[Int(n >> 18)], alphabet[Int((n >> 12) & 63)], alphabet[Int((n >> 6) & 63)], 61]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension JSONLines {
    /// Appends `r`'s record line (with its newline) straight from the payload bytes, without a tree of values:
    /// the same text as `recordLine(r)`, at a fraction of the cost. Returns false, having appended nothing, for a
    /// payload outside the common layout (a repeated or non-text map key, an indefinite length, a float, more than
    /// 64 keys in a map, nesting past 64, or a malformed payload); the caller then prints `recordLine(r)`.
    public static func appendRecordLine(_ r: RawRecord, to out: inout [UInt8]) -> Bool {
        let mark = out.count
        appendASCII("{\"record\":", to: &out)
        appendDecimal(UInt64(r.index), to: &out)
        appendASCII(",\"offset\":", to: &out)
        appendDecimal(UInt64(r.offset), to: &out)
        appendASCII(",\"type\":", to: &out)
        var name = r.type.name
        name.withUTF8 { appendJSONString($0, to: &out) }
        appendASCII(",\"length\":", to: &out)
        appendDecimal(UInt64(r.payload.count), to: &out)
        appendASCII(",\"payload\":", to: &out)
        let ok = r.payload.withUnsafeBufferPointer { buf -> Bool in
            guard let base = buf.baseAddress else { return false }
            var w = DirectJSON(base: base, count: buf.count)
            return w.item(depth: 0, to: &out) && w.pos == buf.count
        }
        guard ok else {
            out.removeSubrange(mark...)
            return false
        }
        appendASCII("}\n", to: &out)
        return true
    }

    static func appendASCII(_ s: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    static func appendDecimal(_ v: UInt64, to out: inout [UInt8]) {
        if v < 10 { out.append(0x30 + UInt8(v)); return }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        var n = 0
        var x = v
        withUnsafeMutableBytes(of: &digits) { d in
            while x > 0 { d[n] = 0x30 + UInt8(x % 10); x /= 10; n += 1 }
            for k in stride(from: n - 1, through: 0, by: -1) { out.append(d[k]) }
        }
    }

    /// A JSON string literal of UTF-8 bytes known to be valid, escaped as `appendString` escapes.
    static func appendJSONString(_ b: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(0x22)
        var plain = true
        for u in b where u < 0x20 || u == 0x22 || u == 0x5C { plain = false; break }
        if plain {
            out.append(contentsOf: b)
        } else {
            for u in b {
                if u >= 0x20 && u != 0x22 && u != 0x5C { out.append(u); continue }
                out.append(0x5C)
                switch u {
                case 0x22, 0x5C: out.append(u)
                case 0x0A: out.append(0x6E)
                case 0x0D: out.append(0x72)
                case 0x09: out.append(0x74)
                case 0x08: out.append(0x62)
                case 0x0C: out.append(0x66)
                default: out += [0x75, 0x30, 0x30, hexDigits[Int(u >> 4)], hexDigits[Int(u & 15)]]
                }
            }
        }
        out.append(0x22)
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Whether bytes are valid UTF-8 (ASCII checked eight bytes at a time).
    static func isUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = b.count
        if let base = b.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= n {
                if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
                i += 8
            }
        }
        while i < n && b[i] < 0x80 { i += 1 }
        if i == n { return true }
        return String(validating: UnsafeBufferPointer(rebasing: b[i...]), as: UTF8.self) != nil
    }

    /// The CBOR-to-JSON walk of `appendRecordLine`.
    struct DirectJSON {
        let base: UnsafePointer<UInt8>
        let count: Int
        var pos = 0

        mutating func head() -> (major: UInt8, info: UInt8, value: UInt64)? {
            guard pos < count else { return nil }
            let initial = base[pos]
            pos += 1
            let info = initial & 0x1F
            if info < 24 { return (initial >> 5, info, UInt64(info)) }
            guard info <= 27 else { return nil }
            let n = 1 << Int(info - 24)
            guard count - pos >= n else { return nil }
            var v: UInt64 = 0
            for i in 0..<n { v = v << 8 | UInt64(base[pos + i]) }
            pos += n
            return (initial >> 5, info, v)
        }

        mutating func bytes(_ h: (major: UInt8, info: UInt8, value: UInt64)) -> UnsafeBufferPointer<UInt8>? {
            guard h.value <= UInt64(count - pos) else { return nil }
            defer { pos += Int(h.value) }
            return UnsafeBufferPointer(start: base + pos, count: Int(h.value))
        }

        mutating func item(depth: Int, to out: inout [UInt8]) -> Bool {
            guard depth <= CBORDecoder.maxDepth, let h = head() else { return false }
            switch h.major {
            case 0: JSONLines.appendDecimal(h.value, to: &out)
            case 1:
                if h.value == UInt64.max {
                    JSONLines.appendASCII("-18446744073709551616", to: &out)
                } else {
                    out.append(0x2D)
                    JSONLines.appendDecimal(h.value + 1, to: &out)
                }
            case 2:
                guard let b = bytes(h) else { return false }
                if JSONLines.isUTF8(b) {
                    JSONLines.appendASCII("{\"utf8\":", to: &out)
                    JSONLines.appendJSONString(b, to: &out)
                } else {
                    JSONLines.appendASCII("{\"base64\":\"", to: &out)
                    out.append(contentsOf: Base64.encode(Array(b)).utf8)
                    out.append(0x22)
                }
                out.append(0x7D)
            case 3:
                guard let b = bytes(h), JSONLines.isUTF8(b) else { return false }
                JSONLines.appendJSONString(b, to: &out)
            case 4:
                guard h.value <= UInt64(count - pos) else { return false }
                out.append(0x5B)
                for i in 0..<h.value {
                    if i > 0 { out.append(0x2C) }
                    guard item(depth: depth + 1, to: &out) else { return false }
                }
                out.append(0x5D)
            case 5:
                // Keys must be distinct text for the stream order to be the printed order.
                guard h.value <= 64, h.value <= UInt64(count - pos) else { return false }
                var keys: [(Int, Int)] = []
                keys.reserveCapacity(Int(h.value))
                out.append(0x7B)
                for i in 0..<h.value {
                    if i > 0 { out.append(0x2C) }
                    guard let k = head(), k.major == 3, let key = bytes(k), JSONLines.isUTF8(key) else { return false }
                    let start = key.baseAddress! - base
                    for (s, n) in keys where n == key.count && memcmp(base + s, key.baseAddress!, n) == 0 { return false }
                    keys.append((start, key.count))
                    JSONLines.appendJSONString(key, to: &out)
                    out.append(0x3A)
                    guard item(depth: depth + 1, to: &out) else { return false }
                }
                out.append(0x7D)
            case 6:
                return item(depth: depth + 1, to: &out)
            default:
                switch h.info {
                case 20: JSONLines.appendASCII("false", to: &out)
                case 21: JSONLines.appendASCII("true", to: &out)
                case 22, 23: JSONLines.appendASCII("null", to: &out)
                case 24:
                    guard h.value >= 32 else { return false }  // a two-byte simple value below 32 is malformed
                    JSONLines.appendDecimal(h.value, to: &out)
                case 0..<20: JSONLines.appendDecimal(h.value, to: &out)
                default: return false  // floats and breaks: the general path
                }
            }
            return true
        }
    }
}
