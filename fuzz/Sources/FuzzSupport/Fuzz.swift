#if canImport(Glibc)
import Glibc
#endif

/// What every fuzz target shares. A target is one file defining `LLVMFuzzerTestOneInput` (libFuzzer's entry: it
/// brings its own `main`, which is why the package builds with `-parse-as-library`).
public enum Fuzz {
    /// The input libFuzzer hands over, as the arrays the code under test takes.
    public static func input(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// A property the code under test promises: when it does not hold, the input is a finding (libFuzzer saves it
    /// as a crash), with `message` on stderr above the stack.
    public static func check(
        _ holds: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
    ) {
        guard !holds else { return }
        var text = "fuzz check failed (\(file):\(line)): \(message())\n"
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        abort()
    }
}
