import FieldAnalysis
import FieldBundle
import Testing

@Suite struct JSONLinesTests {
    func render(_ v: CBORValue) -> String {
        var s = ""
        JSONLines.append(v, to: &s)
        return s
    }

    @Test func escapesLikePythonsJSONModule() {
        // json.dumps(s, ensure_ascii=False) escapes only '"', '\\' and control characters.
        #expect(render(.text("a\"b\\c")) == #""a\"b\\c""#)
        #expect(render(.text("\n\r\t\u{08}\u{0C}")) == #""\n\r\t\b\f""#)
        #expect(render(.text("\u{01}\u{1F}")) == #""\u0001\u001f""#)
        #expect(render(.text("\u{7F}é😀\u{2028}")) == "\"\u{7F}é😀\u{2028}\"")
    }

    @Test func bytesAreTextWhenValidUTF8ElseBase64() {
        #expect(render(.bytes(Array("MemTotal: 1 kB\n".utf8))) == #"{"utf8":"MemTotal: 1 kB\n"}"#)
        #expect(render(.bytes([0x00, 0x41])) == #"{"utf8":"\u0000A"}"#)
        #expect(render(.bytes([0xFF])) == #"{"base64":"/w=="}"#)
        #expect(render(.bytes([0xC3])) == #"{"base64":"ww=="}"#)
        #expect(render(.bytes([0xED, 0xA0, 0x80])) == #"{"base64":"7aCA"}"#)  // an encoded surrogate is not UTF-8
        #expect(render(.bytes([])) == #"{"utf8":""}"#)
    }

    @Test(arguments: [
        ([UInt8](), ""), (Array("f".utf8), "Zg=="), (Array("fo".utf8), "Zm8="), (Array("foo".utf8), "Zm9v"),
        (Array("foob".utf8), "Zm9vYg=="), (Array("fooba".utf8), "Zm9vYmE="), (Array("foobar".utf8), "Zm9vYmFy"),
    ])
    func base64MatchesRFC4648(input: [UInt8], expected: String) {
        #expect(Base64.encode(input) == expected)
    }

    @Test func numbersAndStructure() {
        #expect(render(.negative(UInt64.max)) == "-18446744073709551616")
        #expect(render(.negative(0)) == "-1")
        #expect(render(.unsigned(UInt64.max)) == "18446744073709551615")
        #expect(render(.array([.null, .undefined, .bool(true), .tagged(1, .unsigned(5))])) == "[null,null,true,5]")
        // A repeated key keeps its first position and takes its last value, as a dict-based decoder does.
        #expect(render(.map([(.text("a"), .unsigned(1)), (.text("b"), .unsigned(2)), (.text("a"), .unsigned(3))])) == #"{"a":3,"b":2}"#)
    }

    @Test func recordAndResultLines() {
        let r = RawRecord(index: 2, offset: 100, type: RecordType(rawValue: 77), payload: [0xA1, 0x61, 0x78, 0x01])
        #expect(JSONLines.recordLine(r) == #"{"record":2,"offset":100,"type":"type-77","length":4,"payload":{"x":1}}"#)
        let bad = RawRecord(index: 0, offset: 8, type: .sample, payload: [0xFF])
        #expect(JSONLines.recordLine(bad).hasSuffix(#""payload":null}"#))
        let d = Damage(kind: .truncated, reason: "x", records: 3, offset: 99, discardedBytes: 5, compressedOffset: 1, compressedSize: 2)
        #expect(JSONLines.resultLine(path: "a\"b", records: 3, complete: false, damage: d)
            == #"{"result":"a\"b","records":3,"complete":false,"damage":{"kind":"truncated","records":3,"offset":99}}"#)
    }
}
