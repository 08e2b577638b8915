/// What a `top -b` screen shows: procps-ng's (`top - 01:02:03 up ...`, `MiB Mem :`, a `PID USER ... COMMAND`
/// table) or BusyBox's (`Mem: ...K used`, `PID PPID USER STAT VSZ ... COMMAND`). Hand-made soak logs hold these;
/// `fieldctl import` keeps each one as the capture `command:top`.
public struct TopScreen: Sendable, Hashable {
    /// One process row.
    public struct Row: Sendable, Hashable {
        /// `PID`.
        public var pid: Int32
        /// `COMMAND`: the name, or for BusyBox the command line's first word without its directory.
        public var name: String
        /// `RES` (procps) or `RSS`, bytes.
        public var residentBytes: UInt64?
        /// `VIRT` (procps) or `VSZ` (BusyBox), bytes.
        public var virtualBytes: UInt64?
        /// `nTH` or `NLWP` when the screen has that column.
        public var threads: Int?
    }

    /// The clock in the first line (procps: local time of day), seconds since midnight.
    public var clockSeconds: Int?
    /// Memory in all and memory available (procps `avail Mem`; BusyBox free + buff + cached), bytes.
    public var memoryTotal: UInt64?
    public var memoryAvailable: UInt64?
    /// The process table.
    public var rows: [Row] = []
    /// Table lines that did not parse, and the first of them.
    public var skippedLines = 0
    public var firstSkippedLine: String?
}

/// What `free` prints: the `Mem:` line under its header, in bytes.
public struct FreeOutput: Sendable, Hashable {
    /// `total`.
    public var total: UInt64?
    /// `available`, or on versions without it `free + buffers + cached` (`buff/cache`).
    public var available: UInt64?
}

/// Parsers for the outputs of `top -b` and `free`, the commands soak loops run beside `cat /proc/...`.
public enum CommandOutputParser {
    /// The capture path `fieldctl import` gives a `top -b` screen.
    public static let topPath = "command:top"
    /// The capture path `fieldctl import` gives the output of `free`.
    public static let freePath = "command:free"

