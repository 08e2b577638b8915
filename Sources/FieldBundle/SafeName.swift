/// The rule for names that become paths in the collector's store (device ids, bundle file names).
///
/// A name is safe when it is 1-128 characters of `A-Z a-z 0-9 . _ -`, does not start with a dot and is not made
/// of dots only, so it can never climb out of the store or hide as a dot file.
public enum SafeName {
    /// Whether `name` may be used as one path component in the store.
    public static func isSafe(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard (1...128).contains(u.count), u[0] != UInt8(ascii: ".") else { return false }
        return u.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }
}
