import FieldAnalysis
import FieldBundle
import FieldLinux
import FieldModel

/// The soak logs engineers write by hand: a shell loop that appends `cat /proc/meminfo`, `cat /proc/PID/status`,
/// `cat /proc/PID/maps`, `cat /proc/slabinfo`, `top -b -n 1`, `free`, `cat /proc/loadavg` to one file, with or
/// without a `date` between iterations. Each block is recognised by its shape (docs/import.md, "Hand-made logs");
/// nothing is attributed by guessing.
///
/// `HandLogScanner` cuts the lines into blocks and time lines; `HandLogAssembler` groups them into samples.
public struct HandLogScanner {
    /// The shapes recognised.
    public enum Kind: String, Sendable {
        case meminfo, status, maps, slabinfo, top, free, loadavg
    }

    /// One recognised block: a whole file or command output.
    public struct Block: Sendable {
        public var kind: Kind
        /// The lines, each followed by a newline.
        public var bytes: [UInt8] = []
        public var lineCount = 0
        /// The line it starts at (1-based).
        public var firstLine: Int
        /// The pid a status names (`Pid:`).
        public var pid: Int32?
        /// A procps top screen's clock, seconds since midnight.
        public var clock: Int?
        /// The input ended inside it (its last line has no newline).
        public var cut = false
        /// Maps: the bytes its mappings span. Status: `VmSize`, bytes. Equal for one process read at one time.
        public var mappedBytes: UInt64 = 0
        public var vmSize: UInt64?
    }

    /// What the scanner found, in order.
    public enum Item: Sendable {
        /// A line that is a time (`date`, `date +%s`, `date -R`, `date -Iseconds`, `date '+%F %T'`).
        case time(nanos: Int64, zoneKnown: Bool, line: Int)
        case block(Block)
        /// A line of no recognised shape.
        case other(line: Int, text: String)
    }

    private var block: Block?
    private var lastMapsEnd: UInt64 = 0
    /// Top: whether the column header was seen, and the lines of its summary so far.
    private var topTable = false
    private var topHeaderLines = 0
    private(set) var lineNumber = 0

    public init() {}

    /// One line, without its newline.
    public mutating func feed(_ raw: ArraySlice<UInt8>) -> [Item] {
        lineNumber += 1
        var line = raw
        while let l = line.last, l == 0x0D || l == 0x20 || l == 0x09 { line = line.dropLast() }
        var out: [Item] = []
        if block != nil {
            if continues(line) {
                append(line)
                return []
            }
            out.append(.block(block!))
            block = nil
        }
        if line.isEmpty { return out }
        if let t = Self.time(line) {
            out.append(.time(nanos: t.nanos, zoneKnown: t.zoneKnown, line: lineNumber))
            return out
        }
        guard let kind = Self.start(line) else {
            out.append(.other(line: lineNumber, text: String(decoding: line.prefix(80), as: UTF8.self)))
            return out
        }
        block = Block(kind: kind, firstLine: lineNumber)
        topTable = false
        topHeaderLines = 0
        if kind == .maps { lastMapsEnd = 0; _ = mapsRange(line) }
        if kind == .top { block!.clock = Self.topClock(line) }
        append(line)
        if kind == .loadavg {
            out.append(.block(block!))
            block = nil
        }
        return out
    }

    /// The end of the input; `lastLineComplete` is false when the input's last line had no newline.
    public mutating func finish(lastLineComplete: Bool) -> [Item] {
        guard var b = block else { return [] }
        block = nil
        if !lastLineComplete { b.cut = true }
        return [.block(b)]
    }

    private mutating func append(_ line: ArraySlice<UInt8>) {
        block!.bytes += line
        block!.bytes.append(0x0A)
        block!.lineCount += 1
        switch block!.kind {
        case .status:
            if block!.pid == nil, line.starts(with: "Pid:".utf8) {
                let digits = line.dropFirst(4).drop { $0 == 0x20 || $0 == 0x09 }
                if let n = Int32(String(decoding: digits, as: UTF8.self)), n > 0 { block!.pid = n }
            } else if line.starts(with: "VmSize:".utf8) {
                let words = line.dropFirst(7).split(omittingEmptySubsequences: true) { $0 == 0x20 || $0 == 0x09 }
                if let w = words.first, let kib = UInt64(String(decoding: w, as: UTF8.self)) {
                    block!.vmSize = kib.multipliedReportingOverflow(by: 1024).overflow ? nil : kib * 1024
                }
            }
        case .maps:
            if let r = Self.maps(line) { block!.mappedBytes = block!.mappedBytes &+ (r.end - r.start) }
        default:
            break
        }
    }

