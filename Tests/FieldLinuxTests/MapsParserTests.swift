import FieldLinux
import Testing

@Suite struct MapsParserTests {
    /// A 64-bit process on a recent kernel with glibc's decorated maps, written to hit every name class.
    static let modern = """
        55d0c8a00000-55d0c8a02000 r--p 00000000 08:01 1311042                    /usr/bin/my daemon
        55d0c8a02000-55d0c8a08000 r-xp 00002000 08:01 1311042                    /usr/bin/my daemon
        55d0c9e1b000-55d0c9e3c000 rw-p 00000000 00:00 0                          [heap]
        7f1c2c000000-7f1c2c021000 rw-p 00000000 00:00 0\u{20}
        7f1c2c021000-7f1c30000000 ---p 00000000 00:00 0
        7f1c33dff000-7f1c33e00000 ---p 00000000 00:00 0
        7f1c33e00000-7f1c34600000 rw-p 00000000 00:00 0                          [anon: glibc: pthread stack: 4242]
        7f1c34600000-7f1c34e00000 rw-p 00000000 00:00 0                          [anon: glibc: unused stack]
        7f1c35000000-7f1c35800000 rw-p 00000000 00:00 0                          [stack:4243]
        7f1c36000000-7f1c36100000 rw-s 00000000 00:01 32768                      /SYSV0000beef (deleted)
        7f1c36100000-7f1c36200000 rw-s 00000000 00:01 1025                       /memfd:wayland shm (deleted)
        7f1c36200000-7f1c36300000 rw-s 00000000 00:01 1026                       /dev/zero (deleted)
        7f1c36300000-7f1c36400000 rw-s 00000000 00:05 1027                       /dev/shm/ring buffer
        7f1c36400000-7f1c36500000 rw-s 10000000 00:06 501                        /dev/dri/card0
        7f1c36500000-7f1c36600000 r--p 00000000 08:01 777                        /tmp/new\\012line.so (deleted)
        7f1c36600000-7f1c36700000 rw-p 00000000 00:00 0                          [anon:dalvik-main space]
        7f1c36700000-7f1c36800000 rw-s 00000000 00:01 4                          [anon_shmem:ring]
        7f1c36800000-7f1c36900000 rw-p 00000000 00:00 0                          [anon:stack_and_tls:5001]
        7f1c36900000-7f1c36a00000 rw-p 00000000 00:00 0                          [anon: glibc: malloc arena]
        7f1c36a00000-7f1c36a01000 rw-s 00000000 00:0e 9                          anon_inode:[perf_event]
        7ffd5a1e3000-7ffd5a204000 rw-p 00000000 00:00 0                          [stack]
        7ffd5a2d0000-7ffd5a2d4000 r--p 00000000 00:00 0                          [vvar]
        7ffd5a2d4000-7ffd5a2d6000 r-xp 00000000 00:00 0                          [vdso]
        ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]

        """

    @Test func parsesEveryFieldOfALine() throws {
        let maps = MapsParser.parse(bytes(Self.modern))
        #expect(maps.skippedLines == 0)
        #expect(maps.mappings.count == 24)
        let first = try #require(maps.mappings.first)
        #expect(first.start == 0x55d0_c8a0_0000 && first.end == 0x55d0_c8a0_2000 && first.size == 0x2000)
        #expect(first.permissions == [.read])
        #expect(first.offset == 0 && first.inode == 1_311_042)
        #expect(first.device == DeviceNumber(major: 8, minor: 1))
        #expect(maps.mappings[1].permissions == [.read, .execute] && maps.mappings[1].offset == 0x2000)
        #expect(maps.mappings[1].permissions.text == "r-xp")
        let device = maps.mappings[13]
        #expect(device.permissions == [.read, .write, .shared] && device.offset == 0x1000_0000)
        #expect(device.permissions.text == "rw-s")
        let last = try #require(maps.mappings.last)
        #expect(last.start == 0xffff_ffff_ff60_0000 && last.permissions == [.execute])
    }

    @Test func namesKeepSpacesAndEscapesAndLoseTheirPadding() {
        let maps = MapsParser.parse(bytes(Self.modern)).mappings
        #expect(maps[0].name == "/usr/bin/my daemon" && maps[0].kind == .file("/usr/bin/my daemon"))
        #expect(maps[0].name == maps[1].name)
        #expect(maps[14].name == "/tmp/new\\012line.so" && maps[14].deleted)
        #expect(maps[14].kind == .file("/tmp/new\\012line.so"))
        // Anonymous, with and without the trailing blank some kernels print after the inode.
        #expect(maps[3].name.isEmpty && maps[3].kind == .anonymous && !maps[3].deleted)
        #expect(maps[4].name.isEmpty && maps[4].kind == .anonymous)
    }

