import FieldBundle
import FieldModel
import FieldTestKit
import Foundation
import Testing

/// Damaged bundles by the thousand: `fieldctl decode` and the Python reference decoder deliver the same intact
/// records and report the same damage (kind, records, offset), whatever the damage and wherever it falls.
@Suite(.serialized) struct ReferenceDecoderDamageTests {
    /// Text that compresses like procfs does: repeated keys, changing numbers.
    static func text(_ lines: Int, _ rng: inout XorShiftRandom) -> [UInt8] {
        var s = ""
        for i in 0..<lines { s += "Key\(i % 7):\t\(UInt32.random(in: 0...999_999, using: &rng)) kB\n" }
        return Array(s.utf8)
    }

    /// A closed bundle: small samples (one zstd block per flush), events, and every `bigEvery` samples one large
    /// capture (blocks of a full 128 KiB).
    static func writeBundle(_ path: String, samples: Int, bigEvery: Int, seed: UInt64) throws -> [UInt8] {
        var rng = XorShiftRandom(seed: seed)
        let header = BundleHeader(
            agent: "fieldagent test", backend: "linux", osIdentity: Array("Linux version 6.1.0\n".utf8), deviceID: "fuzz",
            bootID: nil, wallNanos: 1_700_000_000_000_000_000, monoNanos: 0, intervalNanos: 1_000_000_000, procRoot: "/proc",
            sequence: 0, plan: [])
        let w = try BundleWriter(path: path, header: header, options: WriterOptions(sameWindow: 0))
        for i in 0..<samples {
            var files = (0..<3).map { k in
                FileCapture(path: "/proc/\(100 + k)/status", bytes: text(Int.random(in: 2...12, using: &rng), &rng))
            }
            if bigEvery > 0 && i % bigEvery == bigEvery - 1 {
                let noise = text(9_000, &rng)
                files.append(FileCapture(path: "/proc/1/maps", bytes: noise))
            }
            try w.append(Sample(sequence: UInt64(i), wallNanos: 1_700_000_000_000_000_000 + Int64(i) * 1_000_000_000,
                                monoNanos: UInt64(i), files: files))
            if i % 10 == 9 {
                try w.append(EventBatch(wallNanos: Int64(i), monoNanos: UInt64(i), source: "/dev/kmsg", lines: [Array("6,\(i),0,-;x".utf8)]))
            }
        }
        let closed = try w.close(reason: "rotation", wallNanos: 1, monoNanos: 1)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: closed)))
    }

    /// One damage of one of five shapes at a random place: bit flips, a cut, garbage inserted, bytes removed, bytes
    /// overwritten.
    static func damage(_ b: [UInt8], _ rng: inout XorShiftRandom) -> [UInt8] {
        var d = b
        let at = Int.random(in: 0..<b.count, using: &rng)
        switch Int.random(in: 0..<5, using: &rng) {
        case 0:
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                d[Int.random(in: 0..<d.count, using: &rng)] ^= 1 << UInt8.random(in: 0...7, using: &rng)
            }
        case 1: d.removeSubrange(at...)
        case 2: d.insert(contentsOf: (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
        case 3: d.removeSubrange(at..<min(d.count, at + Int.random(in: 1...64, using: &rng)))
        default:
            for i in at..<min(d.count, at + Int.random(in: 1...16, using: &rng)) { d[i] = UInt8.random(in: 0...255, using: &rng) }
        }
        return d
    }

    /// The output of a run over several bundles, one list of lines per bundle (from its `{"bundle":...}` line to its
    /// `{"result":...}` line).
    static func perBundle(_ out: Data) -> [[Substring]] {
        var all: [[Substring]] = []
        var current: [Substring] = []
        for line in String(decoding: out, as: UTF8.self).split(separator: "\n") {
            current.append(line)
            if line.hasPrefix("{\"result\":") {
                all.append(current)
                current = []
            }
        }
        return all
    }

    /// For each path, whether the system's libzstd (fieldctl's) and python-zstandard's own copy of zstd (the reference
    /// decoder's) decode its compressed bytes equally far, fed one byte per call so that each delivers every block it
    /// accepts. Versions of zstd differ in what they accept of a damaged block: 1.5.4 decodes some damaged blocks
    /// (to the right bytes, or to garbage that our record checks then reject) where 1.5.7 reports corruption.
    static func zstdLibrariesAgree(_ paths: [String], in dir: String) throws -> [Bool] {
        let script = """
            import ctypes, sys, zstandard
            lib = ctypes.CDLL("libzstd.so.1")
            class Buf(ctypes.Structure):
                _fields_ = [("p", ctypes.c_void_p), ("size", ctypes.c_size_t), ("pos", ctypes.c_size_t)]
            lib.ZSTD_createDStream.restype = ctypes.c_void_p
            lib.ZSTD_decompressStream.restype = ctypes.c_size_t
            lib.ZSTD_decompressStream.argtypes = [ctypes.c_void_p, ctypes.POINTER(Buf), ctypes.POINTER(Buf)]
            lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
            lib.ZSTD_freeDStream.argtypes = [ctypes.c_void_p]
            class System:
                def __init__(self):
                    self.ds, self.out = lib.ZSTD_createDStream(), ctypes.create_string_buffer(1 << 17)
                def feed(self, piece):
                    src, n = ctypes.create_string_buffer(piece, len(piece)), 0
                    inb = Buf(ctypes.cast(src, ctypes.c_void_p), len(piece), 0)
                    while True:
                        outb = Buf(ctypes.cast(self.out, ctypes.c_void_p), 1 << 17, 0)
                        if lib.ZSTD_isError(lib.ZSTD_decompressStream(self.ds, ctypes.byref(outb), ctypes.byref(inb))):
                            raise ValueError
                        n += outb.pos
                        if inb.pos == len(piece) and outb.pos < 1 << 17:
                            return n
                def close(self):
                    lib.ZSTD_freeDStream(self.ds)
            class Bundled:
                def __init__(self):
                    self.dctx, self.obj = zstandard.ZstdDecompressor(max_window_size=1 << 27), None
                def feed(self, piece):
                    n = 0
                    while piece:
                        if self.obj is None or self.obj.eof:
                            self.obj = self.dctx.decompressobj()
                        try:
                            n += len(self.obj.decompress(piece))
                        except zstandard.ZstdError:
                            raise ValueError
                        piece = self.obj.unused_data if self.obj.eof else b""
                    return n
                def close(self):
                    pass
            def reach(make, d):
                # (bytes decoded, index of the byte whose call fails): chunks up to the failing one, then that chunk
                # again one byte per call after decoding everything before it in a fresh session.
                z, at = make(), 0
                try:
                    while at < len(d):
                        z.feed(d[at : at + 4096])
                        at += 4096
                    return None
                except ValueError:
                    z.close()
                z, n, i = make(), 0, at
                try:
                    n = z.feed(d[:at]) if at else 0
                    for i in range(at, min(len(d), at + 4096)):
                        n += z.feed(d[i : i + 1])
                except ValueError:
                    return n, i
                finally:
                    z.close()
                return n, None
            for path in sys.argv[1:]:
                d = open(path, "rb").read()
                print("same" if reach(System, d) == reach(Bundled, d) else "different")
            """
        try script.write(toFile: dir + "/zstd-versions.py", atomically: true, encoding: .utf8)
        let r = try Harness.run("python3", [dir + "/zstd-versions.py"] + paths)
        #expect(r.status == 0, "\(r.stderr)")
        return r.text.split(separator: "\n").map { $0 == "same" }
    }

    @Test func damagedBundlesDecodeIdentically() throws {
        let dir = try Harness.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sources = [
            try Self.writeBundle(dir + "/small.zst", samples: 60, bigEvery: 0, seed: 1),
            try Self.writeBundle(dir + "/large.zst", samples: 6, bigEvery: 3, seed: 2),
        ]
        var rng = XorShiftRandom(seed: 2026)
        var identical = 0
        var versionCaused: [String] = []
        var unexplained: [String] = []
        for batch in 0..<10 {
            var paths: [String] = []
            for k in 0..<250 {
                let path = dir + "/c\(batch)-\(k).zst"
                try Data(Self.damage(sources[k % 16 == 15 ? 1 : 0], &rng)).write(to: URL(fileURLWithPath: path))
                paths.append(path)
            }
            let swift = try Harness.fieldctl(["decode"] + paths)
            let py = try Harness.run("python3", [Harness.root + "/tools/fieldbundle.py"] + paths)
            #expect(!py.stderr.contains("Traceback"), "\(py.stderr.prefix(2000))")
            let a = Self.perBundle(swift.stdout), b = Self.perBundle(py.stdout)
            try #require(a.count == paths.count && b.count == paths.count)
            var differing: [Int] = []
            for i in paths.indices {
                if a[i] == b[i] { identical += 1 } else { differing.append(i) }
            }
            if differing.isEmpty { #expect(swift.status == py.status, "batch \(batch): exit \(swift.status) vs \(py.status)") }
            // A bundle that decodes differently must owe it to the two zstd libraries, and then the decoder whose zstd
            // accepted less delivers a prefix of the other's records.
            let agree = differing.isEmpty ? [] : try Self.zstdLibrariesAgree(differing.map { paths[$0] }, in: dir)
            for (i, same) in zip(differing, agree) {
                let (x, y) = (a[i].dropLast(), b[i].dropLast())
                let prefix = x.count <= y.count ? y.starts(with: x) : x.starts(with: y)
                let note = "\(paths[i]):\n swift  \(a[i].last!)\n python \(b[i].last!)"
                if !same && prefix { versionCaused.append(note) } else { unexplained.append(note) }
            }
            for p in paths { try? FileManager.default.removeItem(atPath: p) }
        }
        #expect(identical + versionCaused.count + unexplained.count == 2500)
        #expect(unexplained.isEmpty, "\(unexplained.count) damaged bundles decode differently:\n\(unexplained.prefix(5).joined(separator: "\n"))")
        // What the two zstd versions make of damaged blocks stays a small share.
        #expect(versionCaused.count <= 125, "\(versionCaused.count) differences owed to the zstd versions")
        print("damaged bundles: \(identical) of 2500 decode identically, \(versionCaused.count) differ where the two zstd versions do")
    }
}
