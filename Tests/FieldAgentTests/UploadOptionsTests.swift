@testable import FieldAgent
import FieldTestKit
import Foundation
import Testing

/// The error message of parsing `args`, or nil when they were accepted.
private func parseError(_ args: [String]) -> String? {
    do {
        _ = try AgentOptions.parse(args)
        return nil
    } catch {
        #expect(!error.isHelp)
        return error.message
    }
}

@Suite struct UploadOptionsTests {
    @Test func defaultsKeepBundlesInTheSpool() throws {
        let o = try AgentOptions.parse([])
        #expect(o.upload == nil && o.tokenFile == nil && o.caFile == nil && o.copyTo == nil)
        #expect(o.connectTimeout == 10 && o.stallTimeout == 30 && o.retryMin == 1 && o.retryMax == 300)
        #expect(o.finalUploadSeconds == 5)
    }

    @Test func uploadFlagsParse() throws {
        let o = try AgentOptions.parse([
            "--upload", "https://collector.example:8443/base", "--token-file", "/etc/field/token", "--ca-file=/etc/field/ca.pem",
            "--copy-to", "/media/usb", "--connect-timeout", "2.5", "--stall-timeout", "7", "--retry-min", "0.25",
            "--retry-max=60", "--final-upload-seconds", "0",
        ])
        #expect(o.upload == "https://collector.example:8443/base")
        #expect(o.tokenFile == "/etc/field/token" && o.caFile == "/etc/field/ca.pem" && o.copyTo == "/media/usb")
        #expect(o.connectTimeout == 2.5 && o.stallTimeout == 7 && o.retryMin == 0.25 && o.retryMax == 60)
        #expect(o.finalUploadSeconds == 0)
    }

    @Test func plainHTTPIsAccepted() throws {
        let o = try AgentOptions.parse(["--upload", "http://10.0.0.2:8080", "--token-file", "/t"])
        #expect(o.upload == "http://10.0.0.2:8080" && o.caFile == nil)
    }

    /// Validation looks at the whole command line, so the order of the flags does not matter.
    @Test func tokenFileMayComeBeforeUpload() throws {
        let o = try AgentOptions.parse(["--token-file", "/t", "--ca-file", "/ca.pem", "--upload", "https://c"])
        #expect(o.upload == "https://c" && o.tokenFile == "/t" && o.caFile == "/ca.pem")
    }

    /// A one-letter host name (a hosts-file alias) is as good as a long one, for either scheme.
    @Test(arguments: ["http://c", "https://c", "http://c:80", "http://10.0.0.2"])
    func shortURLsAreAccepted(url: String) throws {
        #expect(try AgentOptions.parse(["--upload", url, "--token-file", "/t"]).upload == url)
    }

    @Test func copyToNeedsNoUpload() throws {
        let o = try AgentOptions.parse(["--copy-to", "/media/usb"])
        #expect(o.copyTo == "/media/usb" && o.upload == nil)
    }

    @Test func uploadNeedsATokenFile() throws {
        let message = try #require(parseError(["--upload", "https://collector:8443"]))
        #expect(message.contains("--upload needs --token-file"), "\(message)")
        // --ca-file does not stand in for a token.
        let again = try #require(parseError(["--upload", "https://collector:8443", "--ca-file", "/ca.pem"]))
        #expect(again.contains("--token-file"), "\(again)")
    }

    @Test(arguments: [
        (["--token-file", "/t"], "--token-file only makes sense with --upload"),
        (["--ca-file", "/ca.pem"], "--ca-file only makes sense with --upload"),
        (["--token-file", "/t", "--copy-to", "/media/usb"], "--token-file only makes sense with --upload"),
    ])
    func tokenAndCAFilesNeedUpload(args: [String], expected: String) throws {
        let message = try #require(parseError(args), "\(args) was accepted")
        #expect(message.contains(expected), "\(message)")
    }

    @Test(arguments: ["ftp://collector", "collector:8443", "//collector", "http:/collector", "http://", "https://", "", " https://c"])
    func uploadURLMustBeHTTP(url: String) throws {
        let message = try #require(parseError(["--upload", url, "--token-file", "/t"]), "'\(url)' was accepted")
        #expect(message.contains("http:// or https://"), "\(message)")
        #expect(message.contains("--upload"), "\(message)")
    }

