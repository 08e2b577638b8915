/// One cache (row) of `/proc/slabinfo`.
public struct SlabCache: Sendable, Hashable {
    /// Cache name, e.g. `kmalloc-64`, `task_struct`.
    public var name: String
    /// `active_objs`: objects in use.
    public var activeObjects: UInt64
    /// `num_objs`: objects allocated (in use or free in partial slabs).
    public var objects: UInt64
    /// `objsize`: bytes per object.
    public var objectSize: UInt64
    /// `objperslab`.
    public var objectsPerSlab: UInt64?
    /// `pagesperslab`.
    public var pagesPerSlab: UInt64?
    /// `tunables` `limit` (SLAB only; 0 under SLUB).
    public var limit: UInt64?
    /// `tunables` `batchcount`.
    public var batchCount: UInt64?
    /// `tunables` `sharedfactor`.
    public var sharedFactor: UInt64?
    /// `slabdata` `active_slabs`.
    public var activeSlabs: UInt64?
    /// `slabdata` `num_slabs`.
    public var slabs: UInt64?
    /// `slabdata` `sharedavail`.
    public var sharedAvailable: UInt64?

    /// Creates a row.
    public init(name: String, activeObjects: UInt64, objects: UInt64, objectSize: UInt64) {
        self.name = name
        self.activeObjects = activeObjects
        self.objects = objects
        self.objectSize = objectSize
    }

    /// Bytes held in objects: `num_objs * objsize` (slab overhead excluded); nil when that overflows 64 bits.
    public var objectBytes: UInt64? {
        let (v, overflow) = objects.multipliedReportingOverflow(by: objectSize)
        return overflow ? nil : v
    }

    /// Bytes in objects in use: `active_objs * objsize`; nil when that overflows 64 bits.
    public var activeBytes: UInt64? {
        let (v, overflow) = activeObjects.multipliedReportingOverflow(by: objectSize)
        return overflow ? nil : v
    }

    /// Bytes held in slabs: `num_slabs * pagesperslab * pageSize`, when the row has them and that fits 64 bits.
    public func slabBytes(pageSize: UInt64) -> UInt64? {
        guard let s = slabs, let p = pagesPerSlab else { return nil }
        let (a, o1) = s.multipliedReportingOverflow(by: p)
        let (b, o2) = a.multipliedReportingOverflow(by: pageSize)
        return o1 || o2 ? nil : b
    }
}

/// The parsed `/proc/slabinfo` (root-only, mode 0400).
public struct SlabInfo: Sendable, Hashable {
    /// The version from the `slabinfo - version: 2.1` header, when present.
    public var version: String?
    /// Caches in file order.
    public var caches: [SlabCache]
    /// Lines that were neither headers nor rows.
    public var skippedLines: Int
    /// The first of them, as printed (cut to `UnusableValue.textLimit` bytes).
    public var firstSkippedLine: String?

    /// Creates a value.
    public init(version: String? = nil, caches: [SlabCache] = [], skippedLines: Int = 0) {
        self.version = version
        self.caches = caches
        self.skippedLines = skippedLines
    }

    /// The cache with this name, or nil.
    public func cache(named name: String) -> SlabCache? { caches.first { $0.name == name } }
}

/// Parser for `/proc/slabinfo` version 2.x (mm/slab_common.c).
///
/// Rows: `name active_objs num_objs objsize objperslab pagesperslab : tunables limit batchcount sharedfactor
/// : slabdata active_slabs num_slabs sharedavail`, where `:` stands alone between sections. Sections are read by
/// their keyword; a row needs its name and the first three numbers, everything else is optional.
public enum SlabinfoParser {
    /// Parses the whole file.
    public static func parse(_ bytes: [UInt8]) -> SlabInfo {
        bytes.withUnsafeBufferPointer { buf in
            var info = SlabInfo()
            ProcText.forEachLine(buf) { line in
                let r = ProcText.trimmed(buf, line)
                if r.isEmpty { return }
                if ProcText.hasPrefix(buf, r, "slabinfo - version:") {
                    let v = ProcText.trimmed(buf, (r.lowerBound + 19)..<r.upperBound)
                    info.version = ProcText.string(buf, v)
                    return
                }
                if buf[r.lowerBound] == UInt8(ascii: "#") { return }
                guard let cache = parseRow(buf, r) else {
                    info.skippedLines += 1
                    if info.firstSkippedLine == nil { info.firstSkippedLine = ProcText.excerpt(buf, r) }
                    return
                }
                info.caches.append(cache)
            }
            return info
        }
    }

    static func parseRow(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> SlabCache? {
        let tokens = ProcText.tokens(buf, r)
        // Split into sections at lone ":" tokens.
        var sections: [[Range<Int>]] = [[]]
        for t in tokens {
            if ProcText.equals(buf, t, ":") { sections.append([]) } else { sections[sections.count - 1].append(t) }
        }
        let head = sections[0]
        guard head.count >= 4 else { return nil }
        var numbers: [UInt64] = []
        for t in head.dropFirst() {
            guard let v = ProcText.decimal(buf, t) else { return nil }
            numbers.append(v)
        }
        var c = SlabCache(
            name: ProcText.string(buf, head[0]), activeObjects: numbers[0], objects: numbers[1],
            objectSize: numbers[2])
        c.objectsPerSlab = numbers.count > 3 ? numbers[3] : nil
        c.pagesPerSlab = numbers.count > 4 ? numbers[4] : nil
        for section in sections.dropFirst() {
            guard let keyword = section.first else { continue }
            let values = section.dropFirst().map { ProcText.decimal(buf, $0) }
            func value(_ k: Int) -> UInt64? { k < values.count ? values[k] : nil }
            if ProcText.equals(buf, keyword, "tunables") {
                c.limit = value(0)
                c.batchCount = value(1)
                c.sharedFactor = value(2)
            } else if ProcText.equals(buf, keyword, "slabdata") {
                c.activeSlabs = value(0)
                c.slabs = value(1)
                c.sharedAvailable = value(2)
            }
        }
        return c
    }
}
