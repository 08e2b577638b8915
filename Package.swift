// swift-tools-version:6.0
// The field agent (device) and field control tool (host). See README.md and docs/.

import PackageDescription

/// Device-side targets must stay small: standard library and C library only.
let package = Package(
    name: "field",
    products: [
        .executable(name: "fieldagent", targets: ["fieldagent"]),
        .executable(name: "fieldctl", targets: ["fieldctl"]),
        .library(name: "FieldBundle", targets: ["FieldBundle"]),
        // For packages built beside this one (fuzz/: the fuzz targets), which can only depend on products.
        .library(name: "FieldModel", targets: ["FieldModel"]),
        .library(name: "FieldBackends", targets: ["FieldBackends", "FieldLinux", "FieldSylixOS"]),
        .library(name: "FieldAnalysis", targets: ["FieldAnalysis"]),
        .library(name: "FieldImport", targets: ["FieldImport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // TLS on the collector (HummingbirdTLS is built on it; named here for its TLSVersion and certificate types).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.2"),
    ],
    targets: [
        // C libraries.
        .systemLibrary(
            name: "CZstd",
            path: "Sources/CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),

        // Our own C: the platform layer (the C library as the device side sees it), hardware CRC-32C where the CPU
        // has it, one HTTP PUT of a file.
        .target(
            name: "CFieldPlatform", path: "Sources/CFieldPlatform",
            // What only the Embedded build needs from us (the normal build's Swift runtime has it): build-agent.sh.
            exclude: ["embedded"], linkerSettings: [.linkedLibrary("m")]),
        .target(name: "CFieldCRC", path: "Sources/CFieldCRC"),
        // Uploads: our HTTP/1.1 client, TLS from mbed TLS (apt libmbedtls-dev; tools/build-agent.sh links it statically).
        .target(
            name: "CFieldHTTP", dependencies: ["CFieldPlatform"], path: "Sources/CFieldHTTP",
            linkerSettings: [.linkedLibrary("mbedtls"), .linkedLibrary("mbedx509"), .linkedLibrary("mbedcrypto")]),

        // Device side: no Foundation, and inside the Embedded Swift subset (typed throws, no existentials of
        // non-class protocols, no metatypes, key paths or CommandLine): tools/build-agent.sh compiles these same
        // sources in Embedded mode for the deployable agent. The C library comes in through CFieldPlatform only.
        .target(name: "FieldModel", path: "Sources/FieldModel"),
        .target(name: "FieldSystem", dependencies: ["FieldModel", "CFieldPlatform"], path: "Sources/FieldSystem"),
        .target(
            name: "FieldBundle", dependencies: ["FieldModel", "CZstd", "CFieldCRC", "CFieldPlatform"], path: "Sources/FieldBundle"),
        .target(name: "FieldLinux", dependencies: ["FieldModel", "FieldSystem", "CFieldPlatform"], path: "Backends/Linux"),
        .target(name: "FieldSylixOS", dependencies: ["FieldModel", "FieldSystem", "CFieldPlatform"], path: "Backends/SylixOS"),
        // Every backend, in one list shared by the agent and the analysis. A new OS: a folder under Backends/, a
        // target like the two above, a dependency here, a line in BackendRegistry.all.
        .target(name: "FieldBackends", dependencies: ["FieldModel", "FieldLinux", "FieldSylixOS"], path: "Sources/FieldBackends"),
        .target(
            name: "FieldAgent",
            dependencies: ["FieldModel", "FieldSystem", "FieldBundle", "FieldBackends", "CFieldHTTP", "CFieldPlatform"],
            path: "Sources/FieldAgent"
        ),
        // A C main: the agent gets argc/argv from the C runtime in both builds (Embedded Swift has no CommandLine).
        .executableTarget(name: "fieldagent", dependencies: ["FieldAgent"], path: "Sources/fieldagent"),

        // Host side.
        .target(
            name: "FieldAnalysis",
            // No backend module directly: analysis reads observations, from whichever backend the registry names.
            dependencies: ["FieldModel", "FieldBundle", "FieldBackends", "CZstd"],
            path: "Sources/FieldAnalysis"
        ),
        // Host side: S3 requests for the collector's object store, signed by libcurl (apt libcurl4-openssl-dev).
        .target(name: "CFieldS3", path: "Sources/CFieldS3", linkerSettings: [.linkedLibrary("curl")]),
        .target(
            name: "FieldCollector",
            dependencies: [
                "FieldBundle", "CFieldS3", "FieldAnalysis", .product(name: "Hummingbird", package: "hummingbird"),
                // The HTTP/1 channel's configuration, where the connection guard goes in.
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/FieldCollector"
        ),
        // Host side: hand-made Linux soak logs (cat loops, top, free) read into samples for `fieldctl import`.
        .target(name: "FieldImport", dependencies: ["FieldAnalysis", "FieldBundle", "FieldModel", "FieldLinux"], path: "Sources/FieldImport"),
        .executableTarget(
            name: "fieldctl",
            dependencies: [
                "FieldAnalysis", "FieldBundle", "FieldCollector", "FieldImport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/fieldctl"
        ),

        // Benchmark harness (tools/bench/run.sh drives it).
        .executableTarget(
            name: "fieldbench",
            dependencies: ["FieldBundle", "FieldModel", "FieldSystem", "CZstd", "CFieldHTTP"],
            path: "tools/bench/fieldbench"
        ),

        // The soak synthesizer (tools/soak): a scenario in simulated time, rendered as Linux captures.
        .target(name: "FieldSoak", dependencies: ["FieldModel"], path: "tools/soak/FieldSoak"),
        .executableTarget(name: "fieldsoak", dependencies: ["FieldSoak", "FieldBundle", "FieldModel"], path: "tools/soak/fieldsoak"),

        // Tests, and the helpers they share.
        .target(name: "FieldTestKit", dependencies: ["FieldModel"], path: "Tests/FieldTestKit"),
        .testTarget(name: "FieldBundleTests", dependencies: ["FieldBundle", "FieldModel", "CFieldCRC", "CZstd"], path: "Tests/FieldBundleTests"),
        .testTarget(
            name: "FieldAnalysisTests", dependencies: ["FieldAnalysis", "FieldBundle", "FieldModel", "FieldBackends", "FieldTestKit", "FieldSoak", "FieldImport"], path: "Tests/FieldAnalysisTests"),
        .testTarget(
            name: "FieldAgentTests", dependencies: ["FieldAgent", "FieldBundle", "FieldModel", "FieldTestKit"],
            path: "Tests/FieldAgentTests"),
        .testTarget(name: "FieldCollectorTests", dependencies: ["FieldCollector", "FieldBundle"], path: "Tests/FieldCollectorTests"),
        .testTarget(name: "FieldLinuxTests", dependencies: ["FieldLinux", "FieldModel", "FieldTestKit"], path: "Tests/FieldLinuxTests"),
        .testTarget(name: "FieldSylixOSTests", dependencies: ["FieldSylixOS", "FieldModel", "FieldTestKit"], path: "Tests/FieldSylixOSTests"),
        .testTarget(name: "FieldSystemTests", dependencies: ["FieldSystem", "FieldModel", "FieldTestKit"], path: "Tests/FieldSystemTests"),
        .testTarget(
            name: "EndToEndTests",
            // The executables are dependencies so that `swift test` builds them before running these tests.
            dependencies: ["FieldBundle", "FieldModel", "FieldTestKit", "fieldctl", "fieldagent", "fieldbench", "fieldsoak"],
            path: "Tests/EndToEndTests"
        ),
    ]
)
