import FieldLinux
import FieldModel
import FieldSylixOS

/// Every backend the agent knows, in detection order. Adding an OS means one line here.
public enum BackendRegistry {
    /// The backends in detection order: SylixOS first, because its `kernel/objects` is unambiguous while a
    /// SylixOS tree may carry Linux-looking files.
    public static let all: [any Backend.Type] = [SylixOSBackend.self, LinuxBackend.self]

    /// The backend with this identifier.
    public static func named(_ id: String) -> (any Backend.Type)? { all.first { $0.identifier == id } }

    /// The first backend whose OS the tree under `procRoot` belongs to.
    public static func detect(procRoot: String) -> (any Backend.Type)? {
        all.first { $0.detect(procRoot: procRoot) }
    }
}
