/// Access rights of a mapping, from the four-letter `rwxp`/`rwxs` column.
public struct MappingPermissions: OptionSet, Sendable, Hashable {
    /// The raw bit set.
    public let rawValue: UInt8

    /// Creates permissions from raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `r`: readable.
    public static let read = MappingPermissions(rawValue: 1 << 0)
    /// `w`: writable.
    public static let write = MappingPermissions(rawValue: 1 << 1)
    /// `x`: executable.
    public static let execute = MappingPermissions(rawValue: 1 << 2)
    /// `s`: shared (`MAP_SHARED`); `p` (private, copy-on-write) is its absence.
    public static let shared = MappingPermissions(rawValue: 1 << 3)

    /// The column as the kernel prints it, e.g. `rw-p`.
    public var text: String {
        (contains(.read) ? "r" : "-") + (contains(.write) ? "w" : "-") + (contains(.execute) ? "x" : "-")
            + (contains(.shared) ? "s" : "p")
    }
}

/// A device number as `maps` prints it (`fd:01`: major and minor in hex).
public struct DeviceNumber: Sendable, Hashable {
    /// Major number.
    public var major: UInt32
    /// Minor number.
    public var minor: UInt32

    /// Creates a device number.
    public init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }
}

/// What a mapping is, judged from its name (the detectors count and size mappings per kind).
public enum MappingKind: Sendable, Hashable {
    /// No name: private anonymous memory (malloc arenas, mmap'd buffers, unnamed thread stacks).
    case anonymous
    /// `[heap]`: the brk area.
    case heap
    /// `[stack]`: the main thread's stack (only the main thread's, whatever the kernel version).
    case mainStack
    /// A thread stack that names its thread: `[stack:TID]` (kernels 3.4 to 4.4), glibc's decorated
    /// `[anon: glibc: pthread stack: TID]`, Bionic's `[anon:stack_and_tls:TID]`.
    case labelledThreadStack(tid: Int32)
    /// `[anon: glibc: unused stack]`: a stack glibc keeps in its cache after a join or detach (not a leak).
    case cachedThreadStack
    /// `[anon:NAME]` (5.17+, `PR_SET_VMA_ANON_NAME`) or `[anon_shmem:NAME]` (6.2+); the payload is NAME.
    case anonymousNamed(String)
    /// A mapped file (the path as printed; `\012` escapes kept).
    case file(String)
    /// SysV shared memory, `/SYSV%08x (deleted)`; the payload is the IPC key.
    case sysvShm(key: UInt32)
    /// A `memfd_create` region, `/memfd:NAME (deleted)`; the payload is NAME.
    case memfd(String)
    /// POSIX shared memory: a file under `/dev/shm/` (`shm_open`).
    case posixShm(String)
    /// Shared anonymous memory: `/dev/zero (deleted)` (`MAP_SHARED|MAP_ANONYMOUS`) or `/anon_hugepage (deleted)`.
    case sharedAnonymous
    /// A device mapped into memory: a path under `/dev/` other than `/dev/zero` and `/dev/shm/`.
    case deviceMapping(String)
    /// A kernel-provided area: `[vdso]`, `[vvar]`, `[vvar_vclock]`, `[vsyscall]`, `[sigpage]`, `[vectors]`, any
    /// other bracketed name (payload without brackets), or a name that is not a path (`anon_inode:...`).
    case special(String)
}

/// One line of `/proc/<pid>/maps`: a virtual memory area.
public struct MemoryMapping: Sendable, Hashable {
    /// First address.
    public var start: UInt64
    /// One past the last address.
    public var end: UInt64
    /// `rwxp`/`rwxs`.
    public var permissions: MappingPermissions
    /// Offset into the file (or page offset for anonymous areas).
    public var offset: UInt64
    /// Device of the mapped file (`00:00` for anonymous areas).
    public var device: DeviceNumber
    /// Inode of the mapped file (0 for anonymous areas).
    public var inode: UInt64
    /// The name as printed, without leading padding and without a trailing ` (deleted)`; empty when anonymous.
    public var name: String
    /// The name ended with ` (deleted)`: the file was unlinked (always so for SysV shm, memfd, `/dev/zero`).
    public var deleted: Bool
    /// The classification of `name`.
    public var kind: MappingKind

