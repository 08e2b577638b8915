import FieldModel
import FieldSystem
import FieldTestKit
import Foundation
import Testing

@Suite struct ProcFSTests {
    @Test func readsWholeFilesWhateverTheirSize() throws {
        let big = String(repeating: "0123456789abcdef", count: 40_000)  // 640 KB: many read calls
        let t = try FixtureTree(["small": "MemTotal: 1 kB\n", "big": big, "empty": ""])
        defer { t.remove() }
        let small = ProcFS.readFile(t.root + "/small")
        #expect(small.status == .ok && small.bytes == Array("MemTotal: 1 kB\n".utf8))
        #expect(ProcFS.readFile(t.root + "/big").bytes.count == big.utf8.count)
        let empty = ProcFS.readFile(t.root + "/empty")
        #expect(empty.status == .ok && empty.bytes.isEmpty)
        let cut = ProcFS.readFile(t.root + "/big", maxBytes: 1000)
        #expect(cut.truncated && cut.bytes.count == 1000)
    }

    @Test func failuresBecomeStatusesNotCrashes() throws {
        let t = try FixtureTree(["dir/file": "x"])
        defer { t.remove() }
        let missing = ProcFS.readFile(t.root + "/nope")
        #expect(missing.status == .missing && missing.errno == ENOENT && missing.bytes.isEmpty)
        let notDir = ProcFS.readFile(t.root + "/dir/file/deeper")
        #expect(notDir.status == .missing)
        let isDir = ProcFS.readFile(t.root + "/dir")
        #expect(isDir.status == .error && isDir.errno == EISDIR)
    }

    @Test func readsLiveProcFiles() {
        let me = ProcFS.readFile("/proc/self/status")
        #expect(me.status == .ok)
        #expect(String(decoding: me.bytes, as: UTF8.self).contains("Pid:\t\(getpid())"))
        // A process that does not exist reads as missing, the way a vanished process does mid-sample.
        #expect(ProcFS.readFile("/proc/999999999/stat").status == .missing)
    }

    @Test func listsDirectories() throws {
        let t = try FixtureTree(["d/1": "", "d/22": "", "d/abc": ""])
        defer { t.remove() }
        let l = ProcFS.listDirectory(t.root + "/d")
        #expect(l.kind == .directory && l.status == .ok)
        #expect(Set(String(decoding: l.bytes, as: UTF8.self).split(separator: "\n")) == ["1", "22", "abc"])
        #expect(ProcFS.listDirectory(t.root + "/none").status == .missing)
    }
}
