import ArgumentParser
import FieldAnalysis
import FieldCollector
import Foundation

extension Fieldctl {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Collect bundles that agents upload (fieldagent --upload URL).",
            discussion: """
                Agents send PUT /v1/devices/DEVICE/bundles/NAME.zst with Authorization: Bearer TOKEN and \
                Content-Digest: sha-256=:BASE64:. Each bundle is written to a temporary file, synced, checked \
                against its digest, read through to its end, and renamed to DIR/DEVICE/NAME.zst; DIR/DEVICE/index.jsonl \
                lists what is stored. Uploading the same bundle again answers 200 and stores it once, under any name: \
                a bundle is the same when its header's boot id and sequence and its SHA-256 are those of one already \
                stored for the device, and the answer then says "already stored as NAME" (the device may drop its \
                copy; the collector keeps one).

                Answers: 201 stored; 200 already stored; 400 bad name, missing or wrong digest; 401 no token; 403 \
                wrong token for the device; 409 another bundle of that name is stored; 413 too large, or it \
                decompresses to more than --max-stream-bytes or --max-expansion times its size; 422 damaged \
                bundle, or written by another device; 507 the disk is full (nothing half-written is kept). \
                GET /v1/health answers 200 while the collector runs, with the open connections and how many were closed.

                GET /metrics answers in Prometheus's text format: per device the bundles and bytes stored, the last \
                upload and sample, the findings of an analysis of its stored bundles by kind and severity, each \
                limit's headroom and time to exhaustion with its interval, and the losses its bundles record \
                (docs/fleet.md). The store is looked at every --metrics-interval; a device whose bundles changed is \
                analyzed again, at most that often. It needs no token: serve it on a network you trust.

                TLS: --tls-cert and --tls-key serve HTTPS (TLS 1.2 and later); agents verify the certificate against \
                their --ca-file or the system's CAs, by the host name or IP address in their --upload URL, so the \
                certificate must name it (subjectAltName). Without them the collector speaks plain HTTP and warns.

                Slow and silent clients: a new connection must send a complete request head within --header-timeout, \
                a kept-alive one its next head within --idle-timeout of the last response, and an upload may pause \
                no longer than --body-timeout (the partial upload is discarded). At --max-connections, a new \
                connection closes the one that has waited longest without a request in progress; an upload being \
                received or answered is never closed for room (only authenticated uploads stay in progress: other \
                requests are answered at once). The cap is lowered to fit the descriptor limit (ulimit -n), which is \
                raised first as far as the hard limit allows; the log says so.

                TOKENS has one 'DEVICE_ID TOKEN' line per device (tokens of at least 16 characters; # comments). \
                It must not be readable by group or others (chmod 600). SIGHUP reads it again (a file that does not \
                load leaves the old tokens in force). One log line per request goes to standard output. SIGTERM or SIGINT stops accepting, finishes the uploads in flight and exits 0.
                """
        )

        @Option(help: "Address and port to listen on, HOST:PORT (port 0 picks a free one and logs it).")
        var listen: String = "127.0.0.1:8470"

        @Option(
            help: ArgumentHelp(
                "Directory of the store (created if missing), or s3://BUCKET/PREFIX of an S3-compatible object store.",
                discussion:
                    "With an object store, uploads are received and checked in --staging, then created in the bucket only if absent; several collectors may share one bucket.",
                valueName: "DIR|s3://BUCKET/PREFIX"))
        var store: String

        @Option(help: ArgumentHelp("With an s3:// store: where uploads are received and checked before they go to the bucket (default: a new directory under TMPDIR, removed at exit).", valueName: "DIR"))
        var staging: String?

        @OptionGroup(title: "Object store") var objectStore: ObjectStoreOptions

        @Option(help: "File of 'DEVICE_ID TOKEN' lines, mode 600.")
        var tokens: String

        @Option(help: "Refuse bundles larger than this many bytes (413).")
        var maxBundleBytes: UInt64 = 64 << 20

        @Option(help: "Refuse (413) a bundle whose record stream decompresses to more than this many bytes.")
        var maxStreamBytes: UInt64 = StreamLimit().maxStreamBytes

        @Option(
            help: ArgumentHelp(
                "Refuse (413) a bundle whose stream is more than this many times its size.",
                discussion:
                    "Real bundles decompress to 10-70 times their size; a decompression bomb to thousands. A stream of 64 MiB is always allowed."
            ))
        var maxExpansion: UInt64 = StreamLimit().maxExpansion

        @Option(help: "Seconds a new connection has to send a complete request head.")
        var headerTimeout: Double = 10

        @Option(help: "Seconds an upload may go without a byte before it is dropped.")
        var bodyTimeout: Double = 30

        @Option(help: "Seconds a kept-alive connection has, after a response, to send its next complete request head.")
        var idleTimeout: Double = 30

        @Option(help: "Connections open at once; at the cap, the one waiting longest with no request in progress goes.")
        var maxConnections: Int = ConnectionPolicy().maxConnections

        @Option(
            help: ArgumentHelp(
                "Serve HTTPS with this PEM certificate chain (the server's certificate first, then intermediates).",
                discussion: "With --tls-key. Without both, plain HTTP, for a trusted network only (the log warns).",
                valueName: "FILE"))
        var tlsCert: String?

        @Option(help: ArgumentHelp("The certificate's private key, an unencrypted PEM file.", valueName: "FILE"))
        var tlsKey: String?

        @Option(
            help: ArgumentHelp(
                "Seconds between two looks at the store for GET /metrics; a device is analyzed again at most this often.",
                valueName: "SECONDS"))
        var metricsInterval: Double = 60

        @Option(help: "Also write the listening address (HOST:PORT) to this file once the server is up.")
        var addressFile: String?

        func run() async throws {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (0...65535).contains(port)
            else {
                throw ValidationError("--listen wants HOST:PORT such as 127.0.0.1:8470, not '\(listen)'")
            }
            var host = String(listen[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            for (flag, seconds) in [
                ("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout), ("--idle-timeout", idleTimeout),
            ] where !(seconds > 0 && seconds <= 86400) {
                throw ValidationError("\(flag) wants seconds between 0 and 86400 (a day), not \(seconds)")
            }
            guard metricsInterval >= 0.1 && metricsInterval <= 86400 else {
                throw ValidationError("--metrics-interval wants seconds between 0.1 and 86400, not \(metricsInterval)")
            }
            guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
            guard maxExpansion >= 1 else { throw ValidationError("--max-expansion must be at least 1") }
            var tls: TLSFiles?
            switch (tlsCert, tlsKey) {
            case (let cert?, let key?): tls = TLSFiles(certificatePath: cert, privateKeyPath: key)
            case (nil, nil): tls = nil
            case (_?, nil): throw ValidationError("--tls-cert needs --tls-key (the certificate's private key)")
            case (nil, _?): throw ValidationError("--tls-key needs --tls-cert (the certificate chain)")
            }
            let table: Tokens
            do { table = try Tokens.load(path: tokens) } catch { throw ValidationError("\(error)") }
            let addressFile = self.addressFile
            var directory = store
            var location: S3Location?
            var ownStaging: String?
            if S3Location.isS3(store) {
                location = try objectStore.location(store)
                if let staging { directory = staging } else {
                    directory = NSTemporaryDirectory() + "fieldctl-staging-\(getpid())"
                    ownStaging = directory
                }
            } else if staging != nil {
                throw ValidationError("--staging is for an s3:// store; a directory store receives into itself")
            }
            defer { if let d = ownStaging { try? FileManager.default.removeItem(atPath: d) } }
            var config = CollectorConfiguration(
                host: host, port: port, storeDirectory: directory, tokens: table, tokensPath: tokens, maxBundleBytes: maxBundleBytes,
                stream: StreamLimit(maxStreamBytes: maxStreamBytes, maxExpansion: maxExpansion),
                connections: ConnectionPolicy(
                    headerTimeout: .seconds(headerTimeout), bodyTimeout: .seconds(bodyTimeout),
                    idleTimeout: .seconds(idleTimeout), maxConnections: maxConnections),
                objectStore: location, tls: tls,
                onListening: { address in
                    if let f = addressFile { try? (address + "\n").write(toFile: f, atomically: true, encoding: .utf8) }
                })
            config.metricsInterval = metricsInterval
            do {
                try await Collector.run(config) { line in Self.log(line) }
            } catch let error as CollectorError {
                FileHandle.standardError.write(Data("fieldctl serve: \(error.message)\n".utf8))
                throw ExitCode(1)
            } catch {
                FileHandle.standardError.write(Data("fieldctl serve: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }

        static func log(_ line: String) {
            let stamp = Fieldctl.utcStamp()
            // One write per line: lines of concurrent requests never interleave, and nothing waits in a buffer.
            FileHandle.standardOutput.write(Data("\(stamp) \(line)\n".utf8))
        }
    }

    /// `2026-11-21T10:00:00Z` for now, from gmtime_r: building an ISO8601DateFormatter per request line cost a
    /// fifth of the collector's CPU under load.
    static func utcStamp() -> String {
        var t = time(nil)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return
            "\(tmv.tm_year + 1900)-\(two(tmv.tm_mon + 1))-\(two(tmv.tm_mday))T\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec))Z"
    }

    struct Devices: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the devices in a collector's store, from its index.",
            discussion:
                "Reads DIR/DEVICE/index.jsonl (bundles the index lacks are read and shown too; nothing is written), or an object store's DEVICE/.index/ objects (a bundle without one is shown by its name and size)."
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

        @Option(help: ArgumentHelp("Directory or s3://BUCKET/PREFIX of the store (as given to fieldctl serve --store).", valueName: "DIR|s3://BUCKET/PREFIX"))
        var store: String

        @OptionGroup(title: "Object store") var objectStore: ObjectStoreOptions

        @Option(help: "Output: text (a table) or json (one object per device).")
        var format: Format = .text

        func run() async throws {
            let devices: [DeviceSummary]
            if S3Location.isS3(store) {
                switch ObjectStore(try objectStore.location(store)).devices() {
                case .success(let d): devices = d
                case .failure(let e):
                    FileHandle.standardError.write(Data("fieldctl devices: \(e.message)\n".utf8))
                    throw ExitCode(1)
                }
            } else {
                let s: Store
                do { s = try Store(root: store, repair: false) } catch { throw ValidationError("\(error)") }
                for note in s.loadNotes { FileHandle.standardError.write(Data("fieldctl: \(note)\n".utf8)) }
                devices = await s.devices()
            }
            switch format {
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                FileHandle.standardOutput.write(try encoder.encode(devices))
                print()
            case .text:
                guard !devices.isEmpty else {
                    print("no devices in \(store)")
                    return
                }
                var rows = [
                    ["DEVICE", "OS", "BUNDLES", "SIZE", "SAMPLES", "FIRST SAMPLE", "LAST SAMPLE", "LAST UPLOAD"]
                ]
                for d in devices {
                    rows.append([
                        d.device, d.backend ?? "-", String(d.bundles), BundleSummary.bytes(d.bytes), String(d.samples),
                        d.firstWallNanos.map(BundleSummary.date) ?? "-", d.lastWallNanos.map(BundleSummary.date) ?? "-",
                        d.lastReceived.map { BundleSummary.date(Int64($0 * 1e9)) } ?? "-",
                    ])
                }
                let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
                for r in rows {
                    let cells = r.enumerated().map {
                        $0 == r.count - 1 ? $1 : $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0)
                    }
                    print(cells.joined(separator: "  "))
                }
            }
        }
    }
}
