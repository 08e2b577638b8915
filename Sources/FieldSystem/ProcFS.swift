import FieldModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reading procfs-like trees the way DESIGN.md's backend protocol asks: retry `EINTR` and briefly `EBUSY`, read to
/// end of file whatever `st_size` says (procfs reports 0), turn errno into a `ReadStatus`, never trap.
public enum ProcFS {
    /// Largest file content kept; longer content is cut and marked truncated.
    public static let defaultMaxBytes = 16 << 20

    /// Reads a whole file. `EBUSY` (SylixOS allows one opener per node) is retried `busyRetries` times, 2 ms apart.
    public static func readFile(_ path: String, maxBytes: Int = defaultMaxBytes, busyRetries: Int = 5) -> FileCapture {
        let start = Clock.monotonicNanos()
        var capture = FileCapture(path: path)
        var fd: Int32 = -1
        var attempts = 0
        while true {
            fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
            if fd >= 0 { break }
            let e = errno
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
        var bytes: [UInt8] = []
        var chunk = 4096
        while true {
            if bytes.count >= maxBytes { capture.truncated = true; break }
            let want = min(chunk, maxBytes - bytes.count)
            var got = 0
            var failure: Int32 = 0
            let tmp = [UInt8](unsafeUninitializedCapacity: want) { buf, initialized in
                while true {
                    let n = read(fd, buf.baseAddress!, want)
                    if n >= 0 { got = n; break }
                    if errno == EINTR { continue }
                    // SylixOS procfs may report ENOSPC at end of file; that is EOF.
                    if errno == ENOSPC { got = 0; break }
                    failure = errno
                    break
                }
                initialized = max(got, 0)
            }
            if failure != 0 {
                capture.status = status(for: failure)
                capture.errno = failure
                bytes = []
                break
            }
            if got == 0 { break }
            bytes.append(contentsOf: tmp)
            if chunk < 1 << 20 { chunk *= 2 }
        }
        if capture.status == .ok { capture.bytes = bytes }
        capture.readNanos = Clock.monotonicNanos() &- start
        return capture
    }

    /// Lists a directory's entry names (without `.` and `..`), one per line, as a `dir` capture.
    public static func listDirectory(_ path: String) -> FileCapture {
        let start = Clock.monotonicNanos()
        var capture = FileCapture(path: path, kind: .directory)
        guard let dir = opendir(path) else {
            capture.status = status(for: errno)
            capture.errno = errno
            capture.readNanos = Clock.monotonicNanos() &- start
            return capture
        }
        defer { closedir(dir) }
        var out: [UInt8] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> [UInt8] in
                Array(raw.prefix(while: { $0 != 0 }))
            }
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

    /// `CLOCK_REALTIME` (Unix time) in nanoseconds.
    public static func wallNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }
}