    /// Whether `line` belongs to the open block.
    private mutating func continues(_ line: ArraySlice<UInt8>) -> Bool {
        let kind = block!.kind
        switch kind {
        case .meminfo:
            return !line.starts(with: "MemTotal:".utf8) && Self.keyNumber(line)
        case .status:
            return !line.starts(with: "Name:".utf8) && !line.starts(with: "MemTotal:".utf8) && Self.keyValue(line)
        case .maps:
            // A process's mappings come in ascending order: a lower start is another file.
            guard let r = mapsRange(line), r.start >= lastMapsEnd || lastMapsEnd == 0 else { return false }
            lastMapsEnd = r.end
            return true
        case .slabinfo:
            return line.starts(with: "# name".utf8) || Self.slabLine(line)
        case .free:
            return ["Mem:", "Swap:", "Low:", "High:", "Total:", "-/+"].contains { line.starts(with: $0.utf8) }
        case .loadavg:
            return false
        case .top:
            let words = line.split(separator: 0x20, omittingEmptySubsequences: true)
            if topTable {
                guard let first = words.first else { return false }
                return first.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            }
            if line.isEmpty { return topHeaderLines < 12 }
            if Self.time(line) != nil || Self.start(line).map({ $0 != .top }) == true { return false }
            topHeaderLines += 1
            if words.contains(where: { $0.elementsEqual("PID".utf8) }),
                words.contains(where: { $0.elementsEqual("COMMAND".utf8) || $0.elementsEqual("CMD".utf8) }) {
                topTable = true
                return true
            }
            return topHeaderLines < 12
        }
    }

    private mutating func mapsRange(_ line: ArraySlice<UInt8>) -> (start: UInt64, end: UInt64)? {
        guard let r = Self.maps(line) else { return nil }
        if lastMapsEnd == 0 { lastMapsEnd = r.end }
        return r
    }

    /// The shape a block starting with `line` has, if any.
    static func start(_ line: ArraySlice<UInt8>) -> Kind? {
        if line.starts(with: "MemTotal:".utf8) { return .meminfo }
        if line.starts(with: "Name:".utf8) { return .status }
        if line.starts(with: "slabinfo - version:".utf8) { return .slabinfo }
        if line.starts(with: "top - ".utf8) { return .top }
        // BusyBox top's first line: "Mem: 1234K used, 5678K free, ...".
        if line.starts(with: "Mem: ".utf8), String(decoding: line, as: UTF8.self).contains(" used, ") { return .top }
        let words = line.split(separator: 0x20, omittingEmptySubsequences: true)
        if words.count >= 3, words[0].elementsEqual("total".utf8), words[1].elementsEqual("used".utf8), words[2].elementsEqual("free".utf8) {
            return .free
        }
        if maps(line) != nil, !line.reversed().starts(with: "]pullor[".utf8) { return .maps }
        if loadavg(words) { return .loadavg }
        return nil
    }

    /// `Key:   1234 kB` or `HugePages_Total:   0`: a meminfo line.
    static func keyNumber(_ line: ArraySlice<UInt8>) -> Bool {
        guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex else { return false }
        guard line[..<colon].allSatisfy({ isKeyByte($0) || $0 == 0x28 || $0 == 0x29 }) else { return false }
        let words = line[(colon + 1)...].split(separator: 0x20, omittingEmptySubsequences: true)
        guard let n = words.first, n.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        return words.count == 1 || (words.count == 2 && words[1].elementsEqual("kB".utf8))
    }

    /// `Key:\tvalue` (the value may be empty): a status line.
    static func keyValue(_ line: ArraySlice<UInt8>) -> Bool {
        guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex else { return false }
        return line[..<colon].allSatisfy(isKeyByte) && (colon + 1 == line.endIndex || line[colon + 1] == 0x09 || line[colon + 1] == 0x20)
    }

