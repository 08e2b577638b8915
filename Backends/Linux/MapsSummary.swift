/// What a process's mappings say about thread stacks, heap, anonymous and shared memory.
///
/// Stack-like regions are recognised by layout, whatever the stack size: a private `rw-p` anonymous region
/// with a `---p` anonymous guard directly below it (glibc, musl and Bionic put the guard below the stack;
/// reference/linux-procfs.md). glibc's malloc arenas have their `---p` reserve *above*, so they do not match.
/// Labelled stacks (`[stack:TID]` on 3.4-4.4 kernels, glibc's and Bionic's decorations) count whatever the layout.
public struct MapsSummary: Sendable, Hashable {
    /// Regions that look like thread stacks (labelled or by layout); the main thread's `[stack]` is not one.
    public var stackLikeRegions: Int
    /// Their total size.
    public var stackLikeBytes: UInt64
    /// The most common stack-like region size (the threads' stack size), 0 when there is none.
    public var typicalStackSize: UInt64
    /// Stacks glibc labels as cached (`[anon: glibc: unused stack]`).
    public var cachedStacks: Int
    /// `[heap]` bytes plus glibc malloc arenas (the heaps of other threads).
    public var heapBytes: UInt64
    /// How many glibc malloc arenas (besides `[heap]`).
    public var arenas: Int
    /// Other private anonymous bytes (not stacks, not heap, not guards).
    public var anonymousBytes: UInt64
    /// SysV, memfd, `/dev/shm`, shared anonymous and device mappings.
    public var sharedBytes: UInt64
    /// How many such shared mappings.
    public var sharedMappings: Int
    /// Number of mappings (what `vm.max_map_count` limits).
    public var mapCount: Int
    /// Total virtual size.
    public var virtualBytes: UInt64
    /// End of the highest mapping: below 2^32 means a 32-bit address space (3 GiB of it for the user on most
    /// 32-bit kernels).
    public var highestAddress: UInt64
    /// The sizes add up to more than 64 bits can count: mappings overlap, so the file is not what the kernel
    /// prints (its mappings lie in one address space); the byte totals above are then meaningless.
    public var overflows: Bool

    /// Summarises parsed maps.
    public init(_ maps: ProcessMaps) {
        var stackRegions = 0, cached = 0, shared = 0, arenaCount = 0
        var stackBytes: UInt64 = 0, heap: UInt64 = 0, anon: UInt64 = 0, sharedTotal: UInt64 = 0, total: UInt64 = 0
        var sizes: [UInt64: Int] = [:]
        var overflow = false
        func add(_ v: UInt64, to sum: inout UInt64) {
            let (s, o) = sum.addingReportingOverflow(v)
            sum = s
            if o { overflow = true }
        }
        let m = maps.mappings
        for (i, r) in m.enumerated() {
            add(r.size, to: &total)
            let rw = r.permissions.contains(.read) && r.permissions.contains(.write) && !r.permissions.contains(.shared)
            switch r.kind {
            case .labelledThreadStack:
                stackRegions += 1
                add(r.size, to: &stackBytes)
                sizes[r.size, default: 0] += 1
            case .cachedThreadStack:
                cached += 1
            case .heap:
                add(r.size, to: &heap)
            case .anonymous where rw:
                let guardBelow = i > 0 && m[i - 1].end == r.start && m[i - 1].permissions.isEmpty
                    && m[i - 1].kind == .anonymous && m[i - 1].size <= 1 << 20
                // A glibc arena: used part rw-p at the low end, its `---p` reserve directly above, the two together
                // one aligned power-of-two block (HEAP_MAX_SIZE: 64 MiB on 64-bit; arena.c new_heap).
                let reserveAbove = i + 1 < m.count && m[i + 1].start == r.end && m[i + 1].permissions.isEmpty && m[i + 1].kind == .anonymous
                let block = r.size &+ (reserveAbove ? m[i + 1].size : 0)
                let isArena = reserveAbove && block >= 1 << 20 && block & (block - 1) == 0 && r.start % block == 0
                if guardBelow {
                    stackRegions += 1
                    add(r.size, to: &stackBytes)
                    sizes[r.size, default: 0] += 1
                } else if isArena {
                    arenaCount += 1
                    add(r.size, to: &heap)
                } else {
                    add(r.size, to: &anon)
                }
            case .sysvShm, .memfd, .posixShm, .sharedAnonymous, .deviceMapping:
                shared += 1
                add(r.size, to: &sharedTotal)
            default:
                break
            }
        }
        stackLikeRegions = stackRegions
        stackLikeBytes = stackBytes
        typicalStackSize = sizes.max { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }?.key ?? 0
        cachedStacks = cached
        heapBytes = heap
        arenas = arenaCount
        anonymousBytes = anon
        sharedBytes = sharedTotal
        sharedMappings = shared
        mapCount = m.count
        virtualBytes = total
        highestAddress = m.map { $0.end }.max() ?? 0
        overflows = overflow
    }
}
