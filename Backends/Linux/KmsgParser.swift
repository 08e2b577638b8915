/// One `KEY=VALUE` continuation line of a `/dev/kmsg` record (device and subsystem metadata).
public struct KernelLogMetadata: Sendable, Hashable {
    /// The key, e.g. `SUBSYSTEM`, `DEVICE`.
    public var key: String
    /// The value, as printed (non-printable bytes stay `\xNN`-escaped).
    public var value: String

    /// Creates a pair.
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// One record of `/dev/kmsg`.
public struct KernelLogRecord: Sendable, Hashable {
    /// Syslog priority: `facility << 3 | level`.
    public var priority: UInt32
    /// Sequence number; a gap between consecutive records means the ring buffer overwrote records.
    public var sequence: UInt64
    /// Time since boot (`CLOCK_MONOTONIC`), microseconds.
    public var timestampMicros: UInt64
    /// The flag field: `-` for a whole record, `c`/`+` for fragments on kernels that print them; nil if absent.
    public var flag: String?
    /// The message text (non-printable bytes are `\xNN`-escaped by the kernel).
    public var text: String
    /// Continuation lines, in order.
    public var metadata: [KernelLogMetadata]

    /// Creates a record.
    public init(
        priority: UInt32, sequence: UInt64, timestampMicros: UInt64, flag: String? = "-", text: String,
        metadata: [KernelLogMetadata] = []
    ) {
        self.priority = priority
        self.sequence = sequence
        self.timestampMicros = timestampMicros
        self.flag = flag
        self.text = text
        self.metadata = metadata
    }

    /// Log level, 0 (emergency) to 7 (debug).
    public var level: UInt32 { priority & 7 }
    /// Syslog facility (0 for the kernel's own messages).
    public var facility: UInt32 { priority >> 3 }
    /// The OOM kill or segfault this record reports, if any.
    public var event: KernelEvent? { KernelEventParser.parse(text) }
}

/// Records read from `/dev/kmsg`.
public struct KernelLog: Sendable, Hashable {
    /// Records in reading order.
    public var records: [KernelLogRecord]
    /// Lines that were neither a record header nor a continuation of one.
    public var skippedLines: Int

    /// Creates a value.
    public init(records: [KernelLogRecord] = [], skippedLines: Int = 0) {
        self.records = records
        self.skippedLines = skippedLines
    }

    /// The events the records report, in order, with the record that carried each.
    public var events: [(record: KernelLogRecord, event: KernelEvent)] {
        records.compactMap { r in r.event.map { (r, $0) } }
    }
}

/// Parser for `/dev/kmsg` records (Documentation/ABI/testing/dev-kmsg).
///
/// A record is `prio,seq,usec,flag[,more fields];text` on one line, followed by zero or more continuation lines
/// that start with a space and carry `KEY=VALUE` metadata. Fields after the flag (e.g. `caller=T123`) are
/// ignored, so newer kernels parse too.
public enum KmsgParser {
    /// Parses newline-separated records (the concatenation of reads from `/dev/kmsg`).
    public static func parse(_ bytes: [UInt8]) -> KernelLog {
        bytes.withUnsafeBufferPointer { buf in
            var log = KernelLog()
            ProcText.forEachLine(buf) { line in add(buf, line, to: &log) }
            return log
        }
    }

    /// Parses lines as the agent stores them in an event batch (one line each, without the newline).
    public static func parse(lines: [[UInt8]]) -> KernelLog {
        var log = KernelLog()
        for line in lines {
            line.withUnsafeBufferPointer { buf in
                // A stored line may still hold a record and its continuation lines together.
                ProcText.forEachLine(buf) { r in add(buf, r, to: &log) }
            }
        }
        return log
    }

    static func add(_ buf: UnsafeBufferPointer<UInt8>, _ line: Range<Int>, to log: inout KernelLog) {
        guard let first = line.first else { return }
        if buf[first] == ProcText.space {
            let r = ProcText.trimmed(buf, line)
            if r.isEmpty { return }
            guard !log.records.isEmpty else {
                log.skippedLines += 1
                return
            }
            let pair: KernelLogMetadata
            if let eq = ProcText.firstIndex(of: UInt8(ascii: "="), in: buf, r) {
                pair = KernelLogMetadata(
                    key: ProcText.string(buf, r.lowerBound..<eq), value: ProcText.string(buf, (eq + 1)..<r.upperBound))
            } else {
                pair = KernelLogMetadata(key: ProcText.string(buf, r), value: "")
            }
            log.records[log.records.count - 1].metadata.append(pair)
            return
        }
        guard let record = parseHeader(buf, line) else {
            log.skippedLines += 1
            return
        }
        log.records.append(record)
    }

    static func parseHeader(_ buf: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) -> KernelLogRecord? {
        guard let semi = ProcText.firstIndex(of: UInt8(ascii: ";"), in: buf, line) else { return nil }
        var fields: [Range<Int>] = []
        var s = line.lowerBound
        for i in line.lowerBound...semi where i == semi || buf[i] == UInt8(ascii: ",") {
            fields.append(s..<i)
            s = i + 1
        }
        guard fields.count >= 3, let prio = ProcText.decimal(buf, fields[0]), prio <= UInt64(UInt32.max),
            let seq = ProcText.decimal(buf, fields[1]), let usec = ProcText.decimal(buf, fields[2])
        else { return nil }
        let flag = fields.count > 3 ? ProcText.string(buf, fields[3]) : nil
        return KernelLogRecord(
            priority: UInt32(prio), sequence: seq, timestampMicros: usec, flag: flag,
            text: ProcText.string(buf, (semi + 1)..<line.upperBound))
    }
}
