// Benchmark harness for the bundle writer and reader (tools/bench/run.sh drives it; results in docs/performance.md).
//
//   fieldbench write SOURCE.zst OUT.zst [--repeat N] [--level L] [--window-log W]
//       Loads the samples of SOURCE (raw /proc text captured by fieldagent on this machine), writes them N times
//       into OUT with a fresh writer, and reports throughput and size against a zstd -3 per-sample baseline.
//   fieldbench follow SPOOL
//       Beside a running agent: re-reads each new sample's entries from the live /proc and compares CPU and bytes
//       per sample with the agent's (tools/bench/agent-builds.sh).
//   fieldbench read BUNDLE [--typed]
//       Reads every record (decompress, frame, checksum; with --typed also CBOR-decodes samples) and reports
//       throughput in decompressed MB/s.
//   fieldbench upload URL TOKENS_FILE --devices D --bundles-per-device N [...] / upload-verify STORE --sent DIR ...
//       Collector load: D simulated devices upload at once; nothing lost or duplicated (UploadBench.swift, upload.sh).

import CZstd
import FieldBundle
import FieldModel
import FieldSystem

#if canImport(Glibc)
import Glibc
#endif

func fail(_ s: String) -> Never {
    var line = Array(("fieldbench: " + s + "\n").utf8)
    _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress!, $0.count) }
    exit(2)
}

