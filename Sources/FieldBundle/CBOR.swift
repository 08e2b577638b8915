/// A decoded CBOR (RFC 8949) data item.
///
/// Maps keep their keys in stream order, so renderings (JSON lines) are stable and match other decoders.
public indirect enum CBORValue: Sendable, Hashable {
    /// Major type 0.
    case unsigned(UInt64)
    /// Major type 1: the value is `-1 - n`.
    case negative(UInt64)
    /// Major type 2.
    case bytes([UInt8])
    /// Major type 3 (valid UTF-8).
    case text(String)
    /// Major type 4.
    case array([CBORValue])
    /// Major type 5, in stream order.
    case map([(key: CBORValue, value: CBORValue)])
    /// Major type 6: a tag and its content.
    case tagged(UInt64, CBORValue)
    /// `true` / `false`.
    case bool(Bool)
    /// `null`.
    case null
    /// `undefined`.
    case undefined
    /// Other simple values.
    case simple(UInt8)
    /// Half, single or double float.
    case float(Double)

    public static func == (a: CBORValue, b: CBORValue) -> Bool {
        switch (a, b) {
        case let (.unsigned(x), .unsigned(y)), let (.negative(x), .negative(y)): return x == y
        case let (.bytes(x), .bytes(y)): return x == y
        case let (.text(x), .text(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.map(x), .map(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.tagged(t, x), .tagged(u, y)): return t == u && x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null), (.undefined, .undefined): return true
        case let (.simple(x), .simple(y)): return x == y
        case let (.float(x), .float(y)): return x.bitPattern == y.bitPattern
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .unsigned(let x): h.combine(0); h.combine(x)
        case .negative(let x): h.combine(1); h.combine(x)
        case .bytes(let x): h.combine(2); h.combine(x)
        case .text(let x): h.combine(3); h.combine(x)
        case .array(let x): h.combine(4); h.combine(x)
        case .map(let x):
            h.combine(5)
            for (k, v) in x { h.combine(k); h.combine(v) }
        case .tagged(let t, let x): h.combine(6); h.combine(t); h.combine(x)
        case .bool(let x): h.combine(7); h.combine(x)
        case .null: h.combine(8)
        case .undefined: h.combine(9)
        case .simple(let x): h.combine(10); h.combine(x)
        case .float(let x): h.combine(11); h.combine(x.bitPattern)
        }
    }

    /// The value for a text key of a map, the first one when a key repeats.
    public subscript(key: String) -> CBORValue? {
        guard case .map(let pairs) = self else { return nil }
        for (k, v) in pairs { if case .text(let s) = k, s == key { return v } }
        return nil
    }

    /// The value as an unsigned integer, if it is one.
    public var uint64: UInt64? { if case .unsigned(let v) = self { v } else { nil } }

    /// The value as a signed integer, if it is an integer that fits.
    public var int64: Int64? {
        switch self {
        case .unsigned(let v): return v <= UInt64(Int64.max) ? Int64(v) : nil
        case .negative(let n): return n <= UInt64(Int64.max) ? -1 - Int64(n) : nil
        default: return nil
        }
    }

    /// The value as text, if it is text.
    public var string: String? { if case .text(let s) = self { s } else { nil } }

    /// The value as bytes, if it is a byte string.
    public var byteString: [UInt8]? { if case .bytes(let b) = self { b } else { nil } }

    /// The elements, if it is an array.
    public var arrayValue: [CBORValue]? { if case .array(let a) = self { a } else { nil } }

    /// The value as a Boolean, if it is one.
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
}

/// Writes CBOR with definite lengths and the shortest argument encoding (RFC 8949 §4.2.1 preferred serialization).
public struct CBOREncoder: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// A fresh encoder; `capacity` avoids regrowth for large payloads.
    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// An encoder that writes into `buffer`'s storage (emptied first), so a caller encoding one large payload after
    /// another reuses one allocation: pass in the previous payload once it is no longer needed.
    public init(reusing buffer: consuming [UInt8], capacity: Int) {
        bytes = buffer
        bytes.removeAll(keepingCapacity: true)
        bytes.reserveCapacity(capacity)
    }

    private mutating func head(_ major: UInt8, _ value: UInt64) {
        let m = major << 5
        switch value {
        case 0..<24: bytes.append(m | UInt8(value))
        case 24...0xFF: bytes.append(m | 24); bytes.append(UInt8(value))
        case 0x100...0xFFFF:
            bytes.append(m | 25)
            bytes.append(UInt8(value >> 8)); bytes.append(UInt8(value & 0xFF))
        case 0x1_0000...0xFFFF_FFFF:
            bytes.append(m | 26)
            for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((value >> UInt64(s)) & 0xFF)) }
        default:
            bytes.append(m | 27)
            for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((value >> UInt64(s)) & 0xFF)) }
        }
    }

    /// An unsigned integer.
    public mutating func encode(_ v: UInt64) { head(0, v) }
    /// A signed integer.
    public mutating func encode(_ v: Int64) {
        if v >= 0 { head(0, UInt64(v)) } else { head(1, UInt64(-1 - v)) }
    }
    /// A text string.
    public mutating func encode(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            head(3, UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }
    /// A byte string.
    public mutating func encode(bytes b: [UInt8]) {
        head(2, UInt64(b.count))
        bytes.append(contentsOf: b)
    }
    /// A Boolean.
    public mutating func encode(_ b: Bool) { bytes.append(b ? 0xF5 : 0xF4) }
    /// `null`.
    public mutating func encodeNull() { bytes.append(0xF6) }
    /// The head of an array of `count` items; the items follow.
    public mutating func beginArray(_ count: Int) { head(4, UInt64(count)) }
    /// The head of a map of `count` pairs; keys and values follow alternately.
    public mutating func beginMap(_ count: Int) { head(5, UInt64(count)) }

    /// Any decoded value, written back (floats as doubles, indefinite lengths made definite).
    public mutating func encode(_ value: CBORValue) {
        switch value {
        case .unsigned(let v): head(0, v)
        case .negative(let n): head(1, n)
        case .bytes(let b): encode(bytes: b)
        case .text(let s): encode(s)
        case .array(let a):
            beginArray(a.count)
            for e in a { encode(e) }
        case .map(let m):
            beginMap(m.count)
            for (k, v) in m { encode(k); encode(v) }
        case .tagged(let t, let v): head(6, t); encode(v)
        case .bool(let b): encode(b)
        case .null: encodeNull()
        case .undefined: bytes.append(0xF7)
        case .simple(let s):
            if s < 24 { bytes.append(0xE0 | s) } else { bytes.append(0xF8); bytes.append(s) }
        case .float(let d):
            bytes.append(0xFB)
            let bits = d.bitPattern
            for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((bits >> UInt64(s)) & 0xFF)) }
        }
    }
}

