import CFieldPlatform
import FieldModel

/// Sample payloads read straight into captures, without a tree of `CBORValue`s: analysis of a week-long soak
/// decodes hundreds of millions of entries, and the tree (a box per value, a string per key) cost more than the
/// parsing it feeds.
///
/// Only the layout `RecordCodec.encode(_: Sample)` writes is read here: definite lengths, text keys, each known key
/// once, values of the documented types. Anything else (an unknown key, an indefinite length, a value of another
/// type, bytes after the item) makes `decode` return nil, and the caller decodes the payload through the general
/// CBOR decoder, which gives the same result or the error: the two paths agree on every payload (a test compares
/// them on every writer's layout and on mutated payloads).
enum SamplePayload {
    /// A forward-only reader of CBOR heads in one payload.
    struct Cursor {
        let base: UnsafePointer<UInt8>
        let count: Int
        var pos = 0

        /// The next item's major type and argument; nil at the end, or for indefinite lengths, reserved
        /// encodings and floats (which the general decoder handles).
        mutating func head() -> (major: UInt8, value: UInt64)? {
            guard pos < count else { return nil }
            let initial = base[pos]
            pos += 1
            let info = initial & 0x1F
            if info < 24 { return (initial >> 5, UInt64(info)) }
            guard info <= 27, initial >> 5 != 7 else { return nil }
            let n = 1 << Int(info - 24)
            guard count - pos >= n else { return nil }
            var v: UInt64 = 0
            for i in 0..<n { v = v << 8 | UInt64(base[pos + i]) }
            pos += n
            return (initial >> 5, v)
        }

        /// A definite-length byte (major 2) or text (major 3) string, in place.
        mutating func string(_ major: UInt8) -> UnsafeBufferPointer<UInt8>? {
            guard let h = head(), h.major == major, h.value <= UInt64(count - pos) else { return nil }
            defer { pos += Int(h.value) }
            return UnsafeBufferPointer(start: base + pos, count: Int(h.value))
        }

        /// An unsigned integer.
        mutating func unsigned() -> UInt64? {
            guard let h = head(), h.major == 0 else { return nil }
            return h.value
        }

        /// An integer that fits in Int64, of either sign.
        mutating func signed() -> Int64? {
            guard let h = head(), h.major <= 1, h.value <= UInt64(Int64.max) else { return nil }
            return h.major == 0 ? Int64(h.value) : -1 - Int64(h.value)
        }

        /// `true` or `false`.
        mutating func bool() -> Bool? {
            guard let h = head(), h.major == 7, h.value == 20 || h.value == 21 else { return nil }
            return h.value == 21
        }
    }

    static func equal(_ b: UnsafeBufferPointer<UInt8>, _ s: StaticString) -> Bool {
        b.count == s.utf8CodeUnitCount && (b.count == 0 || memcmp(b.baseAddress!, s.utf8Start, b.count) == 0)
    }

    static func equal(_ b: UnsafeBufferPointer<UInt8>, _ bytes: [UInt8]) -> Bool {
        guard b.count == bytes.count else { return false }
        return b.count == 0 || bytes.withUnsafeBufferPointer { memcmp(b.baseAddress!, $0.baseAddress!, b.count) == 0 }
    }

    static func equal(_ b: UnsafeBufferPointer<UInt8>, _ s: String) -> Bool {
        var s = s
        guard s.utf8.count == b.count else { return false }
        return b.count == 0 || s.withUTF8 { memcmp(b.baseAddress!, $0.baseAddress!, b.count) == 0 }
    }

    static func status(_ b: UnsafeBufferPointer<UInt8>) -> ReadStatus?? {
        if equal(b, "ok") { return .some(.ok) }
        if equal(b, "same") { return .some(nil) }
        if equal(b, "missing") { return .some(.missing) }
        if equal(b, "denied") { return .some(.denied) }
        if equal(b, "busy") { return .some(.busy) }
        if equal(b, "error") { return .some(.error) }
        return nil
    }

    static func kind(_ b: UnsafeBufferPointer<UInt8>) -> EntryKind? {
        if equal(b, "file") { return .file }
        if equal(b, "dir") { return .directory }
        if equal(b, "link") { return .link }
        return nil
    }

