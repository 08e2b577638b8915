import Foundation

/// A throw-away directory tree for procfs fixtures: relative path -> content.
public struct FixtureTree: Sendable {
    /// The tree's root directory (use it as a proc root).
    public let root: String

    /// Creates the tree under the temporary directory.
    public init(_ files: [String: String]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("field-fixture-\(UUID().uuidString)").path
        for (path, content) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
        }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// Deletes the tree.
    public func remove() { try? FileManager.default.removeItem(atPath: root) }
}
