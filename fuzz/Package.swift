// swift-tools-version:6.0
// Coverage-guided fuzz targets for field (libFuzzer). Not part of the main package, so `swift build` and
// `swift test` at the root never see them; tools/fuzz.sh builds and runs them. See docs/reliability.md.

import Foundation
import PackageDescription

/// SwiftPM names a path dependency after its directory: whatever the checkout is called, that is the root package.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

func fuzzTarget(_ name: String, _ products: [String]) -> Target {
    .executableTarget(
        name: name, dependencies: ["FuzzSupport"] + products.map { .product(name: $0, package: root) },
        path: "Sources/\(name)")
}

let package = Package(
    name: "fieldfuzz",
    dependencies: [.package(path: "..")],
    targets: [
        // What every target shares: checks, and the inputs built from fuzz bytes.
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "FieldBundle", package: root), .product(name: "FieldModel", package: root)],
            path: "Sources/FuzzSupport"),
        // One executable per entry, each defining LLVMFuzzerTestOneInput (libFuzzer brings main; tools/fuzz.sh
        // names them without the prefix).
        fuzzTarget("fuzzbundle", ["FieldBundle", "FieldModel"]),
        fuzzTarget("fuzzrecords", ["FieldBundle", "FieldModel", "FieldAnalysis"]),
        fuzzTarget("fuzzprocfs", ["FieldBackends", "FieldModel"]),
        fuzzTarget("fuzzinterpret", ["FieldBackends", "FieldModel", "FieldAnalysis", "FieldBundle"]),
        fuzzTarget("fuzztimeline", ["FieldBundle", "FieldModel", "FieldAnalysis"]),
        fuzzTarget("fuzzhandlog", ["FieldImport", "FieldBackends", "FieldModel", "FieldAnalysis", "FieldBundle"]),
    ]
)