    @Test(arguments: ["connect-timeout", "stall-timeout", "retry-min", "retry-max", "final-upload-seconds"])
    func timesMustBeNonNegativeNumbers(name: String) throws {
        for bad in ["-1", "abc", "", "inf", "nan", "1s"] {
            let message = try #require(parseError(["--\(name)", bad]), "--\(name) \(bad) was accepted")
            #expect(message.contains("--\(name) wants a number"), "\(message)")
        }
        let zero = parseError(["--\(name)", "0"])
        if name == "final-upload-seconds" {
            // No last attempt at all is a valid choice.
            #expect(zero == nil, "\(zero ?? "")")
        } else {
            #expect(zero?.contains("--\(name) must be more than 0") == true, "\(zero ?? "accepted")")
        }
        #expect(parseError(["--\(name)", "0.001"]) == nil)
    }

    @Test(arguments: [
        "a/b", "../up", ".hidden", ".", "..", "", "has space", "board:1", "bøard", String(repeating: "d", count: 129),
    ])
    func deviceIDMustBeASafeName(id: String) throws {
        let message = try #require(parseError(["--device-id", id]), "'\(id)' was accepted")
        #expect(message.contains("device id"), "\(message)")
    }

    @Test(arguments: ["board-7", "Board_7.rev-B", "a", "1", "a..b", String(repeating: "d", count: 128)])
    func safeDeviceIDsAreAccepted(id: String) throws {
        #expect(try AgentOptions.parse(["--device-id", id]).deviceID == id)
    }

    @Test func configFileGivesTheUploadSettings() throws {
        let t = try FixtureTree([
            "agent.conf": """
                # deliver to the lab collector
                upload = https://collector.lab:8443/field?x=1
                token-file /etc/field/token   # chmod 600
                ca-file=/etc/field/ca.pem
                copy-to\t/media/usb
                --connect-timeout 3
                stall-timeout = 12.5
                retry-min 2
                retry-max 120
                final-upload-seconds 0
                device-id bench_3
                """
        ])
        defer { t.remove() }
        let o = try AgentOptions.parse(["--config", t.root + "/agent.conf"])
        #expect(o.upload == "https://collector.lab:8443/field?x=1")
        #expect(o.tokenFile == "/etc/field/token" && o.caFile == "/etc/field/ca.pem" && o.copyTo == "/media/usb")
        #expect(o.connectTimeout == 3 && o.stallTimeout == 12.5 && o.retryMin == 2 && o.retryMax == 120)
        #expect(o.finalUploadSeconds == 0 && o.deviceID == "bench_3")
        // Flags after the config win.
        let w = try AgentOptions.parse(["--config", t.root + "/agent.conf", "--retry-max", "30", "--upload", "http://other"])
        #expect(w.retryMax == 30 && w.upload == "http://other" && w.tokenFile == "/etc/field/token")
    }

    /// The checks apply to the settings as a whole, wherever each came from.
    @Test func configAndFlagsAreValidatedTogether() throws {
        let t = try FixtureTree([
            "upload.conf": "upload https://c.lab\n",
            "token.conf": "token-file /etc/field/token\n",
            "badurl.conf": "# x\nupload collector.lab:8443\n",
            "zero.conf": "stall-timeout 0\n",
            "device.conf": "\ndevice-id ../etc\n",
        ])
        defer { t.remove() }
        let uploadOnly = try #require(parseError(["--config", t.root + "/upload.conf"]))
        #expect(uploadOnly.contains("--upload needs --token-file"), "\(uploadOnly)")
        let tokenOnly = try #require(parseError(["--config", t.root + "/token.conf"]))
        #expect(tokenOnly.contains("--token-file only makes sense with --upload"), "\(tokenOnly)")
        // Together, from the two places, they are fine.
        let o = try AgentOptions.parse(["--config", t.root + "/upload.conf", "--token-file", "/t"])
        #expect(o.upload == "https://c.lab" && o.tokenFile == "/t")
        let o2 = try AgentOptions.parse(["--upload", "http://c.lab", "--config", t.root + "/token.conf"])
        #expect(o2.upload == "http://c.lab" && o2.tokenFile == "/etc/field/token")
        // Mistakes in the file name the file and line.
        let badURL = try #require(parseError(["--config", t.root + "/badurl.conf", "--token-file", "/t"]))
        #expect(badURL.contains("badurl.conf:2") && badURL.contains("http:// or https://"), "\(badURL)")
        let zero = try #require(parseError(["--config", t.root + "/zero.conf"]))
        #expect(zero.contains("zero.conf:1") && zero.contains("must be more than 0"), "\(zero)")
        let device = try #require(parseError(["--config", t.root + "/device.conf"]))
        #expect(device.contains("device.conf:2") && device.contains("device id"), "\(device)")
    }

