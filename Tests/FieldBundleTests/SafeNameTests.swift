import FieldBundle
import Testing

@Suite struct SafeNameTests {
    @Test(arguments: ["dev-01", "a", "bench_3.zst", "x.zst.open", String(repeating: "a", count: 128)])
    func acceptsPlainNames(_ n: String) { #expect(SafeName.isSafe(n)) }

    @Test(arguments: ["", ".", "..", ".hidden", "a/b", "../x", "a b", "é", "a\u{0}", String(repeating: "a", count: 129)])
    func refusesEverythingElse(_ n: String) { #expect(!SafeName.isSafe(n)) }
}
