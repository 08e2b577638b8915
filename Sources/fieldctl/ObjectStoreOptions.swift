import ArgumentParser
import FieldCollector
import Foundation

/// How fieldctl reaches an S3-compatible object store named by an `s3://BUCKET/PREFIX` address.
struct ObjectStoreOptions: ParsableArguments {
    @Option(
        name: .customLong("s3-endpoint"),
        help: ArgumentHelp(
            "The object store's URL, for s3:// addresses (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS).",
            discussion:
                "Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; requests are signed with Signature V4 and use path-style addresses (ENDPOINT/BUCKET/KEY).",
            valueName: "URL"))
    var endpoint: String?

    @Option(
        name: .customLong("s3-region"),
        help: ArgumentHelp("The region requests are signed for (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1).", valueName: "NAME"))
    var region: String?

    @Option(
        name: .customLong("s3-ca-file"),
        help: ArgumentHelp("CA certificates (PEM) for an https:// object store, instead of the system's.", valueName: "FILE"))
    var caFile: String?

    /// The location `address` names, or a usage error that says what is wrong.
    func location(_ address: String) throws -> S3Location {
        do { return try S3Location(address, endpoint: endpoint, region: region, caFile: caFile) } catch {
            throw ValidationError(error.message)
        }
    }
}

/// Bundles of an object store fetched for one run of analyze or compare, into a directory removed afterwards.
enum ObjectStoreDownloads {
    nonisolated(unsafe) private static var directories: [String] = []

    /// The bundle files of `address` (`s3://BUCKET/PREFIX/DEVICE`: one device; `s3://BUCKET/PREFIX`: every device
    /// under it), downloaded.
    static func files(_ address: String, options: ObjectStoreOptions) throws -> [String] {
        var location = try options.location(address)
        let store = ObjectStore(location)
        var devices: [String]
        // A store's prefix holds devices; a device's holds bundles, and only `.ids/` and `.index/` below it.
        let last = location.prefix.split(separator: "/").last.map(String.init)
        let parent = location.prefix.split(separator: "/").dropLast().joined(separator: "/")
        switch store.deviceIDs() {
        case .failure(let e): throw ValidationError("\(address): \(e.message)")
        case .success(let ids): devices = ids.filter { !$0.hasPrefix(".") }
        }
        if devices.isEmpty, let device = last {
            location.prefix = parent
            devices = [device]
        }
        let reader = ObjectStore(location)
        let dir = NSTemporaryDirectory() + "fieldctl-s3-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        directories.append(dir)
        var files: [String] = []
        for device in devices {
            let bundles: [StoredBundle]
            switch reader.bundles(device: device) {
            case .failure(let e): throw ValidationError("\(address): \(e.message)")
            case .success(let b): bundles = b
            }
            try FileManager.default.createDirectory(atPath: dir + "/" + device, withIntermediateDirectories: true)
            for b in bundles {
                let path = "\(dir)/\(device)/\(b.name)"
                if case .failure(let e) = reader.download(device: device, name: b.name, to: path) {
                    throw ValidationError("\(address): \(e.message)")
                }
                files.append(path)
            }
        }
        guard !files.isEmpty else { throw ValidationError("no bundles under \(address)") }
        return files
    }

    /// Removes what `files` downloaded.
    static func cleanUp() {
        for d in directories { try? FileManager.default.removeItem(atPath: d) }
        directories.removeAll()
    }
}
