import FieldBundle
import FieldModel
import Glibc

/// A small deterministic generator (SplitMix64), so property tests replay the same cases on every run.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fresh empty directory under /tmp, removed by the caller with `removeTree`.
func makeTempDirectory(_ tag: String = "fieldtest") -> String {
    var template = Array("/tmp/\(tag)-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: p!)
}

func removeTree(_ path: String) {
    guard let dir = opendir(path) else { unlink(path); return }
    while let e = readdir(dir) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name == "." || name == ".." { continue }
        let child = path + "/" + name
        if e.pointee.d_type == UInt8(DT_DIR) { removeTree(child) } else { unlink(child) }
    }
    closedir(dir)
    rmdir(path)
}

func readAll(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { return [] }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

func testHeader(device: String = "bench-01", plan: [CapturePlanEntry] = []) -> BundleHeader {
    BundleHeader(
        agent: "fieldagent test", backend: "linux", osIdentity: Array("Linux version 6.1.0 (test)\n".utf8),
        deviceID: device, bootID: "0f2d6c1e-5d8b-4f55-9a51-1c1f6f0d2a77", wallNanos: 1_700_000_000_000_000_000,
        monoNanos: 5_000_000_000, intervalNanos: 1_000_000_000, procRoot: "/proc", sequence: 0, plan: plan)
}

func randomBytes(_ n: Int, _ rng: inout SeededRandom, text: Bool) -> [UInt8] {
    (0..<n).map { _ in text ? UInt8.random(in: 0x20...0x7E, using: &rng) : UInt8.random(in: 0...255, using: &rng) }
}

func randomSample(_ seq: UInt64, _ rng: inout SeededRandom) -> Sample {
    let count = Int.random(in: 0...6, using: &rng)
    let files = (0..<count).map { i -> FileCapture in
        let status = ReadStatus.allCases.randomElement(using: &rng)!
        let kind = EntryKind.allCases.randomElement(using: &rng)!
        return FileCapture(
            path: "/proc/\(Int.random(in: 1...40000, using: &rng))/f\(i)", kind: kind, status: status,
            errno: status == .ok ? nil : Int32.random(in: 1...130, using: &rng),
            readNanos: UInt64.random(in: 0...10_000, using: &rng) * 1000, truncated: Bool.random(using: &rng) && status == .ok,
            bytes: status == .ok ? randomBytes(Int.random(in: 0...3000, using: &rng), &rng, text: Bool.random(using: &rng)) : [])
    }
    return Sample(
        sequence: seq, wallNanos: Int64.random(in: -5...Int64.max / 2, using: &rng),
        monoNanos: UInt64.random(in: 0...UInt64.max, using: &rng), files: files)
}

/// A record as the test expects to read it back.
enum Written: Equatable {
    case sample(Sample)
    case event(EventBatch)
    case stats(AgentStats)
    case raw(UInt8, [UInt8])
}

/// Writes `records` after a header and returns the final path; `close` false leaves a crash-like `.open` file.
@discardableResult
func writeBundle(_ path: String, _ records: [Written], close: Bool = true, options: WriterOptions = .device,
                 flushOffsets: inout [UInt64]) throws -> String {
    let w = try BundleWriter(path: path, header: testHeader(), options: options)
    flushOffsets = [w.compressedBytes]
    for r in records {
        switch r {
        case .sample(let s): try w.append(s)
        case .event(let e): try w.append(e)
        case .stats(let s): try w.append(s)
        case .raw(let t, let p): try w.write(RecordType(rawValue: t), payload: p, flush: true)
        }
        flushOffsets.append(w.compressedBytes)
    }
    if close { return try w.close(reason: "shutdown", wallNanos: 1, monoNanos: 2) }
    return w.openPath
}

func readRecords(_ reader: BundleReader) -> [RawRecord] {
    var out: [RawRecord] = []
    while let r = reader.next() { out.append(r) }
    return out
}