    static func isKeyByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    /// `START-END PERMS OFFSET DEV INODE [PATH]`: a maps line, its range.
    static func maps(_ line: ArraySlice<UInt8>) -> (start: UInt64, end: UInt64)? {
        let words = line.split(separator: 0x20, maxSplits: 5, omittingEmptySubsequences: true)
        guard words.count >= 5, let dash = words[0].firstIndex(of: 0x2D),
            let start = UInt64(String(decoding: words[0][..<dash], as: UTF8.self), radix: 16),
            let end = UInt64(String(decoding: words[0][(dash + 1)...], as: UTF8.self), radix: 16), end >= start,
            words[1].count == 4, words[3].contains(0x3A), words[4].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return nil }
        return (start, end)
    }

    /// `name active num objsize perslab pages : tunables ... : slabdata ...`.
    static func slabLine(_ line: ArraySlice<UInt8>) -> Bool {
        let words = line.split(separator: 0x20, omittingEmptySubsequences: true)
        return words.count >= 8 && words[1...5].allSatisfy { $0.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
            && words[6].elementsEqual(":".utf8)
    }

    /// `0.52 0.58 0.59 1/467 12345`.
    static func loadavg(_ words: [ArraySlice<UInt8>]) -> Bool {
        guard words.count == 5 else { return false }
        func decimal(_ w: ArraySlice<UInt8>) -> Bool { w.contains(0x2E) && w.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E } }
        let digits: (ArraySlice<UInt8>) -> Bool = { w in !w.isEmpty && w.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        let tasks = words[3].split(separator: 0x2F, omittingEmptySubsequences: false)
        return decimal(words[0]) && decimal(words[1]) && decimal(words[2]) && tasks.count == 2 && tasks.allSatisfy(digits) && digits(words[4])
    }

    static func topClock(_ line: ArraySlice<UInt8>) -> Int? {
        let words = line.split(separator: 0x20, omittingEmptySubsequences: true)
        guard words.count > 2 else { return nil }
        return clock(words[2])
    }

    /// `HH:MM:SS` (a fraction after it is dropped) -> seconds since midnight: the parser of top's clock.
    static func clock<S: Collection>(_ w: S) -> Int? where S.Element == UInt8 { CommandOutputParser.clock(ArraySlice(w)) }

    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Days since 1970-01-01 of a civil date (proleptic Gregorian).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// A zone word: `UTC`, `GMT`, `Z`, `+0100`, `-05:30` -> seconds east of UTC; nil for a name (`CET`, `PST`),
    /// which cannot be read without the device's zone table.
    static func zone(_ w: Substring) -> Int? {
        if ["UTC", "GMT", "Z", "UT"].contains(w) { return 0 }
        guard let sign = w.first, sign == "+" || sign == "-" else { return nil }
        let digits = w.dropFirst().filter { $0 != ":" }
        guard digits.count == 4, let v = Int(digits) else { return nil }
        let seconds = (v / 100) * 3600 + (v % 100) * 60
        return sign == "-" ? -seconds : seconds
    }

    /// The earliest and latest times accepted: 2000-01-01 to 2100-01-01 (a bare number outside is no `date +%s`).
    static let earliest: Int64 = 946_684_800
    static let latest: Int64 = 4_102_444_800

    /// A line that is all a time: nanoseconds since the epoch, and whether its zone was known (a zone name such as
    /// `CET` is read as UTC).
    public static func time(_ line: ArraySlice<UInt8>) -> (nanos: Int64, zoneKnown: Bool)? {
        guard line.count >= 10, line.count <= 64 else { return nil }
        let text = String(decoding: line, as: UTF8.self)
        if line.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let s = Int64(text), s >= earliest, s < latest else { return nil }
            return (s * 1_000_000_000, true)
        }
        var words = text.split(separator: " ")
        // ISO 8601: 2026-12-04T01:03:15+00:00, 2026-12-04 01:03:15, with a fraction and a zone or not.
        if let first = words.first, first.count >= 10, first.dropFirst(4).first == "-" {
            var datePart = first
            var rest = words.dropFirst()
            var timePart: Substring
            if let t = first.firstIndex(of: "T") {
                datePart = first[..<t]
                timePart = first[first.index(after: t)...]
            } else {
                guard let t = rest.first else { return nil }
                timePart = t
                rest = rest.dropFirst()
            }
            var zoneWord: Substring? = rest.first
            guard rest.count <= 1 else { return nil }
            // A zone glued to the time: 01:03:15Z, 01:03:15+00:00, 01:03:15,123456789-05:00.
            if let z = timePart.firstIndex(where: { $0 == "Z" || $0 == "+" || $0 == "-" }) {
                zoneWord = timePart[z...]
                timePart = timePart[..<z]
            }
            let d = datePart.split(separator: "-")
            guard d.count == 3, let y = Int(d[0]), let m = Int(d[1]), let day = Int(d[2]), (1...12).contains(m), (1...31).contains(day),
                let c = clock(timePart.split(separator: ",").first.map { Array($0.utf8) } ?? [])
            else { return nil }
            let fraction = Self.fraction(timePart)
            let z = zoneWord.map { zone($0) } ?? 0
            return make(y, m, day, c, fraction: fraction, offset: z ?? 0, known: zoneWord == nil || z != nil)
        }
        // `date -R`: Fri, 04 Dec 2026 01:03:15 +0000
        if let first = words.first, first.hasSuffix(",") {
            guard words.count == 6, let day = Int(words[1]), (1...31).contains(day), let m = monthNumber(words[2]), let y = Int(words[3]),
                let c = clock(Array(words[4].utf8)), let z = zone(words[5])
            else { return nil }
            return make(y, m, day, c, fraction: 0, offset: z, known: true)
        }
        // `date`: Fri Dec  4 01:03:15 UTC 2026 (C locale; the zone may be missing).
        guard words.count == 5 || words.count == 6, monthNumber(words[1]) != nil else { return nil }
        let zoneWord: Substring? = words.count == 6 ? words[4] : nil
        if words.count == 6 { words.remove(at: 4) }
        guard let m = monthNumber(words[1]), let day = Int(words[2]), (1...31).contains(day), let c = clock(Array(words[3].utf8)),
            let y = Int(words[4])
        else { return nil }
        let z = zoneWord.flatMap { zone($0) }
        return make(y, m, day, c, fraction: Self.fraction(words[3]), offset: z ?? 0, known: zoneWord == nil || z != nil)
    }

    static func monthNumber(_ w: Substring) -> Int? {
        months.firstIndex(of: w.lowercased().prefix(3).description).map { $0 + 1 }
    }

    /// The nanoseconds of `01:03:15.250` or `01:03:15,250000000`.
    static func fraction(_ t: Substring) -> Int64 {
        guard let dot = t.firstIndex(where: { $0 == "." || $0 == "," }) else { return 0 }
        var digits = t[t.index(after: dot)...].prefix { $0.isNumber }.prefix(9)
        while digits.count < 9 { digits += "0" }
        return Int64(digits) ?? 0
    }

    static func make(_ y: Int, _ m: Int, _ d: Int, _ clock: Int, fraction: Int64, offset: Int, known: Bool) -> (nanos: Int64, zoneKnown: Bool)? {
        guard (2000..<2100).contains(y) else { return nil }
        let seconds = Int64(days(year: y, month: m, day: d)) * 86_400 + Int64(clock) - Int64(offset)
        guard seconds >= earliest, seconds < latest else { return nil }
        return (seconds * 1_000_000_000 + fraction, known)
    }
}