    @Test func classifiesEveryKindOfName() {
        let kinds = MapsParser.parse(bytes(Self.modern)).mappings.map(\.kind)
        #expect(kinds[2] == .heap)
        #expect(kinds[6] == .labelledThreadStack(tid: 4242))
        #expect(kinds[7] == .cachedThreadStack)
        #expect(kinds[8] == .labelledThreadStack(tid: 4243))
        #expect(kinds[9] == .sysvShm(key: 0xbeef))
        #expect(kinds[10] == .memfd("wayland shm"))
        #expect(kinds[11] == .sharedAnonymous)
        #expect(kinds[12] == .posixShm("/dev/shm/ring buffer"))
        #expect(kinds[13] == .deviceMapping("/dev/dri/card0"))
        #expect(kinds[15] == .anonymousNamed("dalvik-main space"))
        #expect(kinds[16] == .anonymousNamed("ring"))
        #expect(kinds[17] == .labelledThreadStack(tid: 5001))
        #expect(kinds[18] == .anonymousNamed(" glibc: malloc arena"))
        #expect(kinds[19] == .special("anon_inode:[perf_event]"))
        #expect(kinds[20] == .mainStack)
        #expect(kinds[21] == .special("vvar") && kinds[22] == .special("vdso") && kinds[23] == .special("vsyscall"))
    }

    @Test func deletedSuffixIsAFlagNotPartOfTheName() {
        let maps = MapsParser.parse(bytes(Self.modern)).mappings
        #expect(maps[9].name == "/SYSV0000beef" && maps[9].deleted)
        #expect(maps[10].name == "/memfd:wayland shm" && maps[10].deleted)
        #expect(maps[11].name == "/dev/zero" && maps[11].deleted)
        #expect(!maps[12].deleted && !maps[2].deleted)
    }

    @Test func reads32BitArmMapsWithLabelledStacks() {
        // A 3.x ARM board: 8-digit addresses, [stack:TID] thread stacks, [sigpage] and [vectors].
        let text = """
            00008000-00010000 r-xp 00000000 1f:03 412        /usr/bin/app
            00018000-00019000 rw-p 00008000 1f:03 412        /usr/bin/app
            00019000-0003a000 rw-p 00000000 00:00 0          [heap]
            b6d00000-b6d21000 rw-p 00000000 00:00 0\u{20}
            b6e00000-b6e01000 ---p 00000000 00:00 0\u{20}
            b6e01000-b7000000 rw-p 00000000 00:00 0          [stack:812]
            b6ff0000-b6ff1000 r-xp 00000000 00:00 0          [sigpage]
            befdf000-bf000000 rw-p 00000000 00:00 0          [stack]
            ffff0000-ffff1000 r-xp 00000000 00:00 0          [vectors]
            """
        let maps = MapsParser.parse(bytes(text))
        #expect(maps.skippedLines == 0 && maps.mappings.count == 9)
        #expect(maps.mappings[0].start == 0x8000 && maps.mappings[0].end == 0x10000)
        #expect(maps.mappings[1].device == DeviceNumber(major: 0x1f, minor: 3) && maps.mappings[1].offset == 0x8000)
        #expect(maps.mappings[5].kind == .labelledThreadStack(tid: 812) && maps.mappings[5].size == 0x1ff000)
        #expect(maps.mappings[6].kind == .special("sigpage"))
        #expect(maps.mappings[7].kind == .mainStack)
        #expect(maps.mappings[8].kind == .special("vectors") && maps.mappings[8].end == 0xffff_1000)
        #expect(maps.totalSize == maps.mappings.reduce(0) { $0 + $1.size })
    }

    @Test func veryOldKernelsPrintOneSpaceBeforeTheName() {
        let text = """
            08048000-08056000 r-xp 00000000 03:01 12345 /bin/busy box
            08056000-08057000 rw-p 0000d000 03:01 12345 /bin/busy box
            08057000-08078000 rwxp 00000000 00:00 0
            bffeb000-c0000000 rwxp ffffffffffff5000 00:00 0
            """
        let maps = MapsParser.parse(bytes(text))
        #expect(maps.skippedLines == 0)
        #expect(maps.mappings.map(\.name) == ["/bin/busy box", "/bin/busy box", "", ""])
        #expect(maps.mappings[2].permissions == [.read, .write, .execute])
        #expect(maps.mappings[3].offset == 0xffff_ffff_ffff_5000)
    }

