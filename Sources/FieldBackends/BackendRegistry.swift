import FieldLinux
import FieldModel
import FieldSylixOS

/// Every backend field knows, in detection order: the agent detects and samples with them, analysis interprets a
/// bundle with the one its header names. Adding an OS means one folder under `Backends/`, its Package.swift target
/// (a dependency of this one) and one line in `all`.
///
/// A list of instances rather than of types: Embedded Swift has no metatypes and no existentials of value
/// protocols, and `Backend` is class-bound so that `any Backend` works in both builds.
public enum BackendRegistry {
    /// The backends in detection order: SylixOS first, because its `kernel/objects` is unambiguous while a
    /// SylixOS tree may carry Linux-looking files.
    public static let all: [any Backend] = [
        SylixOSBackend(),
        LinuxBackend(),
    ]

    /// The identifiers, in detection order (for help and error messages).
    public static var identifiers: [String] { all.map { $0.identifier } }

    /// The backend with this identifier.
    public static func named(_ id: String) -> (any Backend)? { named(id, in: all) }

    /// The backend with this identifier in `list` (analysis takes the list, so that tests can add a backend).
    public static func named(_ id: String, in list: [any Backend]) -> (any Backend)? { list.first { $0.identifier == id } }

    /// The first backend whose OS the tree under `procRoot` belongs to.
    public static func detect(procRoot: String) -> (any Backend)? {
        all.first { $0.detect(procRoot: procRoot) }
    }
}