/// Groups a hand-made log's blocks into samples, one per iteration of the loop that wrote it.
///
/// Iterations are told apart by the log's own times when it has them: `date` lines, else procps top's clock. When
/// the first of them comes before any block the loop printed the time first and each time starts an iteration;
/// otherwise each time ends one. A log without times is cut where its first block's file comes again, and its
/// samples are `interval` apart.
public struct HandLogAssembler {
    /// How the log marks its iterations.
    public enum Mode: Equatable, Sendable {
        /// Each `date` line starts an iteration (`before`) or ends one.
        case dates(before: Bool)
        /// Each top screen's clock starts (`before`) or ends an iteration.
        case topClock(before: Bool)
        /// No times: iterations are cut at the first block's file coming again.
        case repetition
    }

    /// What a survey of the scanner's items found: how the log marks time.
    public struct Survey: Sendable {
        public var dates = 0
        public var unknownZones = 0
        public var topClocks = 0
        public var blocks = 0
        /// Whether the first time line (or clocked top screen) came before the first block.
        public var timeFirst: Bool?
        public var dateFirst: Bool?

        public init() {}

        public mutating func take(_ item: HandLogScanner.Item) {
            switch item {
            case .time(_, let known, _):
                dates += 1
                if !known { unknownZones += 1 }
                if dateFirst == nil { dateFirst = blocks == 0 }
            case .block(let b):
                if b.kind == .top, b.clock != nil {
                    topClocks += 1
                    if timeFirst == nil { timeFirst = blocks == 0 }
                }
                blocks += 1
            case .other:
                break
            }
        }