    @Test func badLinesAreCountedAndSkipped() {
        let text = """
            00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon
            this is not a maps line
            00651000-0065
            00652000-00651000 rw-p 00000000 00:00 0
            zz400000-00452000 r-xp 00000000 08:02 173521      /x
            00400000-00452000 r-xp 00000000 08:02 notanumber  /x
            00400000-00452000 rwx 00000000 08:02 1  /x
            00e03000-00e24000 rw-p 00000000 00:00 0                                  [heap]
            """
        let maps = MapsParser.parse(bytes(text))
        #expect(maps.mappings.count == 2)
        #expect(maps.skippedLines == 6)
        #expect(maps.mappings.map(\.kind) == [.file("/usr/bin/dbus-daemon"), .heap])
    }

    @Test func aCaptureCutMidLineLosesOnlyThatLine() {
        // The agent cuts files at its size limit; the cut can fall inside the address columns.
        let whole = bytes(Self.modern)
        let cut = Array(whole[0..<(whole.count - 40)])
        let maps = MapsParser.parse(cut)
        #expect(maps.mappings.count == 23 && maps.skippedLines == 1)
    }

    @Test func emptyAndBlankInputGiveNothing() {
        #expect(MapsParser.parse([UInt8]()) == ProcessMaps())
        #expect(MapsParser.parse(bytes("\n\n  \n")).mappings.isEmpty)
        #expect(MapsParser.parseLine([]) == nil)
    }

    @Test func parsesFromARawBufferWithoutCopying() {
        let raw = bytes(Self.modern)
        let fromRaw = raw.withUnsafeBytes { MapsParser.parse($0) }
        #expect(fromRaw == MapsParser.parse(raw))
    }

    @Test func parseLineAndClassifyAreUsableAlone() throws {
        let m = try #require(
            MapsParser.parseLine(bytes("7f00000000-7f00001000 rw-s 00000000 00:01 9 /SYSV00000000 (deleted)")))
        #expect(m.kind == .sysvShm(key: 0) && m.deleted)
        #expect(MapsParser.classify(name: "[stack:notatid]") == .special("stack:notatid"))
        #expect(MapsParser.classify(name: "[anon:glibc: pthread stack: 17]") == .labelledThreadStack(tid: 17))
        #expect(MapsParser.classify(name: "/anon_hugepage") == .sharedAnonymous)
        #expect(MapsParser.classify(name: "/SYSVnothex1") == .file("/SYSVnothex1"))
        #expect(MapsParser.classify(name: "[unterminated") == .special("[unterminated"))
        #expect(MapsParser.classify(name: "") == .anonymous)
        #expect(MemoryMapping(start: 0, end: 4096, permissions: [.read], name: "[heap]").kind == .heap)
    }

    @Test func parses65536MappingsOfAThreadLeak() {
        // The shape of a leaking glibc process at vm.max_map_count: guard page + stack per thread.
        var text: [UInt8] = []
        text.reserveCapacity(65_536 * 100)
        var address: UInt64 = 0x7f00_0000_0000
        func hex(_ v: UInt64, width: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        for i in 0..<65_536 {
            let size: UInt64 = i % 2 == 0 ? 0x1000 : 0x80_0000
            let perms = i % 2 == 0 ? "---p" : "rw-p"
            let name: String
            switch i % 8 {
            case 1: name = "[anon: glibc: pthread stack: \(i)]"
            case 3: name = "/usr/lib/x86_64-linux-gnu/libc.so.6"
            case 5: name = "[stack:\(i)]"
            default: name = ""
            }
            let head = "\(hex(address, width: 12))-\(hex(address + size, width: 12)) \(perms) 00000000 00:00 0"
            let line = name.isEmpty ? head + "\n" : head + String(repeating: " ", count: 26) + name + "\n"
            text.append(contentsOf: line.utf8)
            address += size
        }
        let maps = MapsParser.parse(text)
        #expect(maps.mappings.count == 65_536)
        #expect(maps.skippedLines == 0)
        #expect(maps.mappings.filter { if case .labelledThreadStack = $0.kind { true } else { false } }.count == 16_384)
    }
}