func option(_ args: [String], _ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

func mbps(_ bytes: UInt64, _ nanos: UInt64) -> String {
    let v = Double(bytes) / 1e6 / (Double(nanos) / 1e9)
    return String(Int(v.rounded()))
}

func loadSamples(_ path: String) -> (BundleHeader, [Sample]) {
    let reader: BundleReader
    do { reader = try BundleReader(path: path) } catch { fail(error.message) }
    var header: BundleHeader?
    var decoder = SampleDecoder(window: 0)
    var samples: [Sample] = []
    while let r = reader.next() {
        do {
            if r.type == .header {
                header = try RecordCodec.decodeHeader(r.payload)
                decoder = SampleDecoder(header: header!)
            }
            if r.type == .sample { samples.append(try decoder.decode(r.payload)) }
        } catch { fail("\(path): \(error.message)") }
    }
    guard let h = header, !samples.isEmpty else { fail("\(path) has no header or no samples") }
    return (h, samples)
}

/// What a shell loop piping each sample's files through `zstd -3` would store: each sample compressed alone.
func perSampleZstd3(_ s: Sample) -> Int {
    var raw: [UInt8] = []
    for f in s.files { raw.append(contentsOf: f.bytes) }
    var out = [UInt8](repeating: 0, count: ZSTD_compressBound(raw.count))
    let n = raw.withUnsafeBytes { src in out.withUnsafeMutableBytes { dst in
        ZSTD_compress(dst.baseAddress, dst.count, src.baseAddress, src.count, 3)
    } }
    return ZSTD_isError(n) != 0 ? raw.count : n
}

func writeBench(_ args: [String]) {
    guard args.count >= 2 else { fail("usage: fieldbench write SOURCE.zst OUT.zst [--repeat N] [--level L] [--window-log W]") }
    let (header, samples) = loadSamples(args[0])
    let out = args[1]
    // Experiments on what costs bytes: zero the per-file read times, leave out files whose path contains a word.
    let zeroTimes = args.contains("--zero-read-times")
    let skip = args.indices.filter { args[$0] == "--skip" && $0 + 1 < args.count }.map { args[$0 + 1] }
    let repeatCount = Int(option(args, "--repeat") ?? "1") ?? 1
    var options = WriterOptions.device
    if let l = option(args, "--level").flatMap(Int32.init) { options.level = l }
    if let w = option(args, "--window-log").flatMap(Int32.init) { options.windowLog = w }
    // 0 asks for the level's own table sizes.
    if let h = option(args, "--hash-log").flatMap(Int32.init) { options.hashLog = h == 0 ? nil : h }
    if let c = option(args, "--chain-log").flatMap(Int32.init) { options.chainLog = c == 0 ? nil : c }
    unlink(out)
    let t0 = Clock.monotonicNanos()
    let writer: BundleWriter
    do { writer = try BundleWriter(path: out, header: header, options: options) } catch { fail(error.message) }
    var sizes: [UInt64] = []
    var seq: UInt64 = 0
    let step = samples.count > 1 ? UInt64(samples[1].monoNanos &- samples[0].monoNanos) : 1_000_000_000
    for _ in 0..<repeatCount {
        for s in samples {
            var copy = s
            if zeroTimes { for i in copy.files.indices { copy.files[i].readNanos = 0 } }
            if !skip.isEmpty { copy.files.removeAll { f in skip.contains { f.path.contains($0) } } }
            copy.sequence = seq
            copy.monoNanos = samples[0].monoNanos &+ seq &* step
            copy.wallNanos = samples[0].wallNanos &+ Int64(seq &* step)
            do { try writer.append(copy) } catch { fail(error.message) }
            sizes.append(writer.compressedBytes)
            seq += 1
        }
    }
    let memory = writer.compressorMemoryBytes
    do { try writer.close(reason: "shutdown", wallNanos: 0, monoNanos: 0) } catch { fail(error.message) }
    let elapsed = Clock.monotonicNanos() - t0
    // Steady state: skip the first tenth (the first sample pays for a cold window).
    let warmup = max(1, sizes.count / 10)
    let steady = Double(sizes.last! - sizes[warmup - 1]) / Double(sizes.count - warmup)
    let baseline = Double(samples.map(perSampleZstd3).reduce(0, +)) / Double(samples.count)
    let raw = Double(samples.map { $0.files.reduce(0) { $0 + $1.bytes.count } }.reduce(0, +)) / Double(samples.count)
    print("write: \(sizes.count) samples, \(writer.streamBytes) stream bytes -> \(writer.compressedBytes) compressed in "
        + "\(elapsed / 1_000_000) ms = \(mbps(writer.streamBytes, elapsed)) MB/s (level \(options.level), window 2^\(options.windowLog), hash \(options.hashLog.map { "2^\($0)" } ?? "default"), chain \(options.chainLog.map { "2^\($0)" } ?? "default"))")
    print("size: raw content \(Int(raw)) B/sample; each sample alone with zstd -3: \(Int(baseline)) B; "
        + "in the bundle (steady state): \(Int(steady)) B; ratio 1/\(String(Int((baseline / steady).rounded())))")
    print("memory: zstd compressor holds \(memory / 1024) KiB")
}

func readBench(_ args: [String]) {
    guard let path = args.first else { fail("usage: fieldbench read BUNDLE [--typed]") }
    let typed = args.contains("--typed")
    let t0 = Clock.monotonicNanos()
    let reader: BundleReader
    do { reader = try BundleReader(path: path) } catch { fail(error.message) }
    var records = 0
    var files = 0
    var decoder = SampleDecoder(window: 0)
    while let r = reader.next() {
        records += 1
        if typed && r.type == .header, let h = try? RecordCodec.decodeHeader(r.payload) { decoder = SampleDecoder(header: h) }
        if typed && r.type == .sample {
            do { files += try decoder.decode(r.payload).files.count } catch { fail(error.message) }
        }
    }
    let elapsed = Clock.monotonicNanos() - t0
    if let d = reader.damage { fail("\(path): \(d)") }
    print("read\(typed ? " --typed" : ""): \(records) records\(typed ? ", \(files) files" : ""), \(reader.streamBytes) stream bytes in "
        + "\(elapsed / 1_000_000) ms = \(mbps(reader.streamBytes, elapsed)) MB/s; peak buffered \(reader.peakBufferedBytes / 1024) KiB")
}

/// CRC-32C throughput on 64 MiB, the reader's per-byte work besides decompression.
func crcBench() {
    let data = [UInt8](unsafeUninitializedCapacity: 64 << 20) { buf, n in
        for i in 0..<buf.count { buf[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        n = buf.count
    }
    let t0 = Clock.monotonicNanos()
    var acc: UInt32 = 0
    for _ in 0..<4 { acc ^= CRC32C.checksum(data) }
    let elapsed = Clock.monotonicNanos() - t0
    print("crc32c: \(4 * data.count) bytes in \(elapsed / 1_000_000) ms = \(mbps(UInt64(4 * data.count), elapsed)) MB/s (\(acc))")
}

/// The CPU budget's baseline: CPU time to merely read the same entries as each sample of BUNDLE (same paths, same
/// kinds, read now from the live /proc), against the agent's own CPU per sample from the bundle's stats records.
func rereadBench(_ args: [String]) {
    guard let path = args.first else { fail("usage: fieldbench reread BUNDLE") }
    let reader: BundleReader
    do { reader = try BundleReader(path: path) } catch { fail(error.message) }
    var samples: [Sample] = []
    var cpu: [UInt64] = []
    var decoder = SampleDecoder(window: 0)
    while let r = reader.next() {
        do {
            if r.type == .header { decoder = SampleDecoder(header: try RecordCodec.decodeHeader(r.payload)) }
            if r.type == .sample { samples.append(try decoder.decode(r.payload)) }
            if r.type == .stats {
                let s = try RecordCodec.decodeStats(r.payload)
                cpu.append(s.cpuUserMicros + s.cpuSystemMicros)
            }
        } catch { fail(error.message) }
    }
    guard samples.count > 2, cpu.count > 2 else { fail("\(path) needs several samples and stats records") }
    func usage() -> UInt64 { let c = cpuMicros(); return c.user + c.system }
    // Same rhythm as the agent: caches cool down between samples just as they do for it.
    let gap = samples.count > 1 ? samples[1].monoNanos &- samples[0].monoNanos : 0
    var readCPU: [UInt64] = []
    for s in samples.dropFirst() {
        var ts = timespec(tv_sec: Int(gap / 1_000_000_000), tv_nsec: Int(gap % 1_000_000_000))
        _ = nanosleep(&ts, nil)
        let before = usage()
        // Read what the agent read, including the directory listings of /proc it needs to find processes.
        _ = ProcFS.listDirectory("/proc")
        for f in s.files {
            _ = f.kind == .directory ? ProcFS.listDirectory(f.path) : ProcFS.readFile(f.path)
        }
        readCPU.append(usage() - before)
    }
    let agentCPU = zip(cpu, cpu.dropFirst()).map { $1 - $0 }
    func median(_ v: [UInt64]) -> UInt64 { v.sorted()[v.count / 2] }
    let a = median(agentCPU), b = median(readCPU)
    print("reread: \(samples.count - 1) samples; CPU per sample, median: agent \(a) us (capture, encode, compress, write), "
        + "reading the same entries \(b) us; ratio \(b > 0 ? String(Double(a) / Double(b)) : "n/a")")
}

func sleepNanos(_ n: UInt64) {
    var ts = timespec(tv_sec: Int(n / 1_000_000_000), tv_nsec: Int(n % 1_000_000_000))
    _ = nanosleep(&ts, nil)
}

/// The CPU and size budgets measured live, beside a running agent: follows the bundle the agent is writing in SPOOL
/// and, half an interval after each new sample, re-reads that sample's entries from the live /proc (the same
/// processes, in the same state, under the same load). When the agent closes the bundle it prints the agent's CPU per
/// sample (its stats records) against the re-reading, and the bundle's real growth per steady-state sample (the
/// `.open` file's size after each flush) against each sample alone with `zstd -3`.
func followBench(_ args: [String]) {
    guard let spool = args.first else { fail("usage: fieldbench follow SPOOL [--pid AGENT_PID]") }
    // The agent's memory, read here once per sample: a shell loop beside it would spawn processes every second,
    // which the agents then capture whole as new processes.
    let agentPID = option(args, "--pid")
    var rss: [(total: Int, anon: Int)] = []
    func statusKiB(_ text: String, _ key: String) -> Int? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return nil }
        return Int(String(line.dropFirst(key.count).filter { $0.isNumber }))
    }
    func bundles(_ suffix: String) -> [String] {
        guard case .ok = ProcFS.listDirectory(spool).status else { return [] }
        let listing = ProcFS.listDirectory(spool)
        return String(decoding: listing.bytes, as: UTF8.self).split(separator: "\n").map(String.init)
            .filter { $0.hasSuffix(suffix) }.sorted().map { spool + "/" + $0 }
    }
    var found: String?
    for _ in 0..<600 {
        found = bundles(".zst.open").first
        if found != nil { break }
        sleepNanos(50_000_000)
    }
    guard let path = found else { fail("no bundle appeared in \(spool) within 30 s") }
    var seen = 0
    var interval: UInt64 = 1_000_000_000
    var growth: [(samples: Int, bytes: UInt64)] = []
    var readCPU: [UInt64] = []
    var alone: [Int] = []
    var lastSize: UInt64 = 0
    // Carried across polls: each poll reads the bundle from the start but decodes only the samples not seen yet,
    // in order, so that entries stored as references resolve.
    var decoder = SampleDecoder(window: 0)
    while true {
        var st = stat()
        guard stat(path, &st) == 0 else { break }  // renamed: the agent closed it
        let size = UInt64(st.st_size)
        if size == lastSize { sleepNanos(20_000_000); continue }
        lastSize = size
        guard let reader = try? BundleReader(path: path) else { break }
        var count = 0
        var latest: Sample?
        while let r = reader.next() {
            if seen == 0, r.type == .header, let h = try? RecordCodec.decodeHeader(r.payload) {
                if h.intervalNanos > 0 { interval = h.intervalNanos }
                decoder = SampleDecoder(header: h)
            }
            if r.type == .sample {
                count += 1
                if count > seen {
                    guard let s = try? decoder.decode(r.payload) else { fail("\(path): a sample does not decode") }
                    latest = s
                    seen = count
                }
            }
        }
        guard let sample = latest else { continue }
        growth.append((count, size))
        alone.append(perSampleZstd3(sample))
        // Half an interval after the agent's sample: as far from its reads as from its next ones.
        let due = sample.monoNanos &+ interval / 2
        let now = Clock.monotonicNanos()
        if due > now { sleepNanos(due - now) }
        let before = cpuMicros()
        let beforeTotal = before.user + before.system
        _ = ProcFS.listDirectory("/proc")
        for f in sample.files {
            _ = f.kind == .directory ? ProcFS.listDirectory(f.path) : ProcFS.readFile(f.path)
        }
        let after = cpuMicros()
        readCPU.append(after.user + after.system - beforeTotal)
        if let pid = agentPID {
            let text = String(decoding: ProcFS.readFile("/proc/\(pid)/status").bytes, as: UTF8.self)
            if let t = statusKiB(text, "VmRSS:"), let a = statusKiB(text, "RssAnon:") { rss.append((t, a)) }
        }
    }
    // The agent renamed NAME.zst.open to NAME.zst: its stats records give its own CPU per sample.
    let closed = String(path.dropLast(".open".count))
    var cpu: [UInt64] = []
    if let reader = try? BundleReader(path: closed) {
        while let r = reader.next() {
            if r.type == .stats, let s = try? RecordCodec.decodeStats(r.payload) { cpu.append(s.cpuUserMicros + s.cpuSystemMicros) }
        }
    }
    guard cpu.count > 3, readCPU.count > 3, growth.count > 3 else { fail("\(path): too few samples followed (\(readCPU.count))") }
    func median<T: Comparable>(_ v: [T]) -> T { v.sorted()[v.count / 2] }
    let agentCPU = zip(cpu, cpu.dropFirst()).map { $1 - $0 }
    let a = median(agentCPU), b = median(readCPU)
    let warm = growth[max(1, growth.count / 10) - 1], end = growth[growth.count - 1]
    let perSample = Double(end.bytes - warm.bytes) / Double(max(1, end.samples - warm.samples))
    let zstd3 = Double(alone.reduce(0, +)) / Double(alone.count)
    print("follow: \(readCPU.count) samples followed of \(cpu.count); CPU per sample, median: agent \(a) us, "
        + "reading the same entries \(b) us, ratio \(String(Double(Int(Double(a) / Double(max(1, b)) * 100)) / 100)); "
        + "bytes per steady-state sample: bundle \(Int(perSample)) B, each sample alone with zstd -3 \(Int(zstd3)) B, "
        + "ratio 1/\(String(Double(Int(zstd3 / max(1, perSample) * 10)) / 10))")
    // Steady state: after the first five samples (the first deep cycle has started).
    let steady = rss.count > 10 ? Array(rss.dropFirst(5)) : rss
    if !steady.isEmpty {
        print("rss: VmRSS median \(median(steady.map(\.total))) KiB, max \(steady.map(\.total).max()!) KiB; "
            + "RssAnon median \(median(steady.map(\.anon))) KiB (\(steady.count) readings)")
    }
}

let args = Array(CommandLine.arguments.dropFirst())
switch args.first {
case "write": writeBench(Array(args.dropFirst()))
case "read": readBench(Array(args.dropFirst()))
case "crc": crcBench()
case "reread": rereadBench(Array(args.dropFirst()))
case "follow": followBench(Array(args.dropFirst()))
case "upload", "upload-verify": uploadCommand(args)
default: fail("usage: fieldbench write|read|crc|reread|upload|upload-verify ... (see tools/bench/run.sh, tools/bench/upload.sh)")
}