        /// The mode the log's marks call for.
        public var mode: Mode {
            if dates > 0 { return .dates(before: dateFirst ?? true) }
            if topClocks > 1 { return .topClock(before: timeFirst ?? true) }
            return .repetition
        }
    }

    /// One sample in the making.
    struct Pending {
        var time: Int64?
        var blocks: [HandLogScanner.Block] = []
        var firstLine: Int
    }

    public let mode: Mode
    /// The pid the log's maps belong to, when the person importing said so.
    public let mapsPID: Int32?
    /// The spacing of samples in a log without times, nanoseconds.
    public let intervalNanos: Int64
    /// Where in the input the sample came from, for notes.
    public let source: String
    /// Added to every raw time: places a log whose times are relative (top's clock, no times at all).
    public var offsetNanos: Int64 = 0

    private var pending: Pending?
    private var lead: String?
    private var index: Int64 = 0
    private var day: Int64 = 0
    private var lastClock: Int?
    private var sequence: UInt64 = 0
    /// The paths seen so far and those absent in the run that is going on: PATH -> (first absent time, count).
    private var expected: Set<String> = []
    private var absent: [String: (since: Int64, count: Int)] = [:]
    /// The most lines a meminfo or a process's status had (a shorter one was cut).
    private var usualLines: [String: Int] = [:]
    /// Counts for the closing notes.
    private var unplaced = 0
    private var firstUnplaced = 0
    private var others = 0
    private var firstOther = ""
    private var firstOtherLine = 0
    private var unattributedMaps = 0
    private var attributedNote = false
    private var absentTotals: [String: (count: Int, first: Int64)] = [:]
    private var cutBlocks = 0
    private var emptyTimes = 0

    /// An assembler of samples in `mode`; `intervalNanos` spaces the samples of a log without times.
    public init(mode: Mode, mapsPID: Int32?, intervalNanos: Int64, source: String) {
        self.mode = mode
        self.mapsPID = mapsPID
        self.intervalNanos = intervalNanos
        self.source = source
    }

    /// A sample's time before it is placed: absolute nanoseconds for dates, else relative to an unknown origin.
    public var isAbsolute: Bool {
        if case .dates = mode { return true }
        return false
    }

    /// One item of the scanner; samples come out with their raw time in `wallNanos`.
    public mutating func take(_ item: HandLogScanner.Item) -> [CaptureLogParser.Event] {
        var out: [CaptureLogParser.Event] = []
        switch item {
        case .other(let line, let text):
            others += 1
            if others == 1 { (firstOther, firstOtherLine) = (text, line) }
        case .time(let nanos, _, let line):
            guard case .dates(let before) = mode else { break }
            out += mark(nanos, before: before, line: line, carrying: nil)
        case .block(let b):
            switch mode {
            case .dates(let before):
                add(b, before: before)
            case .topClock(let before):
                if b.kind == .top, let c = b.clock {
                    out += mark(clockTime(c), before: before, line: b.firstLine, carrying: b)
                } else {
                    add(b, before: before)
                }
            case .repetition:
                let id = identity(b)
                if lead == nil { lead = id }
                if let p = pending, id == lead || (b.kind != .maps && p.blocks.contains { identity($0) == id }) {
                    pending!.time = index * intervalNanos
                    index += 1
                    out += close()
                }
                if pending == nil { pending = Pending(time: nil, firstLine: b.firstLine) }
                pending!.blocks.append(b)
            }
        }
        return out
    }

