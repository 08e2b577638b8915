/// Parser for `/proc/<pid>/cmdline` (fs/proc/base.c `get_mm_cmdline`).
public enum CmdlineParser {
    /// The arguments: NUL-separated, with the final NUL optional (a process that rewrote its argv may drop it).
    ///
    /// Kernel threads have an empty cmdline: the result is empty. Trailing NULs are padding left by programs that
    /// overwrite argv in place (setproctitle, Android's zygote children), so they are dropped; empty arguments in the
    /// middle are kept.
    public static func parse(_ bytes: [UInt8]) -> [String] {
        var end = bytes.count
        while end > 0 && bytes[end - 1] == 0 { end -= 1 }
        if end == 0 { return [] }
        return bytes[0..<end].split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
    }
}
