import Foundation
import Testing

/// docs/bundle-format.md's worked example must stay true: its hex is a bundle that decodes to the lines it shows.
@Suite struct FormatDocumentTests {
    static func section(_ doc: String, _ heading: String) throws -> String {
        let start = try #require(doc.range(of: heading))
        let open = try #require(doc.range(of: "```\n", range: start.upperBound..<doc.endIndex))
        let close = try #require(doc.range(of: "\n```", range: open.upperBound..<doc.endIndex))
        return String(doc[open.upperBound..<close.lowerBound])
    }

    /// Bytes from `xxd -g1` lines (`00000000: 28 b5 ...`).
    static func xxdBytes(_ text: String) -> [UInt8] {
        text.split(separator: "\n").flatMap { line in
            (line.split(separator: ":", maxSplits: 1).last ?? "").split(separator: " ").prefix(16).compactMap { UInt8($0, radix: 16) }
        }
    }

    /// Bytes from the annotated dump (`0008  e6 00 00 00   note`): each line holds as many bytes as the offset of
    /// the next line says, so notes that look like hex ("41") are never mistaken for data.
    static func annotatedBytes(_ text: String) -> [UInt8] {
        var rows: [(offset: Int, tokens: [Substring])] = []
        var endOffset: Int?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# end of stream at offset ") {
                endOffset = Int(line.dropFirst("# end of stream at offset ".count).prefix(while: { $0.isNumber }))
            }
            guard line.count > 6, let off = Int(line.prefix(4), radix: 16), line.dropFirst(4).hasPrefix("  ") else { continue }
            rows.append((off, line.dropFirst(6).split(separator: " ")))
        }
        var out: [UInt8] = []
        for (i, row) in rows.enumerated() {
            let next = i + 1 < rows.count ? rows[i + 1].offset : (endOffset ?? row.offset)
            out += row.tokens.prefix(next - row.offset).compactMap { UInt8($0, radix: 16) }
        }
        return out
    }

    @Test func workedExampleDecodesToTheDocumentedLines() throws {
        let doc = try String(contentsOfFile: Harness.root + "/docs/bundle-format.md", encoding: .utf8)
        let file = Self.xxdBytes(try Self.section(doc, "### 7.2 Compressed file"))
        let stream = Self.annotatedBytes(try Self.section(doc, "### 7.1 Record stream"))
        let lines = try Self.section(doc, "### 7.3 JSON lines") + "\n"
        #expect(file.count > 100 && stream.count > 100)

        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(file).write(to: URL(fileURLWithPath: dir + "/example.zst"))
        let decoded = try Harness.run(Harness.binDir + "/fieldctl", ["decode", "example.zst"], in: dir)
        #expect(decoded.status == 0, "\(decoded.stderr)")
        #expect(decoded.text == lines)
        let raw = try Harness.run("zstd", ["-dcq", "example.zst"], in: dir)
        #expect(Array(raw.stdout) == stream, "section 7.1 (\(stream.count) bytes) is not the content of section 7.2")
        let py = try Harness.run("python3", [Harness.root + "/tools/fieldbundle.py", "example.zst"], in: dir)
        #expect(py.text == lines)
    }
}