    /// The end of the input: the iteration still open is whole only when it has a time and was not cut.
    public mutating func finish() -> [CaptureLogParser.Event] {
        var out: [CaptureLogParser.Event] = []
        if var p = pending {
            if mode == .repetition, p.time == nil {
                p.time = index * intervalNanos
                index += 1
                pending = p
            }
            if p.blocks.contains(where: { $0.cut }) {
                pending = nil
                let what = "the iteration at line \(p.firstLine)"
                out.append(.lost(reason: CaptureLogParser.cutReason, what: what, bytes: 0))
                out.append(.note("\(source): \(what) is left out: the log ends inside it (cut mid-file)"))
            } else if p.time == nil {
                pending = nil
                out.append(.lost(reason: CaptureLogParser.cutReason, what: "the iteration at line \(p.firstLine)", bytes: 0))
                out.append(.note("\(source): the blocks after the last time line (from line \(p.firstLine)) have no time: left out"))
            } else {
                out += close()
            }
        }
        for (path, run) in absent.sorted(by: { $0.key < $1.key }) { out += endAbsence(path, run) }
        absent = [:]
        if unplaced > 0 {
            out.append(.note("\(source): \(unplaced) block(s) before the first time line, from line \(firstUnplaced), cannot be placed in time: left out"))
        }
        if others > 0 {
            out.append(.note("\(source): \(others) line(s) of no recognised shape left out, the first at line \(firstOtherLine): \"\(firstOther)\""))
        }
        if unattributedMaps > 0 {
            out.append(.note("\(source): \(unattributedMaps) maps block(s) of an unknown process left out (give --pid PID to say whose they are)"))
        }
        if emptyTimes > 0 {
            out.append(.note("\(source): \(emptyTimes) time line(s) with no block in their iteration: no sample"))
        }
        if cutBlocks > 0 {
            out.append(.note("\(source): \(cutBlocks) block(s) shorter than the others of their file (cut mid-file) recorded as read errors"))
        }
        for (path, t) in absentTotals.sorted(by: { $0.key < $1.key }) {
            out.append(.note("\(source): \(path) is absent from \(t.count) iteration(s), the first at \(BundleName.timestamp(t.first)): recorded as missing"))
        }
        return out
    }

    /// A time (a date line, or the top screen `block` that carries its clock): it starts the next iteration
    /// (`before`) or ends the one going on.
    private mutating func mark(_ t: Int64, before: Bool, line: Int, carrying block: HandLogScanner.Block?) -> [CaptureLogParser.Event] {
        if before {
            let out = close()
            pending = Pending(time: t, blocks: block.map { [$0] } ?? [], firstLine: line)
            return out
        }
        if pending == nil { pending = Pending(time: nil, firstLine: line) }
        if let b = block { pending!.blocks.append(b) }
        pending!.time = t
        return close()
    }

    /// A block between times: into the iteration going on; before the first time, when times start iterations,
    /// it cannot be placed.
    private mutating func add(_ b: HandLogScanner.Block, before: Bool) {
        if pending == nil {
            if before {
                unplaced(b)
                return
            }
            pending = Pending(time: nil, firstLine: b.firstLine)
        }
        pending!.blocks.append(b)
    }

    private mutating func unplaced(_ b: HandLogScanner.Block) {
        unplaced += 1
        if unplaced == 1 { firstUnplaced = b.firstLine }
    }

    /// Top's clock, seconds of the day, as nanoseconds since the first day's midnight (a clock that goes back by
    /// more than an hour went past midnight).
    private mutating func clockTime(_ c: Int) -> Int64 {
        if let last = lastClock, c + 3600 < last { day += 1 }
        lastClock = c
        return (day * 86_400 + Int64(c)) * 1_000_000_000
    }

    func identity(_ b: HandLogScanner.Block) -> String {
        b.kind.rawValue + (b.pid.map { " \($0)" } ?? "")
    }