    @Test func helpDescribesTheUploadOptions() {
        do {
            _ = try AgentOptions.parse(["--help"])
            Issue.record("--help parsed")
        } catch {
            #expect(error.isHelp)
            for flag in [
                "--upload", "--token-file", "--ca-file", "--copy-to", "--connect-timeout", "--stall-timeout", "--retry-min",
                "--retry-max", "--final-upload-seconds",
            ] {
                #expect(error.message.contains(flag), "\(flag) is not in --help")
            }
        }
    }
}

@Suite struct SpoolUploadTests {
    private func fill(_ n: Int, _ c: Character) -> String { String(repeating: c, count: n) }

    @Test func rejectedBundlesCountAndAreDroppedOldestFirst() throws {
        let t = try FixtureTree([
            "d-20260101T000000Z-0000.zst.rejected": fill(1000, "a"),
            "d-20260101T000001Z-0001.zst": fill(1000, "b"),
            "d-20260101T000002Z-0002.zst.rejected": fill(1000, "c"),
            "d-20260101T000003Z-0003.zst": fill(1000, "d"),
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        // 4000 on disk + 500 still to come: two must go, the oldest by name, rejected or not.
        let dropped = spool.enforceQuota(maxBytes: 2500, extraBytes: 500)
        #expect(dropped.names == ["d-20260101T000000Z-0000.zst.rejected", "d-20260101T000001Z-0001.zst"])
        #expect(dropped.bytes == 2000)
        let left = try spoolFiles(t.root).sorted()
        #expect(
            left == [
                "d-20260101T000002Z-0002.zst.rejected", "d-20260101T000003Z-0003.zst",
            ])
    }

    /// Rejected bundles alone can push the spool over its quota.
    @Test func onlyRejectedBundlesOverTheQuotaAreDropped() throws {
        let t = try FixtureTree([
            "d-20260101T000000Z-0000.zst.rejected": fill(3000, "a"),
            "d-20260101T000001Z-0001.zst.rejected": fill(3000, "b"),
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let dropped = spool.enforceQuota(maxBytes: 4000, extraBytes: 0)
        #expect(dropped.names == ["d-20260101T000000Z-0000.zst.rejected"] && dropped.bytes == 3000)
    }

    @Test func withinTheQuotaNothingIsDropped() throws {
        let t = try FixtureTree([
            "d-20260101T000000Z-0000.zst.rejected": fill(1000, "a"),
            "d-20260101T000001Z-0001.zst": fill(1000, "b"),
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        // Exactly at the quota is within it.
        let dropped = spool.enforceQuota(maxBytes: 2500, extraBytes: 500)
        #expect(dropped.names.isEmpty && dropped.bytes == 0)
        #expect(try spoolFiles(t.root).count == 2)
    }

    /// The bundle being uploaded stays, but its bytes still count, so younger ones go in its place.
    @Test func theBundleInFlightIsSparedButCounted() throws {
        let t = try FixtureTree([
            "d-20260101T000000Z-0000.zst": fill(1000, "a"),
            "d-20260101T000001Z-0001.zst.rejected": fill(1000, "b"),
            "d-20260101T000002Z-0002.zst": fill(1000, "c"),
            "d-20260101T000003Z-0003.zst": fill(1000, "d"),
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let dropped = spool.enforceQuota(maxBytes: 1500, extraBytes: 0, sparing: "d-20260101T000000Z-0000.zst")
        // 4000 > 1500: without counting the spared 1000 two drops would do; counting it, three are needed.
        #expect(
            dropped.names == [
                "d-20260101T000001Z-0001.zst.rejected", "d-20260101T000002Z-0002.zst", "d-20260101T000003Z-0003.zst",
            ])
        #expect(dropped.bytes == 3000)
        #expect(try spoolFiles(t.root) == ["d-20260101T000000Z-0000.zst"])
    }

    @Test func aSparedBundleOverTheQuotaAloneStays() throws {
        let t = try FixtureTree([
            "d-20260101T000000Z-0000.zst": fill(5000, "a"),
            "d-20260101T000001Z-0001.zst": fill(1000, "b"),
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let dropped = spool.enforceQuota(maxBytes: 1000, extraBytes: 0, sparing: "d-20260101T000000Z-0000.zst")
        #expect(dropped.names == ["d-20260101T000001Z-0001.zst"] && dropped.bytes == 1000)
        #expect(try spoolFiles(t.root) == ["d-20260101T000000Z-0000.zst"])
        // Again, with nothing else left to drop: it returns, dropping nothing.
        let again = spool.enforceQuota(maxBytes: 1000, extraBytes: 0, sparing: "d-20260101T000000Z-0000.zst")
        #expect(again.names.isEmpty && again.bytes == 0)
        #expect(FileManager.default.fileExists(atPath: t.root + "/d-20260101T000000Z-0000.zst"))
    }

    /// A spared name that is not in the spool (the upload just finished) changes nothing.
    @Test func sparingAnAbsentNameDropsAsUsual() throws {
        let t = try FixtureTree([
            "d-20260101T000000Z-0000.zst": fill(1000, "a"),
            "d-20260101T000001Z-0001.zst": fill(1000, "b"),
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let dropped = spool.enforceQuota(maxBytes: 1500, extraBytes: 0, sparing: "d-20251231T000000Z-0000.zst")
        #expect(dropped.names == ["d-20260101T000000Z-0000.zst"])
    }

    @Test func otherFilesNeitherCountNorGo() throws {
        let t = try FixtureTree([
            "d-20260101T000001Z-0001.zst": fill(1000, "b"),
            "notes.txt": fill(4000, "c"),
            "d-20260101T000002Z-0002.zst.rejected.tmp": fill(4000, "d"),
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        let dropped = spool.enforceQuota(maxBytes: 1000, extraBytes: 0)
        #expect(dropped.names.isEmpty, "\(dropped.names)")
        #expect(try spoolFiles(t.root).count == 3)
    }

    /// Refused bundles are not offered for delivery again.
    @Test func rejectedBundlesAreNotClosedBundles() throws {
        let t = try FixtureTree([
            "d-20260101T000000Z-0000.zst.rejected": fill(10, "a"),
            "d-20260101T000001Z-0001.zst": fill(10, "b"),
        ])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "d")
        #expect(spool.closedBundles().map(\.name) == ["d-20260101T000001Z-0001.zst"])
    }

    /// A name whose bundle was refused is not taken again: the refused one would be overwritten or confused.
    @Test func freeNamesAvoidRejectedAndCrashedBundles() throws {
        let t = try FixtureTree([:])
        defer { t.remove() }
        let spool = try Spool(directory: t.root, deviceID: "board")
        let wall: Int64 = 1_700_000_000_123_000_000
        let first = spool.bundlePath(wallNanos: wall, sequence: 2)
        _ = FileManager.default.createFile(atPath: first + ".rejected", contents: Data("x".utf8))
        let second = spool.bundlePath(wallNanos: wall + 1_000_000, sequence: 2)
        #expect(second != first)
        _ = FileManager.default.createFile(atPath: second + ".crashed", contents: Data("x".utf8))
        let free = spool.freeBundlePath(wallNanos: wall, sequence: 2)
        #expect(free.hasSuffix("/board-20231114T221320.125Z-0002.zst"), "\(free)")
        // The sequence is part of the name: another sequence in the same millisecond is free.
        #expect(spool.freeBundlePath(wallNanos: wall, sequence: 3) == spool.bundlePath(wallNanos: wall, sequence: 3))
    }
}
