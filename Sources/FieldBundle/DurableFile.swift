import CFieldPlatform

/// A file written under a temporary name and published under its final name only once all of it is on disk:
/// readers of the final name see the whole file or nothing, even across a power cut.
///
/// The agent's `--copy-to` and the collector's store both write bundles this way. Until `commit`, dropping the
/// value removes the temporary file.
public final class DurableFile: @unchecked Sendable {
    /// The temporary path being written.
    public let temporaryPath: String
    private var fd: Int32
    /// Bytes written so far.
    public private(set) var bytes: UInt64 = 0

    /// Creates `temporaryPath`, which must not exist.
    public init(temporaryPath: String) throws(BundleError) {
        self.temporaryPath = temporaryPath
        fd = try Syscalls.open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    }

    deinit { discard() }

    /// Appends bytes.
    public func write(_ chunk: UnsafeRawBufferPointer) throws(BundleError) {
        guard fd >= 0 else { throw BundleError(.io, "\(temporaryPath) was already closed") }
        try Syscalls.writeAll(fd, chunk, path: temporaryPath)
        bytes += UInt64(chunk.count)
    }

    /// Appends bytes.
    public func write(_ bytes: [UInt8]) throws(BundleError) {
        try bytes.withBytes { b throws(BundleError) in try write(b) }
    }

    /// Syncs the file, gives it its final name and syncs the directory. With `replace: false` an existing file of
    /// that name is kept and the error's errno is EEXIST.
    public func commit(as finalPath: String, replace: Bool) throws(BundleError) {
        guard fd >= 0 else { throw BundleError(.io, "\(temporaryPath) was already closed") }
        do {
            try Syscalls.fsync(fd, path: temporaryPath)
        } catch {
            discard()
            throw error
        }
        _ = close(fd)
        fd = -1
        do {
            if replace {
                try Syscalls.rename(temporaryPath, finalPath)
            } else {
                try Syscalls.renameNoReplace(temporaryPath, finalPath)
            }
        } catch {
            _ = unlink(temporaryPath)
            throw error
        }
        try Syscalls.fsyncDirectory(of: finalPath)
    }

    /// Syncs the directory that holds `path`, which makes a name created, renamed or removed in it durable (a
    /// directory the caller just made needs this on its parent).
    public static func syncDirectory(holding path: String) throws(BundleError) {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        try Syscalls.fsyncDirectory(of: String(p))
    }

    /// Closes and removes the temporary file (nothing happens after a commit).
    public func discard() {
        guard fd >= 0 else { return }
        _ = close(fd)
        fd = -1
        _ = unlink(temporaryPath)
    }

    /// Copies `source` to `finalPath` through `TEMP` (a dot file beside the final name), replacing an earlier copy.
    /// Returns the bytes copied.
    @discardableResult
    public static func copy(from source: String, to finalPath: String) throws(BundleError) -> UInt64 {
        let slash = finalPath.lastIndex(of: "/")
        let dir = slash.map { String(finalPath[..<$0]) + "/" } ?? ""
        let name = slash.map { String(finalPath[finalPath.index(after: $0)...]) } ?? finalPath
        let temp = dir + "." + name + ".partial"
        _ = unlink(temp)  // left by an earlier copy that was cut off
        let input = try Syscalls.open(source, O_RDONLY)
        defer { _ = close(input) }
        let out = try DurableFile(temporaryPath: temp)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try buffer.withMutableBytes { b throws(BundleError) in
                try Syscalls.read(input, into: b.baseAddress!, count: b.count, path: source)
            }
            if n == 0 { break }
            try buffer.withBytes { b throws(BundleError) in try out.write(UnsafeRawBufferPointer(rebasing: b[0..<n])) }
        }
        try out.commit(as: finalPath, replace: true)
        return out.bytes
    }
}
