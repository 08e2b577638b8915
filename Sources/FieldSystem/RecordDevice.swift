import CFieldPlatform
import FieldModel

/// Follows a record device such as Linux `/dev/kmsg`, where each `read` returns one record, without blocking.
///
/// Opened at its end, so only records written after the agent started are read. A reader too slow for the
/// kernel's ring buffer gets `EPIPE` once; the lost records are counted and reading goes on.
public final class RecordDevice {
    /// The device path.
    public let path: String
    /// Times the kernel reported records lost (`EPIPE`: the ring buffer overwrote them before we read them).
    public private(set) var overruns = 0
    private var fd: Int32

    /// Opens the device at its end; nil with the errno when it cannot be opened (e.g. `EACCES` without root,
    /// or `EPERM` under `kernel.dmesg_restrict`).
    public init?(path: String, failure: inout Int32) {
        self.path = path
        fd = field_open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0)
        if fd < 0 {
            failure = field_errno()
            return nil
        }
        // For /dev/kmsg, SEEK_END moves to the record after the last one (kernel/printk/printk.c devkmsg_llseek).
        _ = lseek(fd, 0, SEEK_END)
    }

    deinit { close(fd) }

    /// Every record available now (at most `limit`), without their trailing newline.
    public func readAvailable(limit: Int = 10_000) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        while out.count < limit {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                var rec = Array(buf[0..<n])
                if rec.last == 0x0A { rec.removeLast() }
                out.append(rec)
                continue
            }
            if n < 0 && field_errno() == EINTR { continue }
            if n < 0 && field_errno() == EPIPE {
                overruns += 1
                continue
            }
            break  // EAGAIN: nothing more now; 0 or another error: stop for this round
        }
        return out
    }
}