/// Why a CBOR payload could not be decoded.
public struct CBORError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Byte offset within the payload.
    public var offset: Int
    /// What is wrong.
    public var reason: String
    public var description: String { "malformed CBOR at payload byte \(offset): \(reason)" }
}

/// Decodes one CBOR data item that must fill the whole input.
///
/// Hardened for untrusted input: lengths are checked against the remaining bytes before allocating, nesting is
/// limited, text must be valid UTF-8, map keys must be text (the bundle format's rule), reserved encodings fail.
public struct CBORDecoder {
    /// Most containers (arrays, maps, tags) around any item; bundle payloads use four.
    public static let maxDepth = 64

    /// Decodes `bytes` as exactly one item.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CBORError) -> CBORValue {
        var d = CBORDecoder(buffer: bytes)
        let v = try d.item(depth: 0)
        if d.pos != bytes.count { throw CBORError(offset: d.pos, reason: "\(bytes.count - d.pos) bytes after the item") }
        return v
    }

    /// Decodes `bytes` as exactly one item.
    public static func decode(_ bytes: [UInt8]) throws(CBORError) -> CBORValue {
        try bytes.withBytes { (b) throws(CBORError) -> CBORValue in try decode(b) }
    }

    private let buffer: UnsafeRawBufferPointer
    private var pos = 0

    private init(buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    private func fail(_ reason: String) -> CBORError { CBORError(offset: pos, reason: reason) }

    private mutating func byte() throws(CBORError) -> UInt8 {
        guard pos < buffer.count else { throw fail("unexpected end of payload") }
        defer { pos += 1 }
        return buffer[pos]
    }

    private mutating func argument(_ info: UInt8) throws(CBORError) -> UInt64 {
        switch info {
        case 0..<24: return UInt64(info)
        case 24...27:
            let n = 1 << Int(info - 24)
            guard buffer.count - pos >= n else { throw fail("unexpected end of payload") }
            var v: UInt64 = 0
            for i in 0..<n { v = (v << 8) | UInt64(buffer[pos + i]) }
            pos += n
            return v
        default: throw fail("reserved additional information \(info)")
        }
    }

    private mutating func length(_ info: UInt8) throws(CBORError) -> Int {
        let v = try argument(info)
        guard v <= UInt64(buffer.count - pos) else { throw fail("length \(v) exceeds the payload") }
        return Int(v)
    }

    private mutating func rawBytes(_ n: Int) -> UnsafeRawBufferPointer {
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: buffer[pos..<pos + n])
    }

    /// A byte or text string, definite or indefinite.
    private mutating func string(major: UInt8, info: UInt8) throws(CBORError) -> [UInt8] {
        if info != 31 { return Array(rawBytes(try length(info))) }
        var out: [UInt8] = []
        while true {
            let b = try byte()
            if b == 0xFF { return out }
            guard b >> 5 == major, b & 0x1F != 31 else { throw fail("bad chunk in an indefinite-length string") }
            out.append(contentsOf: rawBytes(try length(b & 0x1F)))
        }
    }

    /// `depth` counts the containers around this item.
    private mutating func item(depth: Int) throws(CBORError) -> CBORValue {
        guard depth <= Self.maxDepth else { throw fail("an item inside more than \(Self.maxDepth) containers") }
        let start = pos
        let initial = try byte()
        let major = initial >> 5, info = initial & 0x1F
        switch major {
        case 0: return .unsigned(try argument(info))
        case 1: return .negative(try argument(info))
        case 2: return .bytes(try string(major: 2, info: info))
        case 3:
            let raw = try string(major: 3, info: info)
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw CBORError(offset: start, reason: "text string is not valid UTF-8")
            }
            return .text(s)
        case 4:
            var items: [CBORValue] = []
            if info == 31 {
                while true {
                    guard pos < buffer.count else { throw fail("unexpected end of payload") }
                    if buffer[pos] == 0xFF { pos += 1; break }
                    items.append(try item(depth: depth + 1))
                }
            } else {
                let n = try argument(info)
                // Each item takes at least one byte, so a count beyond the rest is malformed.
                guard n <= UInt64(buffer.count - pos) else { throw fail("array count \(n) exceeds the payload") }
                items.reserveCapacity(Int(n))
                for _ in 0..<n { items.append(try item(depth: depth + 1)) }
            }
            return .array(items)
        case 5:
            var pairs: [(key: CBORValue, value: CBORValue)] = []
            func pair(_ d: inout CBORDecoder) throws(CBORError) {
                let keyStart = d.pos
                let k = try d.item(depth: depth + 1)
                guard case .text = k else { throw CBORError(offset: keyStart, reason: "map key is not text") }
                pairs.append((k, try d.item(depth: depth + 1)))
            }
            if info == 31 {
                while true {
                    guard pos < buffer.count else { throw fail("unexpected end of payload") }
                    if buffer[pos] == 0xFF { pos += 1; break }
                    try pair(&self)
                }
            } else {
                let n = try argument(info)
                guard n <= UInt64(buffer.count - pos) / 2 else { throw fail("map count \(n) exceeds the payload") }
                pairs.reserveCapacity(Int(n))
                for _ in 0..<n { try pair(&self) }
            }
            return .map(pairs)
        case 6:
            let tag = try argument(info)
            return .tagged(tag, try item(depth: depth + 1))
        default:
            switch info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            case 23: return .undefined
            case 0..<20: return .simple(info)
            case 24:
                let v = try byte()
                guard v >= 32 else { throw fail("simple value \(v) in two-byte form") }
                return .simple(v)
            case 25:
                return .float(halfToDouble(UInt16(try argument(25))))
            case 26: return .float(Double(Float(bitPattern: UInt32(try argument(26)))))
            case 27: return .float(Double(bitPattern: try argument(27)))
            case 31: throw fail("unexpected break")
            default: throw fail("reserved simple encoding \(info)")
            }
        }
    }
}

/// An IEEE 754 half-precision value (RFC 8949 appendix D), widened by hand: Float16 needs a compiler helper
/// (`__aeabi_h2f`) that 32-bit ARM C libraries do not all ship, and the agent must link against any of them.
func halfToDouble(_ bits: UInt16) -> Double {
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = Double(bits & 0x3FF)
    let magnitude: Double
    switch exponent {
    case 0: magnitude = mantissa * 0x1p-24  // subnormal
    case 31: magnitude = mantissa == 0 ? .infinity : .nan
    default: magnitude = (1 + mantissa / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
    }
    return bits & 0x8000 != 0 ? -magnitude : magnitude
}
