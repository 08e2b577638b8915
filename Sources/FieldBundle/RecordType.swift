/// The kind of a record, the byte after the length in every frame.
///
/// Readers skip types they do not know (their payload is still CBOR and still checksummed), so later minor
/// versions can add types without breaking v1 readers.
public struct RecordType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The type byte.
    public var rawValue: UInt8
    /// Wraps a type byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// First record: who wrote the bundle, about which device, and what it planned to read.
    public static let header = RecordType(rawValue: 1)
    /// One sampling instant: the raw bytes of every entry read.
    public static let sample = RecordType(rawValue: 2)
    /// Kernel log lines.
    public static let event = RecordType(rawValue: 3)
    /// The agent's own cost.
    public static let stats = RecordType(rawValue: 4)
    /// Last record: why the bundle was closed and how many records of each type precede it.
    public static let end = RecordType(rawValue: 5)
    /// Data the agent had to drop (spool quota), recorded in the next bundle.
    public static let loss = RecordType(rawValue: 6)

    /// Every type this version knows, in type-byte order.
    public static let known: [RecordType] = [.header, .sample, .event, .stats, .end, .loss]

    /// The name used in JSON lines and end-record counts: a known name or `type-N`.
    public var name: String {
        switch rawValue {
        case 1: "header"
        case 2: "sample"
        case 3: "event"
        case 4: "stats"
        case 5: "end"
        case 6: "loss"
        default: "type-\(rawValue)"
        }
    }

    public var description: String { name }
}

/// Version of the record stream, written right after the magic.
public struct FormatVersion: Sendable, Hashable, CustomStringConvertible {
    /// Incompatible changes bump the major version; readers refuse a major they do not know.
    public var major: UInt8
    /// Compatible additions (fields, record types) bump the minor version.
    public var minor: UInt8
    /// Creates a version.
    public init(major: UInt8, minor: UInt8) { self.major = major; self.minor = minor }
    /// What this library writes.
    public static let current = FormatVersion(major: 1, minor: 2)
    public var description: String { "\(major).\(minor)" }
}

/// Constants of the record stream layout (docs/bundle-format.md).
public enum StreamLayout {
    /// `FIELDB` then major then minor version: 8 bytes at the start of the decompressed stream.
    public static let magic: [UInt8] = Array("FIELDB".utf8)
    /// Magic plus the two version bytes.
    public static let preambleSize = 8
    /// Length (4) + type (1) before the payload.
    public static let frameHeaderSize = 5
    /// CRC-32C (4) after the payload.
    public static let frameTrailerSize = 4
}
