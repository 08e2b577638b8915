import FieldLinux
import Foundation
import Testing

/// `StatParser.essentials` (what analysis reads per process per sample) says what `parse` says about the same
/// four fields, on awkward lines and on every process of this machine.
@Suite struct StatEssentialsTests {
    static func agree(_ line: String) {
        let b = Array(line.utf8)
        let full = StatParser.parse(b)
        let fast = StatParser.essentials(b)
        #expect((full == nil) == (fast == nil), "\(line)")
        guard let full, let fast else { return }
        #expect(fast.comm == full.comm && fast.threads == full.threads && fast.startTicks == full.startTicks
                && fast.virtualBytes == full.virtualBytes, "\(line)")
    }

    @Test(arguments: [
        "1 (systemd) S 0 1 1 0 -1 4194560 100 0 0 0 10 5 0 0 20 0 1 0 12 172000000 3000 18446744073709551615\n",
        "42 (a) b (c)) R 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 -3 0 99999999999999999999 5 6\n",  // overflow: nil start
        "7 (x\ny) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 4\n",  // short line: no start or size
        "7 (short)", "(nopid) S", "x (bad) S", "8 () S 1", "9 (tabs)\tS\t1\t9  9 0 -1 0 0 0 0 0 0 0 0 0 20 0 2 0 5 6 7",
    ])
    func awkwardLines(_ line: String) { Self.agree(line) }

    @Test func everyProcessOfThisMachine() throws {
        let pids = try FileManager.default.contentsOfDirectory(atPath: "/proc").filter { Int($0) != nil }
        var read = 0
        for pid in pids {
            guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { continue }  // it exited
            Self.agree(String(decoding: d, as: UTF8.self))
            read += 1
        }
        #expect(read > 5)
    }
}
