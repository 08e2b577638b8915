import FieldModel
import FieldSylixOS
import FieldTestKit
import Testing

@Suite struct SylixOSDetectTests {
    @Test func detectsByVersionOrKernelObjects() throws {
        let byVersion = try FixtureTree([
            "version": "SylixOS kernel version: 2.3.8 Code name: Enterprise BSP: Mini2440\n(compile time: Oct 10 2022 10:00:00)\nGCC:4.9.3\n"
        ])
        let byObjects = try FixtureTree(["kernel/objects": "object      total    used     max-used\nthread      500      31       33\n"])
        let linux = try FixtureTree(["version": "Linux version 6.1.0\n"])
        defer { byVersion.remove(); byObjects.remove(); linux.remove() }
        #expect(SylixOSBackend().detect(procRoot: byVersion.root))
        #expect(SylixOSBackend().detect(procRoot: byObjects.root))
        #expect(!SylixOSBackend().detect(procRoot: linux.root))
        #expect(SylixOSBackend().bootID(procRoot: byVersion.root) == nil)
    }
}
