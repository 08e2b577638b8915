import FieldLinux
import FieldModel
import FieldTestKit
import Testing

@Suite struct LinuxDetectTests {
    @Test func detectsLinuxByItsVersionLine() throws {
        let t = try FixtureTree([
            "version": "Linux version 3.10.108 (build@host) (gcc version 4.9.4) #1 PREEMPT Mon Jan 1 00:00:00 CST 2018\n",
            "sys/kernel/random/boot_id": "3f1e2d4c-0000-4000-8000-123456789abc\n",
        ])
        defer { t.remove() }
        #expect(LinuxBackend().detect(procRoot: t.root))
        #expect(LinuxBackend().bootID(procRoot: t.root) == "3f1e2d4c-0000-4000-8000-123456789abc")
    }

    @Test func rejectsOtherTrees() throws {
        let sylix = try FixtureTree(["version": "SylixOS kernel version: 2.3.8 Code name: Enterprise BSP: x\n"])
        let empty = try FixtureTree([:])
        defer { sylix.remove(); empty.remove() }
        #expect(!LinuxBackend().detect(procRoot: sylix.root))
        #expect(!LinuxBackend().detect(procRoot: empty.root))
        #expect(LinuxBackend().bootID(procRoot: empty.root) == nil)
    }

    @Test func detectsThisMachine() {
        #expect(LinuxBackend().detect(procRoot: "/proc"))
    }

    @Test func planReadsCheapFilesEveryIntervalAndMapsDeep() {
        let plan = LinuxBackend().capturePlan
        #expect(plan.contains { $0.path == "/proc/meminfo" && $0.tier == .cheap && $0.scope == .system })
        #expect(plan.contains { $0.path == "/proc/[pid]/maps" && $0.tier == .deep && $0.every > 1 })
    }
}

@Suite struct CgroupPathTests {
    func paths(_ cgroup: String) -> [String] {
        LinuxBackend().derivedPaths(fromDeep: [FileCapture(path: "/proc/7/cgroup", bytes: Array(cgroup.utf8))])
    }

    @Test func unifiedHierarchy() {
        #expect(paths("0::/system.slice/app.service\n") == [
            "/sys/fs/cgroup/system.slice/app.service/pids.max", "/sys/fs/cgroup/system.slice/app.service/pids.current",
            "/sys/fs/cgroup/unified/system.slice/app.service/pids.max",
            "/sys/fs/cgroup/unified/system.slice/app.service/pids.current",
        ])
    }

    @Test func v1PidsControllerAmongOthers() {
        let p = paths("12:memory:/a\n8:pids:/soak/job1\n3:cpu,cpuacct:/\n0::/\n")
        #expect(p.contains("/sys/fs/cgroup/pids/soak/job1/pids.max"))
        #expect(p.contains("/sys/fs/cgroup/pids.max"))  // the v2 root is a candidate too; it simply does not exist
        #expect(!p.contains { $0.contains("memory") })
    }

    @Test func oddLinesAreIgnored() {
        #expect(paths("garbage\n5:pids:relative\n5:pids:/../etc\n").isEmpty)
        #expect(paths("").isEmpty)
    }
}
