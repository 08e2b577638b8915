@testable import FieldAgent
import FieldBundle
import FieldTestKit
import Testing

@Suite struct AgentOptionsTests {
    @Test func flagsParse() throws {
        let o = try AgentOptions.parse([
            "--backend", "linux", "--proc-root", "/tmp/p", "--interval", "0.5", "--duration", "10", "--spool", "/s",
            "--bundle-seconds", "60", "--bundle-bytes", "2M", "--spool-max-bytes", "1G", "--pid", "12", "--pid=34",
            "--match", "^leak-", "--device-id", "board-7", "--deep-every", "5", "--fsync", "sample",
        ])
        #expect(o.backend == "linux" && o.procRoot == "/tmp/p" && o.interval == 0.5 && o.duration == 10)
        #expect(o.spool == "/s" && o.bundleSeconds == 60 && o.bundleBytes == 2 << 20 && o.spoolMaxBytes == 1 << 30)
        #expect(o.pids == [12, 34] && o.match == "^leak-" && o.deviceID == "board-7" && o.deepEvery == 5)
        #expect(o.fsync == .sample)
    }

    @Test func fsyncDefaultsToCloseAndTakesEachPolicy() throws {
        #expect(try AgentOptions.parse([]).fsync == .close)
        for p in FsyncPolicy.allCases { #expect(try AgentOptions.parse(["--fsync=\(p.rawValue)"]).fsync == p) }
        let t = try FixtureTree(["agent.conf": "fsync = never\n"])
        defer { t.remove() }
        #expect(try AgentOptions.parse(["--config", t.root + "/agent.conf"]).fsync == .never)
        #expect(try AgentOptions.parse(["--config", t.root + "/agent.conf", "--fsync", "sample"]).fsync == .sample)
    }

    @Test func configFileGivesTheSameSettingsAndFlagsWin() throws {
        let t = try FixtureTree([
            "agent.conf": """
                # soak test on the bench board
                interval = 2
                spool /var/spool/field
                pid 7
                pid = 8
                bundle-bytes 512K   # small bundles
                --device-id bench
                """
        ])
        defer { t.remove() }
        let o = try AgentOptions.parse(["--config", t.root + "/agent.conf", "--interval", "3"])
        #expect(o.interval == 3)
        #expect(o.spool == "/var/spool/field" && o.pids == [7, 8] && o.bundleBytes == 512 << 10 && o.deviceID == "bench")
    }

    @Test(arguments: [
        (["--interval", "0.05"], "at least 0.1"), (["--interval"], "needs a value"), (["--bogus", "1"], "unknown option"),
        (["--pid", "x"], "process id"), (["--match", "("], "regular expression"), (["--bundle-bytes", "0"], "positive size"),
        (["--device-id", "a/b"], "device id"), (["--backend", "qnx"], "auto or one of sylixos, linux"), (["extra"], "unexpected"),
        (["--config", "/nonexistent.conf"], "cannot read config file"),
        (["--fsync", "always"], "never, close or sample"),
        // Numbers that once trapped on the way to nanoseconds (a fault campaign's finding) are usage errors.
        (["--interval", "1e11"], "from 0 to 315360000"), (["--duration", "1e11"], "from 0 to 315360000"),
        (["--bundle-seconds", "1e11"], "from 0 to 315360000"), (["--interval", "nan"], "number of seconds"),
        (["--duration", "-inf"], "number of seconds"), (["--retry-max", "1e300"], "number of seconds"),
        (["--deep-every", "99999999999999999999"], "positive whole number"),
        (["--bundle-bytes", "18446744073709551615K"], "positive size"), (["--pid", "99999999999"], "process id"),
    ])
    func mistakesAreExplained(args: [String], message: String) {
        do {
            _ = try AgentOptions.parse(args)
            Issue.record("\(args) was accepted")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(!error.isHelp)
        }
    }

    @Test func badConfigLineNamesFileAndLine() throws {
        let t = try FixtureTree(["bad.conf": "interval 1\nlonely\n"])
        defer { t.remove() }
        do {
            _ = try AgentOptions.parse(["--config", t.root + "/bad.conf"])
            Issue.record("accepted")
        } catch {
            #expect(error.message.contains("bad.conf:2"))
        }
    }

    @Test func helpIsNotAnError() {
        do {
            _ = try AgentOptions.parse(["--help"])
        } catch {
            #expect(error.isHelp)
            #expect(error.message.contains("--spool-max-bytes") && error.message.contains("--fsync never|close|sample"))
        }
    }
}

@Suite struct DeepScheduleTests {
    let second: UInt64 = 1_000_000_000

    @Test func firstSightThenPeriodicWhenNothingChanges() {
        var s = DeepSchedule(every: 10, intervalNanos: second)
        var reads: [UInt64] = []
        for seq: UInt64 in 0..<31 where s.wantsDeep(pid: 1, seq: seq, signals: [5, 1]) {
            reads.append(seq)
            s.didDeep(pid: 1, seq: seq, signals: [5, 1], costNanos: 1_000_000)
        }
        #expect(reads == [0, 10, 20, 30])
    }

    @Test func cheapChangeTriggersADeepReadAtOnceWhenCheap() {
        var s = DeepSchedule(every: 10, intervalNanos: second)
        var reads: [UInt64] = []
        for seq: UInt64 in 0..<6 {
            let signals: [UInt64] = [100 + seq, 1]  // VmSize grows every interval
            if s.wantsDeep(pid: 1, seq: seq, signals: signals) {
                reads.append(seq)
                s.didDeep(pid: 1, seq: seq, signals: signals, costNanos: 1_000_000)  // 1 ms: cheap
            }
        }
        #expect(reads == [0, 1, 2, 3, 4, 5])
    }

    /// A process whose deep read costs 200 ms of a 1 s interval is read at most every 4 intervals (5 % budget),
    /// however fast it changes.
    @Test func expensiveProcessesAreThrottled() {
        var s = DeepSchedule(every: 10, intervalNanos: second)
        var reads: [UInt64] = []
        for seq: UInt64 in 0..<13 {
            let signals: [UInt64] = [100 + seq]
            if s.wantsDeep(pid: 1, seq: seq, signals: signals) {
                reads.append(seq)
                s.didDeep(pid: 1, seq: seq, signals: signals, costNanos: 200_000_000)
            }
        }
        #expect(reads == [0, 4, 8, 12])
    }

    @Test func vanishedProcessesAreForgotten() {
        var s = DeepSchedule(every: 10, intervalNanos: second)
        s.didDeep(pid: 1, seq: 0, signals: [], costNanos: 0)
        s.didDeep(pid: 2, seq: 0, signals: [], costNanos: 0)
        s.keepOnly([2])
        #expect(s.states.keys.sorted() == [2])
        #expect(s.wantsDeep(pid: 1, seq: 1, signals: []))  // a new process with a reused pid: first sight again
    }
}