    /// The capture path of a block, once its pid is known.
    static func path(_ kind: HandLogScanner.Kind, pid: Int32?) -> String? {
        switch kind {
        case .meminfo: return "/proc/meminfo"
        case .slabinfo: return "/proc/slabinfo"
        case .loadavg: return "/proc/loadavg"
        case .top: return CommandOutputParser.topPath
        case .free: return CommandOutputParser.freePath
        case .status: return pid.map { "/proc/\($0)/status" }
        case .maps: return pid.map { "/proc/\($0)/maps" }
        }
    }

    private mutating func close() -> [CaptureLogParser.Event] {
        guard let p = pending, let raw = p.time else { return [] }
        let time = raw + offsetNanos
        pending = nil
        guard !p.blocks.isEmpty else {
            emptyTimes += 1
            return []
        }
        var out: [CaptureLogParser.Event] = []
        var files: [FileCapture] = []
        var present: Set<String> = []
        for (i, b) in p.blocks.enumerated() {
            var pid = b.pid
            if b.kind == .maps {
                pid = mapsPID ?? Self.owner(ofMapsAt: i, in: p.blocks)
                if pid == nil {
                    unattributedMaps += 1
                    continue
                }
                if mapsPID == nil, !attributedNote {
                    attributedNote = true
                    out.append(.note("\(source): each maps block is read as that of the process whose status in the same iteration gives the VmSize its mappings add up to (give --pid to say otherwise)"))
                }
            }
            guard let path = Self.path(b.kind, pid: pid) else {
                others += 1
                if others == 1 { (firstOther, firstOtherLine) = ("a \(b.kind.rawValue) block without its Pid line", b.firstLine) }
                continue
            }
            guard !present.contains(path) else { continue }  // a repeat inside one iteration: the first stands
            present.insert(path)
            if b.cut || ((b.kind == .meminfo || b.kind == .status) && b.lineCount < usualLines[path, default: 0]) {
                cutBlocks += 1
                files.append(FileCapture(path: path, status: .error))
                continue
            }
            if b.kind == .meminfo || b.kind == .status { usualLines[path] = max(usualLines[path, default: 0], b.lineCount) }
            files.append(FileCapture(path: path, bytes: b.bytes))
        }
        // A file of earlier iterations absent from this one: recorded as missing, and the run of absences as a loss.
        for path in expected.sorted() where !present.contains(path) {
            files.append(FileCapture(path: path, status: .missing))
            absent[path, default: (time, 0)].count += 1
            absentTotals[path, default: (0, time)].count += 1
        }
        for path in present {
            if let run = absent.removeValue(forKey: path) { out += endAbsence(path, run) }
        }
        expected.formUnion(present)
        out.append(.sample(Sample(sequence: sequence, wallNanos: time, monoNanos: 0, files: files)))
        sequence += 1
        return out
    }

    /// The process a maps block belongs to: the status of its iteration whose `VmSize` its mappings add up to
    /// (within 2 % or 1 MiB: the two files are read a moment apart); of several such, the block right before or
    /// after it. Nil when none matches, or several do and neither neighbour is one of them.
    static func owner(ofMapsAt i: Int, in blocks: [HandLogScanner.Block]) -> Int32? {
        let mapped = blocks[i].mappedBytes
        let tolerance = max(mapped / 50, 1 << 20)
        func matches(_ j: Int) -> Bool {
            guard blocks.indices.contains(j), blocks[j].kind == .status, blocks[j].pid != nil, let v = blocks[j].vmSize else { return false }
            return (v > mapped ? v - mapped : mapped - v) <= tolerance
        }
        let candidates = blocks.indices.filter(matches)
        let pids = Set(candidates.compactMap { blocks[$0].pid })
        if pids.count == 1 { return pids.first }
        if matches(i - 1) { return blocks[i - 1].pid }
        if matches(i + 1) { return blocks[i + 1].pid }
        return nil
    }

    private func endAbsence(_ path: String, _ run: (since: Int64, count: Int)) -> [CaptureLogParser.Event] {
        [.lost(reason: CaptureLogParser.missingReason, what: "\(path) from \(BundleName.timestamp(run.since)) (\(run.count) iteration(s))", bytes: 0)]
    }

}
