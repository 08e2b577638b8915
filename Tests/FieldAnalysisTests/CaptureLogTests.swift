import FieldAnalysis
import FieldBundle
import FieldModel
import Testing

/// The framing of tools/fieldcapture.sh (docs/import.md): bytes come back exactly, statuses are kept, and what is
/// cut or stray is left out and said.
@Suite struct CaptureLogTests {
    static func parse(_ text: String) -> [CaptureLogParser.Event] {
        var p = CaptureLogParser(source: "t")
        var out: [CaptureLogParser.Event] = []
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.utf8)[...] }
        if text.hasSuffix("\n") { lines.removeLast() }
        for l in lines { out += p.feed(l) }
        return out + p.finish()
    }

    static func samples(_ e: [CaptureLogParser.Event]) -> [Sample] {
        e.compactMap { if case .sample(let s) = $0 { return s } else { return nil } }
    }

    static func notes(_ e: [CaptureLogParser.Event]) -> [String] {
        e.compactMap { if case .note(let n) = $0 { return n } else { return nil } }
    }

    static func losses(_ e: [CaptureLogParser.Event]) -> [(String, String, UInt64)] {
        e.compactMap { if case .lost(let r, let w, let b) = $0 { return (r, w, b) } else { return nil } }
    }

    static let head = "#@field capture 1 device board-1 boot b0 backend linux interval 5 deep-every 10\n"

    /// Each file as the script writes it: its line, its bytes, one newline, its end line.
    static func file(_ path: String, _ content: String, kind: String = "file") -> String {
        "#@field file \(path) \(kind)\n\(content)\n#@field end ok\n"
    }

    @Test func bytesComeBackExactlyWhateverTheirLastNewline() {
        let contents = ["MemTotal: 1 kB\nMemFree: 2 kB\n", "no newline at the end", "", "\n\n", "a\u{0}b\u{0}"]
        var text = Self.head + "#@field sample 0 1700000000\n"
        for (i, c) in contents.enumerated() { text += Self.file("/proc/f\(i)", c) }
        text += "#@field file /proc/7/fd dir\n0\n1\n2\n\n#@field end ok\n"
        text += "#@field file /proc/8/status file missing\n#@field file /proc/slabinfo file denied\n"
        text += "#@field sample-end 0\n"
        let e = Self.parse(text)
        guard case .segment(let seg)? = e.first else {
            Issue.record("no segment first: \(e)")
            return
        }
        #expect(seg == .init(device: "board-1", boot: "b0", backend: "linux", intervalNanos: 5_000_000_000, deepEvery: 10))
        let s = Self.samples(e)
        #expect(s.count == 1)
        #expect(s.first?.wallNanos == 1_700_000_000_000_000_000 && s.first?.sequence == 0)
        let files = s.first?.files ?? []
        #expect(files.prefix(contents.count).map { String(decoding: $0.bytes, as: UTF8.self) } == contents)
        #expect(files.count == contents.count + 3)
        if files.count == contents.count + 3 {
            #expect(files[contents.count].kind == .directory && files[contents.count].bytes == Array("0\n1\n2\n".utf8))
            #expect(files[contents.count + 1].status == .missing && files[contents.count + 1].bytes.isEmpty)
            #expect(files[contents.count + 2].status == .denied)
        }
        #expect(Self.notes(e).isEmpty, "\(Self.notes(e))")
    }

    @Test func aCutSampleIsLeftOutAndRecorded() {
        let whole = "#@field sample 0 1700000000\n" + Self.file("/proc/meminfo", "MemTotal: 1 kB") + "#@field sample-end 0\n"
        // Cut inside a file at the end of the input; a sample whose end is missing before the next one; a file
        // without its end line before the sample's end.
        for (text, why) in [
            (Self.head + whole + "#@field sample 1 1700000005\n#@field file /proc/meminfo file\nMemTot", "ends inside it"),
            (Self.head + "#@field sample 1 1700000005\n" + Self.file("/proc/meminfo", "x") + whole, "end is missing"),
            (Self.head + "#@field sample 1 1700000005\n#@field file /proc/meminfo file\nx\n#@field sample-end 1\n" + whole,
             "has no end"),
        ] {
            let e = Self.parse(text)
            #expect(Self.samples(e).map(\.sequence) == [0], "\(why): \(e)")
            let l = Self.losses(e)
            #expect(l.count == 1 && l.first?.0 == CaptureLogParser.cutReason && l.first?.1.hasPrefix("sample 1 at ") == true, "\(l)")
            #expect(Self.notes(e).contains { $0.contains("sample 1 at ") && $0.contains(why) }, "\(Self.notes(e))")
        }
    }

    @Test func strayLinesAndSamplesBeforeAHeaderAreReportedNotGuessed() {
        let text = "top - 10:00:00 up 1 day\nsomething else\n#@field sample 0 1700000000\n#@field sample-end 0\n"
            + Self.head + "#@field sample 1 1700000005\n#@field sample-end 1\n#@field sample x y\n"
        let e = Self.parse(text)
        #expect(Self.samples(e).map(\.sequence) == [1])
        let n = Self.notes(e)
        #expect(n.contains { $0.contains("before any capture header") }, "\(n)")
        #expect(n.contains { $0.contains("without a sequence and a time") }, "\(n)")
        #expect(n.contains { $0.contains("line(s) outside any sample, from line 1") }, "\(n)")
    }

    @Test func aRotatedSegmentIsALossWithItsBytes() {
        let e = Self.parse(Self.head + "#@field lost segment of samples 0-41, 31337 bytes, rotated out\n")
        let l = Self.losses(e)
        #expect(l.count == 1 && l.first?.0 == CaptureLogParser.rotatedReason && l.first?.2 == 31337, "\(l)")
        #expect(l.first?.1 == "segment of samples 0-41, 31337 bytes, rotated out")
    }
}