    /// Decodes `payload` as `RecordCodec.decodeSample(_:same:)` would, or returns nil (see the type's comment).
    ///
    /// `previous` is the sample decoded before this one: an entry at the same index with the same path takes
    /// that path's string, and, when its content is byte for byte the same, that content's storage (no copy, and
    /// whoever compares the two sees at once that they are one).
    static func decode(_ payload: [UInt8], previous: [FileCapture], same: inout [Int]) -> Sample? {
        payload.withUnsafeBufferPointer { buf -> Sample? in
            guard let base = buf.baseAddress else { return nil }
            var c = Cursor(base: base, count: buf.count)
            guard let top = c.head(), top.major == 5 else { return nil }
            var seq: UInt64?, wall: Int64?, mono: UInt64?
            var partIndex: UInt64?, more: Bool?
            var files: [FileCapture]?
            var times: [UInt64]?
            for _ in 0..<top.value {
                guard let key = c.string(3) else { return nil }
                if equal(key, "seq") {
                    guard seq == nil, let v = c.unsigned() else { return nil }
                    seq = v
                } else if equal(key, "wall_ns") {
                    guard wall == nil, let v = c.signed() else { return nil }
                    wall = v
                } else if equal(key, "mono_ns") {
                    guard mono == nil, let v = c.unsigned() else { return nil }
                    mono = v
                } else if equal(key, "part") {
                    guard partIndex == nil, let v = c.unsigned(), v <= UInt64(UInt32.max) else { return nil }
                    partIndex = v
                } else if equal(key, "more") {
                    guard more == nil, let v = c.bool() else { return nil }
                    more = v
                } else if equal(key, "files") {
                    guard files == nil, let f = entries(&c, previous: previous, same: &same) else { return nil }
                    files = f
                } else if equal(key, "read_us") {
                    guard times == nil, let h = c.head(), h.major == 4, h.value <= UInt64(c.count - c.pos) else { return nil }
                    var t: [UInt64] = []
                    t.reserveCapacity(Int(h.value))
                    for _ in 0..<h.value {
                        guard let v = c.unsigned() else { return nil }
                        t.append(v)
                    }
                    times = t
                } else {
                    return nil
                }
            }
            guard c.pos == c.count, let seq, let wall, let mono, var files else { return nil }
            // `more` alone says nothing (the general decoder ignores it too).
            let part = partIndex.map { SamplePart(index: UInt32($0), more: more ?? false) }
            if let t = times {
                for i in 0..<min(t.count, files.count) { files[i].readNanos = t[i] &* 1000 }
            }
            return Sample(sequence: seq, wallNanos: wall, monoNanos: mono, files: files, part: part)
        }
    }

    /// The `files` array.
    static func entries(_ c: inout Cursor, previous: [FileCapture], same: inout [Int]) -> [FileCapture]? {
        guard let h = c.head(), h.major == 4, h.value <= UInt64(c.count - c.pos) else { return nil }
        var files: [FileCapture] = []
        files.reserveCapacity(Int(h.value))
        for i in 0..<Int(h.value) {
            guard let m = c.head(), m.major == 5, m.value <= 6 else { return nil }
            var path: UnsafeBufferPointer<UInt8>?, data: UnsafeBufferPointer<UInt8>?
            var kind: EntryKind?, status: ReadStatus??, errno: Int64?, truncated: Bool?
            for _ in 0..<m.value {
                guard let key = c.string(3) else { return nil }
                if equal(key, "path") {
                    guard path == nil, let v = c.string(3) else { return nil }
                    path = v
                } else if equal(key, "status") {
                    guard status == nil, let v = c.string(3), let s = Self.status(v) else { return nil }
                    status = s
                } else if equal(key, "data") {
                    guard data == nil, let v = c.string(2) else { return nil }
                    data = v
                } else if equal(key, "kind") {
                    guard kind == nil, let v = c.string(3), let k = Self.kind(v) else { return nil }
                    kind = k
                } else if equal(key, "errno") {
                    guard errno == nil, let v = c.signed() else { return nil }
                    errno = v
                } else if equal(key, "truncated") {
                    guard truncated == nil, let v = c.bool() else { return nil }
                    truncated = v
                } else {
                    return nil
                }
            }
            guard let p = path else { return nil }
            let earlier: FileCapture? = i < previous.count && equal(p, previous[i].path) ? previous[i] : nil
            let name: String
            if let e = earlier {
                name = e.path
            } else {
                guard let s = String(validating: p, as: UTF8.self) else { return nil }
                name = s
            }
            var bytes: [UInt8] = []
            if let d = data {
                if let e = earlier, equal(d, e.bytes) { bytes = e.bytes } else { bytes = Array(d) }
            }
            let st: ReadStatus
            switch status {
            case .some(.some(let s)): st = s
            case .some(.none): same.append(i); st = .error
            case .none: st = .error
            }
            files.append(FileCapture(path: name, kind: kind ?? .file, status: st, errno: errno.map { Int32(clamping: $0) },
                                     truncated: truncated ?? false, bytes: bytes))
        }
        return files
    }
}