    /// Creates a mapping.
    public init(
        start: UInt64, end: UInt64, permissions: MappingPermissions, offset: UInt64 = 0,
        device: DeviceNumber = DeviceNumber(major: 0, minor: 0), inode: UInt64 = 0, name: String = "",
        deleted: Bool = false, kind: MappingKind? = nil
    ) {
        self.start = start
        self.end = end
        self.permissions = permissions
        self.offset = offset
        self.device = device
        self.inode = inode
        self.name = name
        self.deleted = deleted
        self.kind = kind ?? MapsParser.classify(name: name)
    }

    /// Size in bytes.
    public var size: UInt64 { end &- start }
}

/// The parsed `/proc/<pid>/maps` of one process.
public struct ProcessMaps: Sendable, Hashable {
    /// The mappings in address order (the kernel's order).
    public var mappings: [MemoryMapping]
    /// Lines that did not parse (truncated last line, garbage).
    public var skippedLines: Int
    /// The first of them, as printed (cut to `UnusableValue.textLimit` bytes).
    public var firstSkippedLine: String?

    /// Creates a result.
    public init(mappings: [MemoryMapping] = [], skippedLines: Int = 0) {
        self.mappings = mappings
        self.skippedLines = skippedLines
    }

    /// Sum of all mapping sizes: the process's virtual size as maps sees it.
    public var totalSize: UInt64 { mappings.reduce(0) { $0 &+ $1.size } }
}

/// Parser for `/proc/<pid>/maps` (fs/proc/task_mmu.c `show_map_vma`).
///
/// Format: `%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu ` then, when there is a name, padding (one space on very old
/// kernels, spaces up to a fixed column on newer ones) and the name. `seq_path` escapes a newline in a path as
/// `\012`, so a line never breaks inside a name, but a name may contain spaces. Addresses have 8 hex digits on
/// 32-bit kernels and up to 16 on 64-bit ones. A process can have 65530 mappings (`vm.max_map_count`) or more, so
/// this works on bytes and makes one String per distinct run of names.
public enum MapsParser {
    /// Parses a whole maps file.
    public static func parse(_ bytes: [UInt8]) -> ProcessMaps {
        bytes.withUnsafeBufferPointer { parse(buffer: $0) }
    }

    /// Parses a whole maps file from raw memory (e.g. a read buffer), without copying it first.
    public static func parse(_ buffer: UnsafeRawBufferPointer) -> ProcessMaps {
        buffer.withMemoryRebound(to: UInt8.self) { parse(buffer: $0) }
    }

    /// Parses one line (without its newline); nil when it does not have the maps shape.
    public static func parseLine(_ line: [UInt8]) -> MemoryMapping? {
        line.withUnsafeBufferPointer { buf in
            var cache = NameCache()
            return parseLine(buf, 0..<buf.count, &cache)
        }
    }

    /// Classifies a mapping name as printed, without its ` (deleted)` suffix.
    public static func classify(name: String) -> MappingKind {
        Array(name.utf8).withUnsafeBufferPointer { classify($0, 0..<$0.count, name: name) }
    }

    static func parse(buffer buf: UnsafeBufferPointer<UInt8>) -> ProcessMaps {
        var result = ProcessMaps()
        result.mappings.reserveCapacity(ProcText.countNewlines(buf) + 1)
        var cache = NameCache()
        ProcText.forEachLine(buf) { line in
            if ProcText.trimmed(buf, line).isEmpty { return }
            if let m = parseLine(buf, line, &cache) {
                result.mappings.append(m)
            } else {
                result.skippedLines += 1
                if result.firstSkippedLine == nil { result.firstSkippedLine = ProcText.excerpt(buf, line) }
            }
        }
        return result
    }

