import CFieldS3
import FieldBundle
import Foundation

/// Where bundles live in an S3-compatible object store, and how to reach it.
///
/// `s3://BUCKET/PREFIX` names the place; the endpoint, region and credentials come from flags or the variables
/// the AWS tools read: `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (default `https://s3.REGION.amazonaws.com`),
/// `AWS_REGION` or `AWS_DEFAULT_REGION` (default `us-east-1`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
/// and `AWS_SESSION_TOKEN`. Requests use path-style addresses (`ENDPOINT/BUCKET/KEY`), which MinIO, Ceph,
/// SeaweedFS and AWS all answer.
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    public var bucket: String
    /// Keys start with this, without a trailing slash; empty for the bucket's root.
    public var prefix: String
    public var endpoint: String
    public var region: String
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?
    /// CA certificates for an https endpoint; nil for the system's.
    public var caFile: String?

    public var description: String { "s3://\(bucket)" + (prefix.isEmpty ? "" : "/\(prefix)") + " at \(endpoint)" }

    /// Whether `text` names an object store rather than a directory.
    public static func isS3(_ text: String) -> Bool { text.hasPrefix("s3://") }

    /// Parses `s3://BUCKET[/PREFIX]` and fills the rest from `environment`, with `endpoint` and `region` (flags)
    /// first.
    public init(
        _ url: String, endpoint: String? = nil, region: String? = nil, caFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(CollectorError) {
        guard url.hasPrefix("s3://") else { throw CollectorError("'\(url)' is not an s3://BUCKET/PREFIX address") }
        let rest = url.dropFirst(5)
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        bucket = String(parts[0])
        prefix = parts.count > 1 ? String(parts[1]) : ""
        while prefix.hasSuffix("/") { prefix.removeLast() }
        // Bucket names of S3's rules; keys of our own plain names: nothing in a URL ever needs escaping.
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." })
        else { throw CollectorError("'\(bucket)' is not a bucket name (3-63 of a-z 0-9 . -)") }
        guard prefix.split(separator: "/", omittingEmptySubsequences: false).allSatisfy({ SafeName.isSafe(String($0)) }) || prefix.isEmpty
        else { throw CollectorError("the prefix '\(prefix)' must be plain names (A-Z a-z 0-9 . _ -) joined by /") }
        self.region = region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        var e = endpoint ?? environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"]
            ?? "https://s3.\(self.region).amazonaws.com"
        while e.hasSuffix("/") { e.removeLast() }
        guard e.hasPrefix("http://") || e.hasPrefix("https://") else {
            throw CollectorError("the S3 endpoint '\(e)' must start with http:// or https://")
        }
        self.endpoint = e
        guard let access = environment["AWS_ACCESS_KEY_ID"], !access.isEmpty,
            let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        else {
            throw CollectorError("the object store needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        accessKey = access
        secretKey = secret
        sessionToken = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        self.caFile = caFile
    }

    /// The key of `relative` under the prefix.
    public func key(_ relative: String) -> String { prefix.isEmpty ? relative : prefix + "/" + relative }
}

/// An answer of the object store.
public struct S3Answer: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// Response headers, names lower-cased.
    public var headers: [String: String]

    public var text: String { String(decoding: body, as: UTF8.self) }
    /// The store's error code (`PreconditionFailed`, `NoSuchKey`...) from an XML error body.
    public var errorCode: String? { S3XML.values("Code", in: text).first }
    /// A line for the log: status and the store's code and message.
    public var summary: String {
        let message = S3XML.values("Message", in: text).first
        return "\(status)" + (errorCode.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? "")
    }
}

/// One object of a listing.
public struct S3Object: Sendable, Equatable {
    public var key: String
    public var size: UInt64
    /// When it was written, Unix seconds (the listing's LastModified).
    public var modified: Double?
}

/// Requests to one object store location, signed with AWS Signature V4 by libcurl. Blocking: call from a
/// thread that may wait.
public struct S3Client: Sendable {
    public let location: S3Location
    /// Seconds a request may take in all.
    public var timeoutSeconds = 120

    public init(_ location: S3Location) { self.location = location }

    /// Empty-body SHA-256, which signs GET, HEAD and DELETE.
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    func url(key: String?, query: String = "") -> String {
        location.endpoint + "/" + location.bucket + (key.map { "/" + $0 } ?? "") + (query.isEmpty ? "" : "?" + query)
    }

    /// One request. The body is `file`, or `bytes`; `sha256` is its digest in hex (the store checks the body
    /// against it before it answers 2xx).
    public func request(
        _ method: String, key: String?, query: String = "", headers: [String] = [], file: String? = nil,
        bytes: [UInt8]? = nil, sha256: String? = nil
    ) -> Result<S3Answer, CollectorError> {
        var lines = headers
        lines.append("x-amz-content-sha256: \(sha256 ?? Self.emptySHA256)")
        if let token = location.sessionToken { lines.append("x-amz-security-token: \(token)") }
        let target = url(key: key, query: query)
        var response = field_s3_response()
        let sigv4 = "aws:amz:\(location.region):s3"
        let userpwd = "\(location.accessKey):\(location.secretKey)"
        let rc: Int32 = withCStrings(lines) { cHeaders in
            if let body = bytes {
                return body.withUnsafeBufferPointer { b in
                    field_s3_request(
                        method, target, sigv4, userpwd, cHeaders, lines.count, nil, b.baseAddress ?? UnsafePointer(bitPattern: 1),
                        b.count, location.caFile, timeoutSeconds, &response)
                }
            }
            return field_s3_request(
                method, target, sigv4, userpwd, cHeaders, lines.count, file, nil, 0, location.caFile, timeoutSeconds,
                &response)
        }
        defer { field_s3_response_free(&response) }
        guard rc == 0 else {
            let why = withUnsafeBytes(of: response.error) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            return .failure(CollectorError("\(method) \(target): \(why)"))
        }
        let body = response.body.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: response.body_len)) } ?? []
        var parsed: [String: String] = [:]
        if let h = response.headers {
            let text = String(decoding: UnsafeRawBufferPointer(start: h, count: response.headers_len), as: UTF8.self)
            for line in text.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                parsed[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return .success(S3Answer(status: response.status == 0 ? 0 : Int(response.status), body: body, headers: parsed))
    }

    /// Creates `key` from `file` unless it exists (If-None-Match: *): 200 stored, 412 already there.
    public func create(key: String, file: String? = nil, bytes: [UInt8]? = nil, sha256: String, metadata: [String: String] = [:])
        -> Result<S3Answer, CollectorError>
    {
        var headers = ["If-None-Match: *"]
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { headers.append("x-amz-meta-\(k): \(v)") }
        return request("PUT", key: key, headers: headers, file: file, bytes: bytes, sha256: sha256)
    }

    /// Writes `bytes` to `key`, replacing what is there.
    public func put(key: String, bytes: [UInt8]) -> Result<S3Answer, CollectorError> {
        request("PUT", key: key, bytes: bytes, sha256: ContentDigest.hex(SHA256.hash(bytes)))
    }

    public func get(key: String) -> Result<S3Answer, CollectorError> { request("GET", key: key) }

    public func head(key: String) -> Result<S3Answer, CollectorError> { request("HEAD", key: key) }

    /// Every object under `prefix` (a key prefix, such as `DEVICE/`), following continuation tokens; with
    /// `delimiter` "/", the common prefixes (the "directories") too.
    public func list(prefix: String, delimiter: String? = nil) -> Result<(objects: [S3Object], prefixes: [String]), CollectorError> {
        var objects: [S3Object] = []
        var prefixes: [String] = []
        var token: String?
        repeat {
            // Signature V4 wants the query's names sorted and its values escaped; libcurl sends it as given.
            var query: [(String, String)] = [("list-type", "2"), ("prefix", prefix)]
            if let d = delimiter { query.append(("delimiter", d)) }
            if let t = token { query.append(("continuation-token", t)) }
            let text = query.sorted { $0.0 < $1.0 }.map { "\($0.0)=\(Self.escape($0.1))" }.joined(separator: "&")
            let answer: S3Answer
            switch request("GET", key: nil, query: text) {
            case .success(let a): answer = a
            case .failure(let e): return .failure(e)
            }
            guard answer.status == 200 else {
                return .failure(CollectorError("listing \(location.bucket)/\(prefix): \(answer.summary)"))
            }
            let xml = answer.text
            for entry in S3XML.elements("Contents", in: xml) {
                guard let key = S3XML.values("Key", in: entry).first else { continue }
                objects.append(
                    S3Object(
                        key: key, size: UInt64(S3XML.values("Size", in: entry).first ?? "") ?? 0,
                        modified: S3XML.values("LastModified", in: entry).first.flatMap(Self.parseTime)))
            }
            for entry in S3XML.elements("CommonPrefixes", in: xml) {
                if let p = S3XML.values("Prefix", in: entry).first { prefixes.append(p) }
            }
            token = S3XML.values("IsTruncated", in: xml).first == "true" ? S3XML.values("NextContinuationToken", in: xml).first : nil
        } while token != nil
        return .success((objects, prefixes))
    }

    /// `2026-12-03T14:01:49Z` or `2026-12-03T14:01:49.123Z` as Unix seconds.
    static func parseTime(_ s: String) -> Double? {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: s) { return d.timeIntervalSince1970 }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)?.timeIntervalSince1970
    }

    /// RFC 3986 escaping as Signature V4 wants it: every byte but A-Z a-z 0-9 - . _ ~ as %XX.
    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }
}

/// C strings of `strings` for the length of `body`.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Just enough XML for S3's answers: the text of named elements, entities decoded. S3's listing and error
/// documents are flat and machine-written; a full parser would add nothing here.
enum S3XML {
    /// The inner text of every `<name>...</name>` in `xml`, in order.
    static func elements(_ name: String, in xml: String) -> [Substring] {
        var out: [Substring] = []
        var rest = xml[...]
        let open = "<\(name)>"
        let close = "</\(name)>"
        while let start = rest.range(of: open), let end = rest.range(of: close, range: start.upperBound..<rest.endIndex) {
            out.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return out
    }

    static func values(_ name: String, in xml: some StringProtocol) -> [String] {
        elements(name, in: String(xml)).map { decode(String($0)) }
    }

    static func decode(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#34;", with: "\"")
            .replacingOccurrences(of: "&apos;", with: "'").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
