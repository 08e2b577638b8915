import FieldBundle

/// Turns a decompressed bundle stream into the bytes of a `.zst` bundle, so that a target can fuzz what lies
/// inside the compression: the records and their payloads.
///
/// Each frame whose length fits in the input gets its CRC-32C recomputed (a mutated payload would otherwise only
/// ever reach the checksum test); lengths, types and everything else stay as the fuzzer made them.
public enum BundleFraming {
    /// The stream with every complete frame's checksum made right.
    public static func fixingChecksums(_ stream: [UInt8]) -> [UInt8] {
        var s = stream
        var pos = StreamLayout.preambleSize
        while s.count - pos >= StreamLayout.frameHeaderSize {
            let length = Int(s[pos]) | Int(s[pos + 1]) << 8 | Int(s[pos + 2]) << 16 | Int(s[pos + 3]) << 24
            let end = pos + StreamLayout.frameHeaderSize + length + StreamLayout.frameTrailerSize
            guard end <= s.count else { break }
            let crc = s.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[pos..<end - 4])) }
            for i in 0..<4 { s[end - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
            pos = end
        }
        return s
    }

    /// One zstd frame holding `content` in raw (stored) blocks, as RFC 8878 lays them out: magic, a frame header
    /// with a 128 KiB window and no content size or checksum, then 3-byte block headers (last flag, type 0 raw,
    /// size) each followed by up to 128 KiB of content. Cheaper than compressing, and every byte stays where the
    /// fuzzer put it.
    public static func zstdFrame(storing content: [UInt8]) -> [UInt8] {
        let blockMax = 128 << 10
        var out: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x38]  // window descriptor 0x38: 2^(10+7) bytes
        out.reserveCapacity(content.count + 6 + 3 * (content.count / blockMax + 1))
        var pos = 0
        repeat {
            let n = min(blockMax, content.count - pos)
            let last: UInt32 = pos + n == content.count ? 1 : 0
            let header = UInt32(n) << 3 | last
            out += [UInt8(header & 0xFF), UInt8(header >> 8 & 0xFF), UInt8(header >> 16 & 0xFF)]
            out += content[pos..<pos + n]
            pos += n
        } while pos < content.count
        return out
    }
}