    /// Consecutive lines often name the same file (one per segment) or stack; reuse the last String and kind.
    struct NameCache {
        var range: Range<Int> = 0..<0
        var name = ""
        var kind = MappingKind.anonymous
        var valid = false
    }

    @inline(__always)
    static func parseLine(_ buf: UnsafeBufferPointer<UInt8>, _ line: Range<Int>, _ cache: inout NameCache)
        -> MemoryMapping?
    {
        let end = line.upperBound
        var i = line.lowerBound

        // Reads up to (not including) `stop` or a blank, returning the range; i ends on the stop byte.
        @inline(__always) func field(until stop: UInt8) -> Range<Int> {
            let s = i
            while i < end && buf[i] != stop && !ProcText.isBlank(buf[i]) { i += 1 }
            return s..<i
        }
        @inline(__always) func skipBlanks() -> Bool {
            let s = i
            while i < end && ProcText.isBlank(buf[i]) { i += 1 }
            return i > s
        }

        guard let start = ProcText.hex(buf, field(until: UInt8(ascii: "-"))), i < end,
            buf[i] == UInt8(ascii: "-")
        else { return nil }
        i += 1
        guard let stop = ProcText.hex(buf, field(until: ProcText.space)), stop >= start, skipBlanks() else {
            return nil
        }

        let permsRange = field(until: ProcText.space)
        guard permsRange.count == 4, skipBlanks() else { return nil }
        var perms = MappingPermissions()
        let p = permsRange.lowerBound
        if buf[p] == UInt8(ascii: "r") { perms.insert(.read) }
        if buf[p + 1] == UInt8(ascii: "w") { perms.insert(.write) }
        if buf[p + 2] == UInt8(ascii: "x") { perms.insert(.execute) }
        if buf[p + 3] == UInt8(ascii: "s") { perms.insert(.shared) }

        guard let offset = ProcText.hex(buf, field(until: ProcText.space)), skipBlanks() else { return nil }

        guard let major = ProcText.hex(buf, field(until: ProcText.colon)), i < end, buf[i] == ProcText.colon
        else { return nil }
        i += 1
        guard let minor = ProcText.hex(buf, field(until: ProcText.space)), major <= UInt32.max, minor <= UInt32.max
        else { return nil }
        guard skipBlanks() else { return nil }

        guard let inode = ProcText.decimal(buf, field(until: ProcText.space)) else { return nil }
        if i < end && !skipBlanks() { return nil }

        // The rest is the name. Anonymous lines end right after the inode (older kernels add a blank).
        var nameRange = i..<end
        var deleted = false
        if ProcText.hasSuffix(buf, nameRange, " (deleted)") {
            deleted = true
            nameRange = nameRange.lowerBound..<(nameRange.upperBound - 10)
        }

        let name: String
        let kind: MappingKind
        if nameRange.isEmpty {
            name = ""
            kind = .anonymous
        } else if cache.valid && cache.range.count == nameRange.count
            && equalBytes(buf, cache.range.lowerBound, nameRange.lowerBound, nameRange.count)
        {
            name = cache.name
            kind = cache.kind
            cache.range = nameRange
        } else {
            name = ProcText.string(buf, nameRange)
            kind = classify(buf, nameRange, name: name)
            cache = NameCache(range: nameRange, name: name, kind: kind, valid: true)
        }

        return MemoryMapping(
            start: start, end: stop, permissions: perms, offset: offset,
            device: DeviceNumber(major: UInt32(major), minor: UInt32(minor)), inode: inode, name: name,
            deleted: deleted, kind: kind)
    }

    @inline(__always)
    static func equalBytes(_ buf: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int, _ n: Int) -> Bool {
        var k = 0
        while k < n {
            if buf[a + k] != buf[b + k] { return false }
            k += 1
        }
        return true
    }

