#!/usr/bin/env python3
"""Reference decoder for field bundles (docs/bundle-format.md), independent of the Swift code.

Prints the same JSON lines as `fieldctl decode --format jsonl`, byte for byte, and exits with the same codes:
0 intact, 3 ends early (never closed, or cut short), 4 damaged (wrong bytes or over a limit), 5 cannot open.

Needs the PyPI packages cbor2 and zstandard; with `crc32c` too the checksums are computed in C (about ten times
the speed overall; without it a pure-Python table loop checks them, correctly and at a few MB/s).
"""

import argparse
import base64
import io
import json
import os
import stat
import struct
import sys

import cbor2
import zstandard

MAGIC = b"FIELDB"
TYPE_NAMES = {1: "header", 2: "sample", 3: "event", 4: "stats", 5: "end", 6: "loss"}
MAX_RECORD_BYTES = 64 << 20
MAX_STREAM_BYTES = None  # None: the default rule below; else the limit given on the command line
STREAM_CEILING = 64 << 30
MAX_EXPANSION = 4096  # a stream may grow to this many times the bundle's size when that is known...
EXPANSION_FLOOR = 64 << 20  # ...and always to this many bytes
MAX_WINDOW_LOG = 27
MAX_DEPTH = 64  # containers nested in one another, as in fieldctl
CHUNK = 4096  # compressed bytes fed at a time, which bounds the output of one call


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def _crc32c_python(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


try:
    # The PyPI package `crc32c` computes CRC-32C in C (with the CPU's instruction where there is one): a hundred
    # times the table loop below, which stays as the fallback (correct, slow: a few MB/s).
    from crc32c import crc32c as _crc32c_native
except ImportError:  # pragma: no cover - depends on what is installed
    _crc32c_native = None


def crc32c(data):
    return _crc32c_native(data) if _crc32c_native is not None else _crc32c_python(data)


class Malformed(Exception):
    pass


def to_json_value(v):
    """The JSON form of a decoded CBOR item (the rules in docs/bundle-format.md, "JSON lines"); map keys must be
    text (the format allows no others)."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is dict:
        out = {}
        for k, e in v.items():
            if type(k) is not str:
                raise Malformed("map key is not text")
            out[k] = to_json_value(e)
        return out
    if t is list:
        return [to_json_value(e) for e in v]
    if t is bytes or t is bytearray:
        try:
            return {"utf8": bytes(v).decode("utf-8")}
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, bool) or isinstance(v, (int, str)):
        return v
    if isinstance(v, dict):
        return to_json_value(dict(v))
    if isinstance(v, (bytes, bytearray)):
        return to_json_value(bytes(v))
    if isinstance(v, list):
        return [to_json_value(e) for e in v]
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if isinstance(v, cbor2.CBORTag):
        return to_json_value(v.value)
    if isinstance(v, cbor2.CBORSimpleValue):
        return v.value
    if v is cbor2.undefined:
        return None
    raise Malformed("unsupported item %r" % type(v))


def _tag_content(*args):
    """Every tag renders as its content (v1 writers emit no tags; this keeps both decoders alike if one appears).

    cbor2 6 calls hooks with (tag or value, immutable); earlier releases with (decoder, tag) or (decoder,).
    """
    first = args[0]
    if isinstance(first, cbor2.CBORDecoder):
        if len(args) > 1:
            return args[1].value if isinstance(args[1], cbor2.CBORTag) else args[1]
        return first.decode()
    return first.value if isinstance(first, cbor2.CBORTag) else first


_SEMANTIC = {tag: _tag_content for tag in range(0, 1 << 16)}


def decode_payload(payload):
    fp = io.BytesIO(payload)
    try:
        decoder = cbor2.CBORDecoder(fp, tag_hook=_tag_content, semantic_decoders=_SEMANTIC, max_depth=MAX_DEPTH)
        value = decoder.decode()
    except Exception:
        return None
    if fp.tell() != len(payload):
        return None
    try:
        return to_json_value(value)
    except Malformed:
        return None


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Stream:
    """Decompresses a bundle a chunk at a time, following zstd frames like `zstd -dc`.

    zstd gives no output from a call that meets an error, and one call decodes every block its input completes:
    the blocks decoded whole before the bad one would be lost with it. After an error the frame is therefore
    decoded again from its start (the file is read again; the bytes delivered before are skipped), and the chunk
    that failed one byte at a time, so that each block comes out of the call that completes it and the error out
    of a call of its own. fieldctl does the same, so both deliver every block zstd can decode.
    """

    def __init__(self, fh, limit):
        self.fh = fh
        self.limit = limit
        self.dctx = zstandard.ZstdDecompressor(max_window_size=1 << MAX_WINDOW_LOG)
        self.obj = None
        self.frame_ended = False  # the last frame ended and no new one has started
        self.unused = b""
        self.source_done = False
        self.error = None  # (kind, reason)
        self.produced = 0
        self.pos = 0  # compressed offset of self.unused[0]
        self.frame_start = 0  # compressed offset where the current frame began
        self.frame_out = 0  # bytes the current frame has delivered

    @staticmethod
    def _kind(e):
        text = str(e).lower()
        # libzstd: "Frame requires too much memory for decoding" (windowTooLarge).
        return "limit" if "too much memory" in text or ("window" in text and "large" in text) else "corrupt"

    def _fail(self, e):
        self.error = (self._kind(e), "zstd cannot decode the data (%s)" % e)

    def _take(self, out):
        """The part of `out` within the stream limit; past it, the limit is the error."""
        room = max(0, self.limit - self.produced)
        if len(out) > room:
            out = out[:room]
            self.error = ("limit", "the stream exceeds the byte limit")
        self.produced += len(out)
        self.frame_out += len(out)
        return out

    def _salvage(self, data, error):
        """After `data` (at self.pos) failed with `error`: what zstd decodes of it before the error."""
        try:
            seekable = self.fh.seekable()
        except (OSError, ValueError):
            seekable = False
        if not seekable:
            self._fail(error)
            return b""
        resume = self.fh.tell()
        obj = self.dctx.decompressobj()
        skip = self.frame_out
        outs = []
        try:
            self.fh.seek(self.frame_start)
            remaining = self.pos - self.frame_start
            while remaining > 0:
                chunk = self.fh.read(min(CHUNK, remaining))
                if not chunk:
                    raise OSError("short read")
                remaining -= len(chunk)
                out = obj.decompress(chunk)
                known = min(skip, len(out))
                skip -= known
                outs.append(out[known:])
        except (OSError, zstandard.ZstdError):
            self._fail(error)
            return b""
        finally:
            self.fh.seek(resume)
        if skip:
            self._fail(error)
            return b""
        self.obj = obj
        for i in range(len(data)):
            try:
                out = obj.decompress(data[i : i + 1])
            except zstandard.ZstdError as e:
                self.pos += i
                self._fail(e)
                return b"".join(outs)
            outs.append(out)
            if obj.eof:
                self.unused = data[i + 1 :]
                self.pos += i + 1
                return b"".join(outs)
        self.pos += len(data)
        return b"".join(outs)

    def fill(self, buf, n):
        """Extends `buf` from the stream until it holds `n` bytes; False when the stream ends first."""
        while len(buf) < n:
            chunk = self.more()
            if not chunk:
                return False
            buf.extend(chunk)
        return True

    def more(self):
        """Returns the next decompressed bytes, b"" at the end of input, None after an error."""
        while True:
            if self.error:
                return None
            if not self.unused:
                if self.source_done:
                    return b""
                self.unused = self.fh.read(CHUNK)
                if not self.unused:
                    self.source_done = True
                    return b""
            if self.obj is None or self.obj.eof:
                self.obj = self.dctx.decompressobj()
                self.frame_start = self.pos
                self.frame_out = 0
            data, self.unused = self.unused, b""
            try:
                out = self.obj.decompress(data)
                self.pos += len(data)
                if self.obj.eof:
                    self.unused = self.obj.unused_data
                    self.pos -= len(self.unused)
            except zstandard.ZstdError as e:
                out = self._salvage(data, e)
            self.frame_ended = self.obj.eof
            if out:
                return self._take(out)


class Resolver:
    """--resolve: prints a sample entry stored as "same" (format 1.1) as the capture it refers to.

    One per bundle, fed every record in order; the rules are those of docs/bundle-format.md, 3.2 and 6.4.
    """

    def __init__(self):
        self.window = 0
        self.last = {}  # path -> (entry, index of the sample record that holds it)
        self.samples = 0

    @staticmethod
    def kind(entry):
        k = entry.get("kind", "file")
        return k if isinstance(k, str) else "file"

    def payload(self, rtype, value):
        if not isinstance(value, dict):
            return value
        if rtype == 1:
            w = value.get("same_window")
            self.window = w if isinstance(w, int) and not isinstance(w, bool) and w >= 0 else 0
            return value
        if rtype != 2:
            return value
        files = value.get("files")
        if isinstance(files, list):
            for i, entry in enumerate(files):
                if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                    continue
                path, status = entry["path"], entry.get("status")
                if status == "same":
                    held = self.last.get(path)
                    if held and self.samples - held[1] <= self.window and self.kind(held[0]) == self.kind(entry):
                        files[i] = held[0]
                        self.last[path] = (held[0], self.samples)
                    else:
                        self.last.pop(path, None)
                elif status == "ok":
                    self.last[path] = (entry, self.samples)
                else:
                    self.last.pop(path, None)
        self.samples += 1
        return value


def stream_limit(size):
    """The most decompressed bytes read from a bundle of `size` compressed bytes (None: unknown, as for a pipe)."""
    if MAX_STREAM_BYTES is not None:
        return MAX_STREAM_BYTES
    if size is None:
        return STREAM_CEILING
    return min(STREAM_CEILING, max(EXPANSION_FLOOR, MAX_EXPANSION * size))


def decode_bundle(path, emit, resolve=False):
    """Prints the lines of one bundle; returns the exit status it deserves."""
    try:
        fh = open(path, "rb")
    except OSError as e:
        print("fieldbundle.py: cannot open %s: %s" % (path, e.strerror), file=sys.stderr)
        return 5
    with fh:
        st = os.fstat(fh.fileno())
        size = st.st_size if stat.S_ISREG(st.st_mode) else None
        stream = Stream(fh, stream_limit(size))
        buf = bytearray()
        offset = 0  # stream offset of buf[0]
        index = 0
        fmt = None
        saw_end = False
        header_printed = [False]
        damage = None

        def bundle_line():
            if not header_printed[0]:
                emit(dumps({"bundle": path, "size": size, "format": fmt}))
                header_printed[0] = True

        def fill(n):
            return stream.fill(buf, n)

        def short(needed):
            if stream.error:
                return stream.error[0]
            if saw_end and buf:
                return "corrupt"  # bytes follow the end record
            if not buf and fmt is not None:
                if stream.frame_ended:
                    return None if saw_end else "incomplete"
                return "truncated" if saw_end else "incomplete"
            return "truncated"

        complete = False
        resolver = Resolver() if resolve else None
        while True:
            if fmt is None:
                if not fill(8):
                    damage = short(8)
                    break
                if bytes(buf[:6]) != MAGIC or buf[6] != 1:
                    damage = "corrupt"
                    break
                fmt = "%d.%d" % (buf[6], buf[7])
                del buf[:8]
                offset += 8
            if not fill(5):
                damage = short(5)
                if damage is None:
                    complete = True
                break
            if saw_end:
                damage = "corrupt"
                break
            length, rtype = struct.unpack_from("<IB", buf, 0)
            if length > MAX_RECORD_BYTES:
                damage = "limit"
                break
            total = 5 + length + 4
            if not fill(total):
                damage = short(total)
                break
            (stored,) = struct.unpack_from("<I", buf, total - 4)
            if crc32c(bytes(buf[: total - 4])) != stored:
                damage = "corrupt"
                break
            payload = bytes(buf[5 : 5 + length])
            value = decode_payload(payload)
            if resolver:
                value = resolver.payload(rtype, value)
            bundle_line()
            emit(
                dumps(
                    {
                        "record": index,
                        "offset": offset,
                        "type": TYPE_NAMES.get(rtype, "type-%d" % rtype),
                        "length": length,
                        "payload": value,
                    }
                )
            )
            del buf[:total]
            offset += total
            index += 1
            if rtype == 5:
                saw_end = True
        bundle_line()
        result = {
            "result": path,
            "records": index,
            "complete": complete,
            "damage": None if damage is None else {"kind": damage, "records": index, "offset": offset},
        }
        emit(dumps(result))
        if damage is None:
            return 0
        return 3 if damage in ("incomplete", "truncated") else 4


class UsageExit64(argparse.ArgumentParser):
    """Usage mistakes exit with 64, as fieldctl's do."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(64, "%s: error: %s\n" % (self.prog, message))


def main(argv=None):
    global MAX_RECORD_BYTES, MAX_STREAM_BYTES
    p = UsageExit64(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundles", nargs="+", help="bundle files (.zst or .zst.open)")
    p.add_argument("--max-record-bytes", type=int, default=MAX_RECORD_BYTES)
    p.add_argument(
        "--max-stream-bytes",
        type=int,
        default=None,
        help="stop a bundle after this many decompressed bytes (default: 4096 times its size, 64 MiB to 64 GiB)",
    )
    p.add_argument(
        "--resolve",
        action="store_true",
        help='print sample entries stored as "same" (format 1.1) with the content of the capture they refer to',
    )
    args = p.parse_args(argv)
    MAX_RECORD_BYTES = args.max_record_bytes
    MAX_STREAM_BYTES = args.max_stream_bytes
    out = sys.stdout
    worst = 0
    for path in args.bundles:
        worst = max(worst, decode_bundle(path, lambda line: out.write(line + "\n"), args.resolve))
    out.flush()
    return worst


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # Output piped into head and closed early: nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
