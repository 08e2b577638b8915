import CFieldPlatform

/// A POSIX extended regular expression (`regcomp` with `REG_EXTENDED`), from the C library.
///
/// The agent uses libc's engine rather than Swift's `Regex`: it is on every device already, and keeping Swift's
/// regex runtime out of the static binary saves megabytes.
public final class POSIXRegex: @unchecked Sendable {
    private var compiled = regex_t()

    /// Compiles `pattern`; nil with libc's explanation when it is not a valid extended regular expression.
    public init?(_ pattern: String, error: inout String) {
        let rc = regcomp(&compiled, pattern, REG_EXTENDED | REG_NOSUB)
        if rc != 0 {
            var buf = [CChar](repeating: 0, count: 256)
            regerror(rc, &compiled, &buf, buf.count)
            error = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return nil
        }
    }

    deinit { regfree(&compiled) }

    /// Whether the expression matches anywhere in `text`.
    public func matches(_ text: String) -> Bool {
        regexec(&compiled, text, 0, nil, 0) == 0
    }
}