    /// Classifies the name bytes `r` of `buf`; `name` is the same text as a String.
    static func classify(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, name: String) -> MappingKind {
        guard let first = r.first else { return .anonymous }
        if buf[first] == UInt8(ascii: "[") {
            if ProcText.equals(buf, r, "[heap]") { return .heap }
            if ProcText.equals(buf, r, "[stack]") { return .mainStack }
            guard ProcText.hasSuffix(buf, r, "]") else { return .special(name) }
            let inner = (first + 1)..<(r.upperBound - 1)
            // fs/proc/task_mmu.c (3.4-4.4): "[stack:%d]" for a stack VMA that is some thread's current stack.
            if ProcText.hasPrefix(buf, inner, "stack:") {
                if let tid = tid(buf, (inner.lowerBound + 6)..<inner.upperBound) {
                    return .labelledThreadStack(tid: tid)
                }
                return .special(ProcText.string(buf, inner))
            }
            if ProcText.hasPrefix(buf, inner, "anon:") {
                let label = (inner.lowerBound + 5)..<inner.upperBound
                return classifyAnonLabel(buf, label)
            }
            if ProcText.hasPrefix(buf, inner, "anon_shmem:") {
                return .anonymousNamed(ProcText.string(buf, (inner.lowerBound + 11)..<inner.upperBound))
            }
            return .special(ProcText.string(buf, inner))
        }
        if buf[first] != UInt8(ascii: "/") { return .special(name) }
        // ipc/shm.c names the backing file "SYSV%08x" after the key.
        if ProcText.hasPrefix(buf, r, "/SYSV"), r.count <= 13, r.count > 5,
            let key = ProcText.hex(buf, (first + 5)..<r.upperBound)
        {
            return .sysvShm(key: UInt32(truncatingIfNeeded: key))
        }
        // mm/memfd.c prefixes the user's name with "memfd:".
        if ProcText.hasPrefix(buf, r, "/memfd:") { return .memfd(ProcText.string(buf, (first + 7)..<r.upperBound)) }
        // mm/shmem.c shmem_zero_setup backs shared anonymous memory with a file named "dev/zero";
        // hugetlb does the same with "anon_hugepage".
        if ProcText.equals(buf, r, "/dev/zero") || ProcText.equals(buf, r, "/anon_hugepage") { return .sharedAnonymous }
        if ProcText.hasPrefix(buf, r, "/dev/shm/") { return .posixShm(name) }
        if ProcText.hasPrefix(buf, r, "/dev/") { return .deviceMapping(name) }
        return .file(name)
    }

    /// `[anon:LABEL]`: glibc >= 2.39 labels (with a leading space) its stacks and arenas, Bionic its stacks.
    static func classifyAnonLabel(_ buf: UnsafeBufferPointer<UInt8>, _ label: Range<Int>) -> MappingKind {
        var l = label
        while let f = l.first, buf[f] == ProcText.space { l = (f + 1)..<l.upperBound }
        // glibc nptl/nptl-stack.c: " glibc: pthread stack: %u" while in use, " glibc: unused stack" in the cache.
        if ProcText.hasPrefix(buf, l, "glibc: pthread stack: "),
            let tid = tid(buf, (l.lowerBound + 22)..<l.upperBound)
        {
            return .labelledThreadStack(tid: tid)
        }
        if ProcText.equals(buf, l, "glibc: unused stack") { return .cachedThreadStack }
        // Bionic pthread_create.cpp: "stack_and_tls:%d".
        if ProcText.hasPrefix(buf, l, "stack_and_tls:"), let tid = tid(buf, (l.lowerBound + 14)..<l.upperBound) {
            return .labelledThreadStack(tid: tid)
        }
        return .anonymousNamed(ProcText.string(buf, label))
    }

    static func tid(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Int32? {
        guard let v = ProcText.decimal(buf, r), v <= UInt64(Int32.max) else { return nil }
        return Int32(v)
    }
}
