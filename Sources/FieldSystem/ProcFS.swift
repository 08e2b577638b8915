import CFieldPlatform
import FieldModel

/// Reading procfs-like trees the way DESIGN.md's backend protocol asks: retry `EINTR` and briefly `EBUSY`, read to
/// end of file whatever `st_size` says (procfs reports 0), turn errno into a `ReadStatus`, never trap, never wait
/// on a FIFO, socket or device.
public enum ProcFS {
    /// Largest file content kept; longer content is cut and marked truncated.
    public static let defaultMaxBytes = 16 << 20

    /// Reads a whole file. `EBUSY` (SylixOS allows one opener per node) is retried `busyRetries` times, 2 ms apart.
    public static func readFile(_ path: String, maxBytes: Int = defaultMaxBytes, busyRetries: Int = 5) -> FileCapture {
        var scratch: [UInt8] = []
        return readFile(path, maxBytes: maxBytes, busyRetries: busyRetries, scratch: &scratch)
    }

    /// Like `readFile(_:maxBytes:busyRetries:)`, reading through `scratch`, which grows to the largest file read
    /// and is kept by the caller: a sampler reading hundreds of files per interval then allocates each file's
    /// bytes once, at their exact size, instead of growing buffers (with a C library that maps large blocks, as
    /// musl does, every grown buffer was an mmap, page faults and an munmap).
    public static func readFile(_ path: String, maxBytes: Int = defaultMaxBytes, busyRetries: Int = 5, scratch: inout [UInt8]) -> FileCapture {
        let start = Clock.monotonicNanos()
        var capture = FileCapture(path: path)
        var fd: Int32 = -1
        var attempts = 0
        while true {
            // Non-blocking: opening a FIFO would otherwise wait for a writer, for ever (a garbage proc tree, a
            // fixture, a bind mount); the kernel ignores the flag for regular files.
            fd = field_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0)
            if fd >= 0 { break }
            let e = field_errno()
            if e == EINTR { continue }
            if e == EBUSY && attempts < busyRetries {
                attempts += 1
                usleep(2000)
                continue
            }
            capture.status = status(for: e)
            capture.errno = e
            capture.readNanos = Clock.monotonicNanos() &- start
            return capture
        }
        defer { close(fd) }
        // What may block or never end (a FIFO, socket or device where a proc file should be) costs that file,
        // not the sample: recorded as an error with EAGAIN, not read.
        var st = stat()
        if fstat(fd, &st) == 0, field_stat_may_block(&st) != 0 {
            capture.status = .error
            capture.errno = EAGAIN
            capture.readNanos = Clock.monotonicNanos() &- start
            return capture
        }
        if scratch.count < 4096 { scratch = [UInt8](repeating: 0, count: 4096) }
        var filled = 0
        var failure: Int32 = 0
        while true {
            if filled >= maxBytes { capture.truncated = true; break }
            if filled == scratch.count {
                // Grow by doubling, never past what the limit can use.
                scratch.append(contentsOf: repeatElement(0, count: min(scratch.count, max(1, maxBytes - filled))))
            }
            let want = min(scratch.count - filled, maxBytes - filled)
            var got = 0
            scratch.withUnsafeMutableBytes { buf in
                while true {
                    let n = read(fd, buf.baseAddress! + filled, want)
                    if n >= 0 { got = n; break }
                    if field_errno() == EINTR { continue }
                    // SylixOS procfs may report ENOSPC at end of file; that is EOF.
                    if field_errno() == ENOSPC { got = 0; break }
                    failure = field_errno()
                    break
                }
            }
            if failure != 0 {
                capture.status = status(for: failure)
                capture.errno = failure
                break
            }
            if got == 0 { break }
            filled += got
        }
        if capture.status == .ok { capture.bytes = Array(scratch[0..<filled]) }
        capture.readNanos = Clock.monotonicNanos() &- start
        return capture
    }

    /// Lists a directory's entry names (without `.` and `..`), one per line, as a `dir` capture.
    public static func listDirectory(_ path: String) -> FileCapture {
        let start = Clock.monotonicNanos()
        var capture = FileCapture(path: path, kind: .directory)
        guard let dir = opendir(path) else {
            capture.status = status(for: field_errno())
            capture.errno = field_errno()
            capture.readNanos = Clock.monotonicNanos() &- start
            return capture
        }
        defer { closedir(dir) }
        var out: [UInt8] = []
        while let entry = readdir(dir) {
            // The name through a pointer, never `entry.pointee`: that copies the whole declared d_name array,
            // and the kernel packs entries shorter than it (a read past the buffer, fatal under musl).
            let cName = field_dirent_name(entry)!
            let name = Array(UnsafeRawBufferPointer(start: cName, count: strlen(cName)).bindMemory(to: UInt8.self))
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            out.append(contentsOf: name)
            out.append(0x0A)
        }
        capture.bytes = out
        capture.readNanos = Clock.monotonicNanos() &- start
        return capture
    }

    /// The read status an errno stands for.
    public static func status(for code: Int32) -> ReadStatus {
        switch code {
        case ENOENT, ESRCH, ENOTDIR: .missing
        case EACCES, EPERM: .denied
        case EBUSY: .busy
        default: .error
        }
    }
}

/// The clocks the agent stamps records with.
public enum Clock {
    /// `CLOCK_MONOTONIC` in nanoseconds.
    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// A duration as a timespec (nanosleep). Set field by field: on
    /// 32-bit targets time_t is 64-bit while tv_nsec stays a long, and musl pads the struct with unnamed
    /// bit-fields, so the memberwise initialiser is neither portable nor the right types.
    public static func timespecOf(nanos: UInt64) -> timespec {
        var ts = timespec()
        ts.tv_sec = time_t(clamping: nanos / 1_000_000_000)
        ts.tv_nsec = Int(nanos % 1_000_000_000)
        return ts
    }

    /// `CLOCK_REALTIME` (Unix time) in nanoseconds.
    public static func wallNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }
}
