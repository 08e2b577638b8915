import CFieldPlatform

/// Thin wrappers over the few system calls FieldBundle makes: EINTR retried, errno turned into BundleError once.
enum Syscalls {
    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    static func ioError(_ what: String, _ path: String, _ code: Int32) -> BundleError {
        var hint = ""
        switch code {
        case ENOSPC: hint = " (the disk is full: free space or lower the spool quota)"
        case EACCES, EPERM: hint = " (check the permissions of the file and its directory)"
        case ENOENT: hint = " (check that the path exists)"
        case EROFS: hint = " (the filesystem is read-only)"
        default: break
        }
        return BundleError(.io, "\(what) \(path) failed: \(errorText(code))\(hint)", errno: code)
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws(BundleError) -> Int32 {
        while true {
            let fd = field_open(path, flags | O_CLOEXEC, UInt32(mode))
            if fd >= 0 { return fd }
            if field_errno() != EINTR { throw ioError("opening", path, field_errno()) }
        }
    }

    /// Writes all of `bytes`, resuming after short writes.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(BundleError) {
        var done = 0
        while done < bytes.count {
            let n = CFieldPlatform.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n > 0 { done += n; continue }
            if n < 0 && field_errno() == EINTR { continue }
            throw ioError("writing", path, n < 0 ? field_errno() : EIO)
        }
    }

    /// Reads up to `count` bytes; 0 means end of file.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, path: String) throws(BundleError) -> Int {
        while true {
            let n = CFieldPlatform.read(fd, buffer, count)
            if n >= 0 { return n }
            if field_errno() != EINTR { throw ioError("reading", path, field_errno()) }
        }
    }

    static func fsync(_ fd: Int32, path: String) throws(BundleError) {
        while CFieldPlatform.fsync(fd) != 0 {
            // EINVAL: the file is on something that cannot sync (a pipe, some FUSE mounts); nothing to do.
            if field_errno() == EINVAL { return }
            if field_errno() != EINTR { throw ioError("syncing", path, field_errno()) }
        }
    }

    /// Makes a rename durable by syncing the directory that holds it.
    static func fsyncDirectory(of path: String) throws(BundleError) {
        let dir: String
        if let slash = path.lastIndex(of: "/") { dir = slash == path.startIndex ? "/" : String(path[..<slash]) } else { dir = "." }
        let fd = try open(dir, O_RDONLY | O_DIRECTORY)
        defer { _ = CFieldPlatform.close(fd) }
        try fsync(fd, path: dir)
    }

    static func rename(_ from: String, _ to: String) throws(BundleError) {
        if CFieldPlatform.rename(from, to) != 0 { throw ioError("renaming \(from) to", to, field_errno()) }
    }

    /// Gives `from` the name `to` only if `to` does not exist: a link then an unlink, so an existing bundle is never
    /// replaced. Filesystems without hard links (FAT on a USB stick) and systems without them (SylixOS answers
    /// ENOSYS) get a check-then-rename instead.
    static func renameNoReplace(_ from: String, _ to: String) throws(BundleError) {
        if CFieldPlatform.link(from, to) == 0 {
            _ = CFieldPlatform.unlink(from)
            return
        }
        let e = field_errno()
        if e == EEXIST { throw BundleError(.io, "\(to) already exists; \(from) was left as it is", errno: e) }
        guard e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == EXDEV || e == EMLINK || e == ENOSYS else { throw ioError("linking \(from) to", to, e) }
        if access(to, F_OK) == 0 { throw BundleError(.io, "\(to) already exists; \(from) was left as it is", errno: EEXIST) }
        try rename(from, to)
    }

    static func isDirectory(_ fd: Int32) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && field_stat_is_directory(&st) != 0
    }

    static func fileSize(_ fd: Int32) -> UInt64? {
        var st = stat()
        guard fstat(fd, &st) == 0, field_stat_is_regular(&st) != 0 else { return nil }
        return UInt64(st.st_size)
    }
}