    /// The words of one line.
    static func words(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(omittingEmptySubsequences: true) { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    static func equal(_ a: ArraySlice<UInt8>, _ s: StaticString) -> Bool {
        guard a.count == s.utf8CodeUnitCount else { return false }
        var i = a.startIndex
        for k in 0..<s.utf8CodeUnitCount {
            if a[i] != s.utf8Start[k] { return false }
            i += 1
        }
        return true
    }

    static func starts(_ a: ArraySlice<UInt8>, _ s: StaticString) -> Bool {
        guard a.count >= s.utf8CodeUnitCount else { return false }
        var i = a.startIndex
        for k in 0..<s.utf8CodeUnitCount {
            if a[i] != s.utf8Start[k] { return false }
            i += 1
        }
        return true
    }

    /// A decimal count (`123`), nil otherwise.
    static func integer(_ w: ArraySlice<UInt8>) -> UInt64? {
        guard !w.isEmpty, w.count <= 19 else { return nil }
        var v: UInt64 = 0
        for b in w {
            guard b >= 0x30, b <= 0x39 else { return nil }
            v = v * 10 + UInt64(b - 0x30)
        }
        return v
    }

    /// A size as these commands print it: `1234` in `unit` bytes, or with a suffix (`1.5g`, `512m`, `980Ki`,
    /// `7.8Gi`, `12B`) in the suffix's unit. Nil when it is not a size or its bytes overflow 64 bits.
    static func size(_ w: ArraySlice<UInt8>, unit: UInt64) -> UInt64? {
        var i = w.startIndex
        var whole: UInt64 = 0
        var digits = 0
        while i < w.endIndex, w[i] >= 0x30, w[i] <= 0x39 {
            let (m, o1) = whole.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(w[i] - 0x30))
            if o1 || o2 { return nil }
            whole = a
            digits += 1
            i += 1
        }
        guard digits > 0 else { return nil }
        // A fraction: at most three digits count, as thousandths.
        var thousandths: UInt64 = 0
        if i < w.endIndex, w[i] == 0x2E || w[i] == 0x2C {
            i += 1
            var scale: UInt64 = 100
            while i < w.endIndex, w[i] >= 0x30, w[i] <= 0x39 {
                thousandths += UInt64(w[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
        }
        var multiplier = unit
        if i < w.endIndex {
            var power: UInt64
            switch w[i] | 0x20 {
            case 0x62: power = 0  // b
            case 0x6B: power = 1  // k
            case 0x6D: power = 2  // m
            case 0x67: power = 3  // g
            case 0x74: power = 4  // t
            case 0x70: power = 5  // p
            default: return nil
            }
            i += 1
            // `Ki`, `KiB`, `kB`, `K`: all binary multiples here, as both tools mean them.
            while i < w.endIndex, w[i] | 0x20 == 0x69 || w[i] | 0x20 == 0x62 { i += 1 }
            guard i == w.endIndex else { return nil }
            multiplier = 1
            while power > 0 {
                let (m, o) = multiplier.multipliedReportingOverflow(by: 1024)
                if o { return nil }
                multiplier = m
                power -= 1
            }
        }
        let (a, o1) = whole.multipliedReportingOverflow(by: multiplier)
        let (f, o2) = (thousandths).multipliedReportingOverflow(by: multiplier)
        let (s, o3) = a.addingReportingOverflow(f / 1000)
        return o1 || o2 || o3 ? nil : s
    }

    /// `HH:MM:SS` (a fraction after it, `.123`, is dropped) -> seconds since midnight. Also what `fieldctl import`
    /// reads the clock of a hand-made log's `date` lines with.
    public static func clock(_ w: ArraySlice<UInt8>) -> Int? {
        let whole = w.firstIndex(of: 0x2E).map { w[..<$0] } ?? w
        let parts = whole.split(separator: 0x3A, omittingEmptySubsequences: false)
        guard parts.count == 3, let h = integer(parts[0]), let m = integer(parts[1]), let s = integer(parts[2]),
            parts[1].count == 2, parts[2].count == 2, h < 24, m < 60, s < 61
        else { return nil }
        return Int(h) * 3600 + Int(m) * 60 + Int(s)
    }

    /// A `top -b` screen (one iteration).
    public static func parseTop(_ bytes: [UInt8]) -> TopScreen {
        var screen = TopScreen()
        var columns: [ArraySlice<UInt8>]?
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
            let w = words(line)
            guard let first = w.first else { continue }
            if let cols = columns {
                guard let row = topRow(w, columns: cols) else {
                    screen.skippedLines += 1
                    if screen.firstSkippedLine == nil { screen.firstSkippedLine = String(decoding: line.prefix(60), as: UTF8.self) }
                    continue
                }
                screen.rows.append(row)
                continue
            }
            if equal(first, "top"), w.count > 2, equal(w[1], "-") {
                screen.clockSeconds = clock(w[2])
            } else if w.count > 2, equal(w[1], "Mem") || equal(w[1], "Mem:"), let unit = summaryUnit(first) {
                // procps: "MiB Mem :  7953.5 total,  1234.5 free, ..."
                screen.memoryTotal = value(before: "total", in: w, unit: unit)
            } else if w.count > 2, equal(w[1], "Swap:") || equal(w[1], "Swap"), let unit = summaryUnit(first) {
                // "... used.   6543.2 avail Mem"
                if let i = w.firstIndex(where: { equal($0, "avail") }), i > 0 { screen.memoryAvailable = size(w[i - 1], unit: unit) }
            } else if equal(first, "Mem:"), w.count > 3 {
                // BusyBox: "Mem: 1234K used, 5678K free, 0K shrd, 12K buff, 345K cached"
                let used = value(before: "used,", in: w, unit: 1024)
                let free = value(before: "free,", in: w, unit: 1024)
                if let u = used, let f = free {
                    screen.memoryTotal = u &+ f
                    screen.memoryAvailable = f &+ (value(before: "buff,", in: w, unit: 1024) ?? 0) &+ (value(before: "cached", in: w, unit: 1024) ?? 0)
                }
            } else if w.contains(where: { equal($0, "PID") }), w.contains(where: { equal($0, "COMMAND") || equal($0, "CMD") }) {
                columns = w
            }
        }
        return screen
    }

    /// The unit of a procps summary line's first word (`KiB`, `MiB`, `GiB`, `TiB`, `PiB`, `EiB`).
    static func summaryUnit(_ w: ArraySlice<UInt8>) -> UInt64? {
        guard w.count == 3, w[w.startIndex + 1] == 0x69, w[w.startIndex + 2] == 0x42 else { return nil }
        switch w[w.startIndex] {
        case 0x4B: return 1 << 10
        case 0x4D: return 1 << 20
        case 0x47: return 1 << 30
        case 0x54: return 1 << 40
        case 0x50: return 1 << 50
        default: return nil
        }
    }

    /// The size just before the word `label` (`7953.5 total,`).
    static func value(before label: StaticString, in w: [ArraySlice<UInt8>], unit: UInt64) -> UInt64? {
        guard w.count > 1 else { return nil }
        for i in 1..<w.count where equal(w[i], label) || (starts(w[i], label) && w[i].count == label.utf8CodeUnitCount + 1) {
            return size(w[i - 1], unit: unit)
        }
        return nil
    }

    static func topRow(_ w: [ArraySlice<UInt8>], columns: [ArraySlice<UInt8>]) -> TopScreen.Row? {
        guard let pidAt = columns.firstIndex(where: { equal($0, "PID") }),
            let commandAt = columns.firstIndex(where: { equal($0, "COMMAND") || equal($0, "CMD") }),
            w.count > commandAt, let pid = integer(w[pidAt]), pid > 0, pid <= UInt64(Int32.max)
        else { return nil }
        // Columns before COMMAND are one word each.
        var name = w[commandAt]
        if columns.contains(where: { equal($0, "VIRT") }), w.count > commandAt + 1 {
            // procps shows the program's name, which may hold spaces ("Web Content"): the rest of the line.
            var joined: [UInt8] = []
            for word in w[commandAt...] {
                if !joined.isEmpty { joined.append(0x20) }
                joined += word
            }
            return row(w, columns: columns, pid: pid, name: String(decoding: joined, as: UTF8.self))
        }
        if name.first == 0x7B {
            // BusyBox shows a thread or a renamed process as "{name} args".
            name = name.dropFirst()
            if let close = name.firstIndex(of: 0x7D) { name = name[..<close] }
        } else if let slash = name.lastIndex(of: 0x2F), slash < name.endIndex - 1, name.first == 0x2F {
            name = name[(slash + 1)...]
        }
        return row(w, columns: columns, pid: pid, name: String(decoding: name, as: UTF8.self))
    }

    static func row(_ w: [ArraySlice<UInt8>], columns: [ArraySlice<UInt8>], pid: UInt64, name: String) -> TopScreen.Row? {
        guard let commandAt = columns.firstIndex(where: { equal($0, "COMMAND") || equal($0, "CMD") }) else { return nil }
        func column(_ names: StaticString...) -> ArraySlice<UInt8>? {
            guard let i = columns.firstIndex(where: { c in names.contains { equal(c, $0) } }), i < commandAt else { return nil }
            return w[i]
        }
        var row = TopScreen.Row(pid: Int32(pid), name: name)
        if let r = column("RES", "RSS") {
            row.residentBytes = size(r, unit: 1024)
            if row.residentBytes == nil { return nil }
        }
        if let v = column("VIRT", "VSZ") {
            row.virtualBytes = size(v, unit: 1024)
            if row.virtualBytes == nil { return nil }
        }
        if let t = column("nTH", "NLWP", "THR") {
            guard let n = integer(t), n <= UInt64(Int32.max) else { return nil }
            row.threads = Int(n)
        }
        return row
    }

    /// The output of `free` (any of its unit flags but `--si`: numbers without a suffix are read as KiB, the
    /// default; `free -m` and `free -g` print no unit and cannot be told apart from it).
    public static func parseFree(_ bytes: [UInt8]) -> FreeOutput {
        var out = FreeOutput()
        var header: [ArraySlice<UInt8>]?
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
            let w = words(line)
            guard let first = w.first else { continue }
            if equal(first, "total") {
                header = w
                continue
            }
            guard equal(first, "Mem:"), let h = header else { continue }
            func column(_ name: StaticString) -> UInt64? {
                guard let i = h.firstIndex(where: { equal($0, name) }), i + 1 < w.count else { return nil }
                return size(w[i + 1], unit: 1024)
            }
            out.total = column("total")
            if let a = column("available") {
                out.available = a
            } else if let f = column("free") {
                out.available = f &+ (column("buff/cache") ?? 0) &+ (column("buffers") ?? 0) &+ (column("cached") ?? 0)
            }
        }
        return out
    }
}
