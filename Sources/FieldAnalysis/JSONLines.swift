import FieldBundle

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
            // Keep first positions, last values: what a dictionary-based decoder produces.
            var order: [String] = []
            var values: [String: CBORValue] = [:]
            for (k, val) in pairs {
                let key = k.string ?? ""
                if values.updateValue(val, forKey: key) == nil { order.append(key) }
            }
            s += "{"
            for (i, key) in order.enumerated() {
                if i > 0 { s += "," }
                appendString(key, to: &s)
                s += ":"
                append(values[key]!, to: &s)
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
