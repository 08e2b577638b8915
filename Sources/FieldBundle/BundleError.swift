/// Everything that can go wrong in FieldBundle, with a message that says what to do.
public struct BundleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Broad classes of failure, stable for callers that branch on them.
    public enum Code: String, Sendable, Hashable {
        /// Opening, writing, syncing or renaming a file failed (see `errno`).
        case io
        /// The zstd library refused a parameter or failed while compressing.
        case compression
        /// A record payload is missing a required field or has the wrong type.
        case schema
        /// A record is larger than the configured limit.
        case limit
        /// The writer was used after it was closed or after a failed write.
        case state
    }

    /// What class of failure.
    public var code: Code
    /// The errno behind an I/O failure.
    public var errno: Int32?
    /// The human explanation.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { message }
}
