#!/usr/bin/env python3
"""Power-cut replayer: rebuilds what a disk would hold after a power cut at many points of a traced agent run, runs
the real agent's recovery on each, and checks what the agent promises (docs/reliability.md, "Power loss").

Input: the log written by tools/powercut/shim.c (LD_PRELOAD) during the run, and a copy of the watched tree taken
before the run (taken as durable: it was there before the run began).

A power cut after log entry K is modelled per file and per directory:
- file data: `synced` keeps what the file held at its last fsync and loses every later write; `torn` also keeps
  the first few unsynced writes, the last of them cut at a random byte (a write-back that was under way);
  `zeros` keeps the unsynced length but not its bytes (the size reached the journal, the data did not);
- directory entries (create, rename, link, unlink, mkdir): `strict` keeps only what the directory's last fsync
  covered; `all` keeps every change (ext4 usually commits them with the next journal transaction anyway);
  `prefix` keeps a random prefix of the unsynced changes, in order (a journal commits them in order).
The conservative model is strict + synced, the lenient one all + torn; `prefix` + torn or zeros mixes them.

For each cut the tree is written to a scratch directory and `AGENT... --duration 0 --spool DIR` runs on it (it
recovers and stops). Then, on what it left:
1. every file is one a reader can open: a closed, intact bundle (tools/fieldbundle.py), `pending-losses` or the
   lock or the reserve, nothing half-done (`.open`, `.crashed`, `.recovering`, `.partial`);
2. no sample (seq, mono_ns, part) is in two bundles (loss records may repeat: analysis counts a name once);
3. every promised sample is there, byte for byte (as decoded), or its bundle is named by a loss record (in a
   surviving bundle or in pending-losses). Promised: the samples of every bundle whose close had returned (its
   rename done and, per the agent, synced: the entry after the close's last step), the samples of the run's
   starting tree, and with --policy sample every sample whose fsync had returned;
4. what was lost without a record is at most what the policy allows: with `close` the samples of one bundle
   (the open one), with `sample` one sampling instant (the one being written).

With `--copies DIR` (the agent's `--copy-to`, relative to the root; recovery gets it too) the bundles copied to
the medium count as present, and each copy must be intact.

`--drop-sync close-dir|losses|file|dir` removes fsync entries from the log before replaying, as if the agent had
not made those calls: a self-test that the checks above notice a missing sync.

Also: `replay.py cost LOG` sums the fsync time the shim measured per kind of file, for tools/bench/fsync.sh.
"""

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fieldbundle  # noqa: E402  (tools/fieldbundle.py, our reference decoder)
import zstandard  # noqa: E402

HEAD = struct.Struct("<IiiIqqQiiII")  # struct entry in shim.c
OPEN, WRITE, FSYNC, FDATASYNC, CLOSE, RENAME, LINK, UNLINK, MKDIR, RMDIR, TRUNCATE, SYNC, UNSUPPORTED = range(1, 14)
NAMES = {
    OPEN: "open", WRITE: "write", FSYNC: "fsync", FDATASYNC: "fdatasync", CLOSE: "close", RENAME: "rename",
    LINK: "link", UNLINK: "unlink", MKDIR: "mkdir", RMDIR: "rmdir", TRUNCATE: "truncate", SYNC: "sync",
    UNSUPPORTED: "unsupported",
}
O_CREAT, O_TRUNC, O_DIRECTORY = os.O_CREAT, os.O_TRUNC, os.O_DIRECTORY
BUNDLE_SUFFIXES = (".open", ".crashed", ".recovering", ".rejected")


class ModelError(Exception):
    """The log does not describe what happened (a call the shim missed): the replay cannot be trusted."""


class Op:
    __slots__ = ("index", "op", "tid", "fd", "cpu", "offset", "flags", "nanos", "result", "error", "b1", "b2")

    def __init__(self, index, fields, b1, b2):
        self.index = index
        self.op, self.tid, self.fd, self.cpu, self.offset, self.flags, self.nanos, self.result, self.error = fields[:9]
        self.b1, self.b2 = b1, b2

    @property
    def path(self):
        return os.path.normpath(self.b1.decode("utf-8", "surrogateescape"))

    @property
    def path2(self):
        return os.path.normpath(self.b2.decode("utf-8", "surrogateescape"))

    def describe(self):
        what = NAMES.get(self.op, str(self.op))
        if self.op in (OPEN, UNLINK, MKDIR, RMDIR):
            return "%s %s" % (what, os.path.basename(self.path))
        if self.op in (RENAME, LINK):
            return "%s %s -> %s" % (what, os.path.basename(self.path), os.path.basename(self.path2))
        if self.op == WRITE:
            return "write fd %d @%d +%d" % (self.fd, self.offset, len(self.b1))
        return "%s fd %d" % (what, self.fd)


def read_log(path):
    data = open(path, "rb").read()
    ops, at = [], 0
    while at + HEAD.size <= len(data):
        fields = HEAD.unpack_from(data, at)
        n1, n2 = fields[9], fields[10]
        end = at + HEAD.size + n1 + n2
        if end > len(data):
            break  # the last record was cut (the traced process was killed while logging)
        body = at + HEAD.size
        ops.append(Op(len(ops), fields, data[body : body + n1], data[body + n1 : end]))
        at = end
    return ops


# MARK: bundles as the agent wrote them


def bundle_name(name):
    """NAME.zst for any of a bundle's names (NAME.zst.open, .crashed, ...)."""
    for s in BUNDLE_SUFFIXES:
        if name.endswith(".zst" + s):
            return name[: -len(s)]
    return name


def is_bundle_file(name):
    return bundle_name(name).endswith(".zst")


def canonical(value):
    return json.loads(fieldbundle.dumps(value))


def sample_id(value):
    return (value.get("seq"), value.get("mono_ns"), value.get("part"))


class Tracker:
    """Decodes a bundle file write by write, noting after which log entry each record was complete."""

    def __init__(self, name):
        self.name = name
        self.dec = zstandard.ZstdDecompressor(max_window_size=1 << 27).decompressobj()
        self.buf = bytearray()
        self.fed = 0
        self.magic = False
        self.done = False
        self.broken = None
        self.records = []  # (log index, type, payload JSON value)

    def feed(self, index, offset, data):
        if self.broken or self.done:
            return
        if offset != self.fed:
            self.broken = "write at %d, not at the end (%d)" % (offset, self.fed)
            return
        self.fed += len(data)
        try:
            self.buf += self.dec.decompress(data)
        except zstandard.ZstdError as e:
            self.broken = str(e)
            return
        self.done = self.dec.eof
        if not self.magic:
            if len(self.buf) < 8:
                return
            del self.buf[:8]
            self.magic = True
        while len(self.buf) >= 5:
            length, rtype = struct.unpack_from("<IB", self.buf, 0)
            total = 9 + length
            if len(self.buf) < total:
                break
            value = fieldbundle.decode_payload(bytes(self.buf[5 : 5 + length]))
            self.records.append((index, rtype, canonical(value)))
            del self.buf[:total]

    def samples(self, upto):
        return [(sample_id(v), v) for i, t, v in self.records if t == 2 and i <= upto]


# MARK: the file system model


class Inode:
    def __init__(self, ino, kind, data=b""):
        self.ino, self.kind = ino, kind
        self.data = bytearray(data)  # what a reader sees now
        self.durable = bytes(data)  # what the disk holds for sure
        self.pending = []  # since the last fsync: ("w", offset, bytes) | ("t", length)
        self.entries = {}
        self.durable_entries = {}
        self.pending_ops = []  # since the last fsync: [(name, ino or None), ...] applied together
        self.tracker = None


class FS:
    def __init__(self, root):
        self.root = os.path.normpath(root)
        self.inodes = [Inode(0, "dir")]
        self.fds = {}

    def new(self, kind, data=b""):
        node = Inode(len(self.inodes), kind, data)
        self.inodes.append(node)
        return node

    def load(self, base):
        """The tree before the run, all of it durable."""
        seen = {}

        def walk(src, node):
            for name in sorted(os.listdir(src)):
                p = os.path.join(src, name)
                st = os.lstat(p)
                if os.path.isdir(p):
                    child = self.new("dir")
                    walk(p, child)
                elif st.st_ino in seen:
                    child = seen[st.st_ino]
                else:
                    child = self.new("file", open(p, "rb").read())
                    seen[st.st_ino] = child
                    if is_bundle_file(name):
                        child.tracker = Tracker(bundle_name(name))
                        child.tracker.feed(-1, 0, bytes(child.data))
                node.entries[name] = child.ino
                node.durable_entries[name] = child.ino

        walk(base, self.inodes[0])

    def split(self, path):
        if path != self.root and not path.startswith(self.root + "/"):
            raise ModelError("%s is outside the watched tree" % path)
        parts = [p for p in path[len(self.root) :].split("/") if p]
        if not parts:
            raise ModelError("an operation on the watched root itself")
        node = self.inodes[0]
        for p in parts[:-1]:
            if p not in node.entries or self.inodes[node.entries[p]].kind != "dir":
                raise ModelError("no directory %s in the model (on the way to %s)" % (p, path))
            node = self.inodes[node.entries[p]]
        return node, parts[-1]

    def resolve(self, path):
        if path == self.root:
            return self.inodes[0]
        parent, name = self.split(path)
        ino = parent.entries.get(name)
        return None if ino is None else self.inodes[ino]

    def change(self, parent, *pairs):
        for name, ino in pairs:
            if ino is None:
                parent.entries.pop(name, None)
            else:
                parent.entries[name] = ino
        parent.pending_ops.append(list(pairs))

    def apply(self, op):
        """Applies one log entry to the current state (what a reader sees before any cut)."""
        if op.op == UNSUPPORTED:
            raise ModelError("the shim saw a call it cannot model: %s %s" % (op.b1.decode(), op.b2.decode()))
        if op.result < 0 or (op.op not in (OPEN, WRITE) and op.result != 0):
            return  # failed calls change nothing
        if op.op == OPEN:
            node = self.resolve(op.path)
            if node is None:
                if not op.flags & O_CREAT:
                    raise ModelError("opened %s, which the model does not have" % op.path)
                parent, name = self.split(op.path)
                node = self.new("file")
                if is_bundle_file(name):
                    node.tracker = Tracker(bundle_name(name))
                self.change(parent, (name, node.ino))
            elif op.flags & O_TRUNC and node.kind == "file":
                node.data = bytearray()
                node.pending.append(("t", 0))
            self.fds[op.fd] = node
        elif op.op == WRITE:
            node = self.fds[op.fd]
            if op.offset > len(node.data):
                node.data.extend(bytes(op.offset - len(node.data)))
            node.data[op.offset : op.offset + len(op.b1)] = op.b1
            node.pending.append(("w", op.offset, op.b1))
            if node.tracker:
                node.tracker.feed(op.index, op.offset, op.b1)
        elif op.op == TRUNCATE:
            node = self.fds[op.fd]
            del node.data[op.offset :]
            node.data.extend(bytes(max(0, op.offset - len(node.data))))
            node.pending.append(("t", op.offset))
        elif op.op in (FSYNC, FDATASYNC):
            node = self.fds[op.fd]
            if node.kind == "dir":
                self.settle_dir(node)
            else:
                node.durable, node.pending = bytes(node.data), []
        elif op.op == CLOSE:
            self.fds.pop(op.fd, None)
        elif op.op in (RENAME, LINK):
            sp, sn = self.split(op.path)
            dp, dn = self.split(op.path2)
            ino = sp.entries.get(sn)
            if ino is None:
                raise ModelError("%s of %s, which the model does not have" % (NAMES[op.op], op.path))
            if op.op == RENAME and dp.entries.get(dn) == ino:
                return  # two names of one file: rename does nothing
            if op.op == LINK:
                self.change(dp, (dn, ino))
            elif sp is dp:
                self.change(sp, (dn, ino), (sn, None))
            else:
                self.change(dp, (dn, ino))
                self.change(sp, (sn, None))
        elif op.op in (UNLINK, RMDIR):
            parent, name = self.split(op.path)
            self.change(parent, (name, None))
        elif op.op == MKDIR:
            parent, name = self.split(op.path)
            self.change(parent, (name, self.new("dir").ino))
        elif op.op == SYNC:
            for node in self.inodes:
                if node.kind == "dir":
                    self.settle_dir(node)
                else:
                    node.durable, node.pending = bytes(node.data), []

    @staticmethod
    def settle_dir(node):
        for pairs in node.pending_ops:
            for name, ino in pairs:
                if ino is None:
                    node.durable_entries.pop(name, None)
                else:
                    node.durable_entries[name] = ino
        node.pending_ops = []

    def image(self, entries, data, rng):
        """What the disk holds after a cut now: {relative path: bytes or None for a directory}."""
        out, made = {}, {}

        def file_content(node):
            content = bytearray(node.durable)
            if data == "synced" or not node.pending:
                return bytes(content)
            keep = len(node.pending) if data == "zeros" else rng.randint(0, len(node.pending))
            for k, change in enumerate(node.pending[:keep]):
                if change[0] == "t":
                    del content[change[1] :]
                    continue
                _, off, b = change
                if data == "torn" and k == keep - 1:
                    b = b[: rng.randint(0, len(b))]
                if data == "zeros":
                    b = bytes(len(b))
                if off > len(content):
                    content.extend(bytes(off - len(content)))
                content[off : off + len(b)] = b
            return bytes(content)

        def walk(node, prefix):
            names = dict(node.durable_entries)
            keep = {"strict": 0, "all": len(node.pending_ops)}.get(entries)
            if keep is None:
                keep = rng.randint(0, len(node.pending_ops))
            for pairs in node.pending_ops[:keep]:
                for name, ino in pairs:
                    if ino is None:
                        names.pop(name, None)
                    else:
                        names[name] = ino
            for name in sorted(names):
                child = self.inodes[names[name]]
                rel = os.path.join(prefix, name) if prefix else name
                if child.kind == "dir":
                    out[rel] = None
                    walk(child, rel)
                elif child.ino in made:
                    out[rel] = ("link", made[child.ino])
                else:
                    out[rel] = file_content(child)
                    made[child.ino] = rel

        walk(self.inodes[0], "")
        return out

    def current(self):
        """The state a reader sees now (no cut), in the form of `image`."""
        out = {}

        def walk(node, prefix):
            for name in sorted(node.entries):
                child = self.inodes[node.entries[name]]
                rel = os.path.join(prefix, name) if prefix else name
                out[rel] = None if child.kind == "dir" else bytes(child.data)
                if child.kind == "dir":
                    walk(child, rel)

        walk(self.inodes[0], "")
        return out


def materialize(image, target):
    os.makedirs(target)
    for rel, content in image.items():  # in walk order: a directory before what it holds, a file before its links
        p = os.path.join(target, rel)
        if content is None:
            os.makedirs(p, exist_ok=True)
        elif isinstance(content, tuple):
            os.link(os.path.join(target, content[1]), p)
        else:
            with open(p, "wb") as f:
                f.write(content)


def on_disk(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


# MARK: what the agent promised


def is_dir_op(op, fs_kinds):
    return (op.op == OPEN and op.flags & O_DIRECTORY) or (op.op in (FSYNC, FDATASYNC, CLOSE) and fs_kinds.get(op.index) == "dir")


class Promises:
    """Walks the log once, noting what the agent had promised after each entry."""

    def __init__(self, fs, ops, policy):
        self.fs, self.ops, self.policy = fs, ops, policy
        self.base = {}  # sample id -> (bundle name, value): durable before the run
        for node in fs.inodes:
            if node.tracker:
                for sid, v in node.tracker.samples(-1):
                    self.base[sid] = (node.tracker.name, v)
        self.kinds = {}  # log index -> "dir"/"file" for fd operations
        self.closes = []  # (index after which the close had returned, tracker, records upto)
        self.syncs = []  # (index of a sample sync, tracker, records upto)

    def run(self, on_step):
        """Applies every entry and calls on_step(index) after each."""
        pending_close = []  # (tracker, thread, index of the close's last step so far)
        for op in self.ops:
            if op.op in (FSYNC, FDATASYNC, CLOSE, WRITE) and op.fd in self.fs.fds:
                self.kinds[op.index] = self.fs.fds[op.fd].kind
            node = self.fs.fds.get(op.fd) if op.op in (FSYNC, FDATASYNC) else None
            self.fs.apply(op)
            if node and node.tracker and op.result == 0 and self.policy == "sample":
                self.syncs.append((op.index, node.tracker, op.index))
            # A close has returned at the first entry after its rename that is not one of its own steps (the
            # unlink of the other name, the directory's open, fsync and close).
            # Another thread's calls neither belong to a close nor end it.
            still = []
            for tracker, tid, last in pending_close:
                # renameNoReplace's link, then the unlink of the old name.
                other_name = op.op == UNLINK and op.path.endswith((".zst.open", ".zst.recovering"))
                if op.tid != tid:
                    still.append((tracker, tid, last))
                elif other_name or is_dir_op(op, self.kinds):
                    still.append((tracker, tid, op.index))
                else:
                    self.closes.append((last, tracker, last))
            pending_close = still
            if op.op in (RENAME, LINK) and op.result == 0 and op.path2.endswith(".zst"):
                node = self.fs.resolve(op.path2)
                if node and node.tracker:
                    pending_close.append((node.tracker, op.tid, op.index))
            on_step(op.index)
        for tracker, tid, last in pending_close:
            self.closes.append((last, tracker, last))

    def promised(self, k):
        """Sample id -> (bundle name, value) promised after entry k."""
        out = dict(self.base)
        for at, tracker, upto in self.closes + self.syncs:
            if at <= k:
                for sid, v in tracker.samples(upto):
                    out[sid] = (tracker.name, v)
        if self.policy == "never":
            return dict(self.base)
        return out

    def named_lost(self, k):
        """Bundle name -> the names its loss records (complete after entry k) give."""
        out = {}
        for node in self.fs.inodes:
            if node.tracker:
                for i, t, v in node.tracker.records:
                    if t == 6 and i <= k and isinstance(v, dict):
                        names = {bundle_name(n) for n in v.get("names") or [] if isinstance(n, str)}
                        out.setdefault(node.tracker.name, set()).update(names)
        return out

    def written(self, k):
        out = dict(self.base)
        for node in self.fs.inodes:
            if node.tracker:
                for sid, v in node.tracker.samples(k):
                    out.setdefault(sid, (node.tracker.name, v))
        return out


# MARK: checking a recovered spool


def read_spool(spool, policy):
    """(samples {id: [(bundle, value)]}, loss names, problems, damaged) of what recovery left. With --fsync never a
    closed bundle's data may not have reached the disk: such a bundle counts as damaged, not as a problem (readers
    still read every record before the damage, and say what is missing)."""
    samples, lost, problems, headers, damaged = {}, set(), [], {}, 0
    for name in sorted(os.listdir(spool)):
        p = os.path.join(spool, name)
        if name in ("lock", "reserve"):  # the spool lock, and the room kept for pending-losses (any content)
            continue
        if name == "pending-losses":
            for line in open(p, "rb").read().split(b"\n"):
                f = line.split(b" ")
                if line and (len(f) != 3 or not f[1].isdigit()):
                    problems.append("pending-losses has a line no reader takes: %r" % line)
                elif line:
                    lost.add(bundle_name(f[2].decode("utf-8", "replace")))
            continue
        if not name.endswith(".zst"):
            problems.append("left behind: %s" % name)
            continue
        lines = []
        status = fieldbundle.decode_bundle(p, lines.append)
        if status != 0 and policy == "never" and status in (3, 4):
            damaged += 1
        elif status != 0:
            problems.append("%s is not an intact bundle (status %d: %s)" % (name, status, lines[-1] if lines else ""))
        for line in lines:
            rec = json.loads(line)
            if "record" not in rec:
                continue
            v = rec["payload"]
            if rec["type"] == "header" and isinstance(v, dict):
                key = (v.get("agent_pid"), v.get("wall_ns"), v.get("sequence"))
                if key in headers:
                    problems.append("%s and %s are the same bundle" % (headers[key], name))
                headers[key] = name
            elif rec["type"] == "sample" and isinstance(v, dict):
                samples.setdefault(sample_id(v), []).append((name, v))
            elif rec["type"] == "loss" and isinstance(v, dict):
                for n in v.get("names") or []:
                    if isinstance(n, str):
                        lost.add(bundle_name(n))
    return samples, lost, problems, damaged


def read_copies(media):
    """Samples of the bundles `--copy-to` put under MEDIA/DEVICE/, and problems: a copy is synced before its rename,
    so each one is intact. A dot file `.NAME.partial` is a copy cut short, replaced when NAME is copied again."""
    samples, problems = {}, []
    for device in sorted(os.listdir(media)) if os.path.isdir(media) else []:
        d = os.path.join(media, device)
        for name in sorted(os.listdir(d)):
            if name.startswith(".") and name.endswith(".partial"):
                continue
            lines = []
            if not name.endswith(".zst") or fieldbundle.decode_bundle(os.path.join(d, name), lines.append) != 0:
                problems.append("copy %s/%s is not an intact bundle" % (device, name))
            for line in lines:
                rec = json.loads(line)
                if rec.get("type") == "sample" and isinstance(rec.get("payload"), dict):
                    samples.setdefault(sample_id(rec["payload"]), []).append((name, rec["payload"]))
    return samples, problems


def check(spool, promised, written, named_lost, policy, media=None):
    samples, lost, problems, damaged = read_spool(spool, policy)
    copies, trouble = read_copies(media) if media else ({}, [])
    problems += trouble
    for sid, found in copies.items():
        if len(found) > 1:
            problems.append("sample %s is in copies %s" % (sid, ", ".join(n for n, _ in found)))
    # A loss record goes with its bundle when that bundle is dropped in turn, and that drop is recorded: a bundle
    # named by the record of a bundle that is itself recorded as lost counts as recorded (docs/reliability.md, "Power loss").
    todo = list(lost)
    while todo:
        for n in named_lost.get(todo.pop(), ()):
            if n not in lost:
                lost.add(n)
                todo.append(n)
    for sid, found in samples.items():
        if len(found) > 1:
            problems.append("sample %s is in %s" % (sid, ", ".join(n for n, _ in found)))
    # A bundle delivered to the medium leaves the spool: its copy counts.
    present = dict(copies)
    present.update(samples)
    for sid, (bundle, value) in sorted(promised.items(), key=lambda x: str(x[0])):
        if sid in present:
            if present[sid][0][1] != value:
                problems.append("sample %s of %s came back different" % (sid, bundle))
        elif bundle not in lost:
            problems.append("promised sample %s of %s is gone and no loss record names %s" % (sid, bundle, bundle))
    unrecorded = {sid: b for sid, (b, _) in written.items() if sid not in present and b not in lost}
    if policy == "close" and len(set(unrecorded.values())) > 1:
        problems.append("samples of %d bundles lost without a record: %s" % (len(set(unrecorded.values())), sorted(set(unrecorded.values()))))
    if policy == "sample" and len({(s[0], s[1]) for s in unrecorded}) > 1:
        problems.append("%d sampling instants lost without a record" % len({(s[0], s[1]) for s in unrecorded}))
    return problems, damaged, len(unrecorded)


# MARK: driver


def drop_syncs(ops, what):
    """The log without some fsync calls, as if the agent had not made them (a self-test of the checks)."""
    fds, out = {}, []
    closing = {}  # per thread: between a bundle's rename into place and the end of its close
    for op in ops:
        if op.op == OPEN and op.result >= 0:
            fds[op.fd] = ("dir" if op.flags & O_DIRECTORY else "file", os.path.basename(op.path))
        kind, name = fds.get(op.fd, ("file", ""))
        drop = False
        if op.op in (FSYNC, FDATASYNC):
            drop = (
                (what == "dir" and kind == "dir")
                or (what == "file" and kind == "file")
                or (what == "close-dir" and kind == "dir" and closing.get(op.tid))
                or (what == "losses" and kind == "file" and name.startswith("pending-losses"))
            )
        if op.op in (RENAME, LINK):
            closing[op.tid] = op.result == 0 and op.path2.endswith(".zst")
        elif not (op.op == UNLINK or kind == "dir" or (op.op == OPEN and op.flags & O_DIRECTORY)):
            closing[op.tid] = False
        if not drop:
            out.append(op)
    for i, op in enumerate(out):
        op.index = i
    return out


def choose_points(ops, n, rng):
    """About n cut points: two thirds spread over the entries that are not writes (names, syncs, opens), the rest
    drawn among the writes, and the end of the run."""
    if not ops:
        return []
    marks = [op.index for op in ops if op.op != WRITE]
    writes = [op.index for op in ops if op.op == WRITE]
    m = min(len(marks), n * 2 // 3)
    points = {ops[-1].index} | {marks[int(i * len(marks) / m)] for i in range(m)}
    points |= set(rng.sample(writes, max(0, min(len(writes), n - len(points)))))
    return sorted(points)


def cost(log):
    """Per kind of file synced: calls, total, median and longest wall time of the fsync calls the shim timed, and
    the CPU time the agent's thread spent in them."""
    ops = read_log(log)
    fds, out = {}, {}
    for op in ops:
        if op.op == OPEN and op.result >= 0:
            base = os.path.basename(op.path)
            kind = "directory" if op.flags & O_DIRECTORY else (
                "bundle" if is_bundle_file(base) else "pending-losses" if base.startswith("pending-losses") else "other")
            fds[op.fd] = kind
        if op.op in (FSYNC, FDATASYNC):
            out.setdefault(fds.get(op.fd, "other"), []).append((op.nanos / 1e6, op.cpu / 1e6))
    summary = {}
    for k, v in sorted(out.items()):
        wall = sorted(w for w, _ in v)
        summary[k] = {
            "calls": len(v), "total_ms": round(sum(wall), 3), "median_ms": round(wall[len(wall) // 2], 3),
            "max_ms": round(wall[-1], 3), "cpu_ms": round(sum(c for _, c in v), 3),
        }
    print(json.dumps(summary))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "cost":
        return cost(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--base", required=True, help="copy of the watched tree taken before the run")
    ap.add_argument("--root", required=True, help="the watched tree's path as the log names it (POWERCUT_ROOT)")
    ap.add_argument("--spool", default="spool", help="the spool, relative to the root")
    ap.add_argument("--policy", choices=["never", "close", "sample"], required=True)
    ap.add_argument("--points", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", default="strict:synced,all:torn,prefix:mixed")
    ap.add_argument("--copies", help="the agent's --copy-to directory, relative to the root (also given to recovery)")
    ap.add_argument("--drop-sync", choices=["close-dir", "losses", "file", "dir"])
    ap.add_argument("--scratch", help="directory for the cut trees (default: a temporary one, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the cut trees that failed")
    ap.add_argument("agent", nargs=argparse.REMAINDER, help="-- AGENT ARGS...: runs as AGENT ARGS --duration 0 --spool DIR")
    a = ap.parse_args()
    agent = a.agent[1:] if a.agent[:1] == ["--"] else a.agent
    if not agent:
        ap.error("give the agent command after --")
    rng = random.Random(a.seed)
    ops = read_log(a.log)
    if a.drop_sync:
        ops = drop_syncs(ops, a.drop_sync)
    models = [tuple(m.split(":")) for m in a.models.split(",")]
    fs = FS(a.root)
    fs.load(a.base)
    promises = Promises(fs, ops, a.policy)
    points = set(choose_points(ops, a.points, rng))
    scratch = a.scratch or tempfile.mkdtemp(prefix="powercut-")
    report = {"entries": len(ops), "points": len(points), "runs": 0, "violations": [], "policy": a.policy,
              "drop_sync": a.drop_sync, "samples_written": 0, "lost_unrecorded_max": 0,
              "damaged_bundles": 0}
    images = []

    def step(k):
        if k in points:
            for entries, data in models:
                d = data if data != "mixed" else rng.choice(["torn", "zeros"])
                images.append((k, entries, d, fs.image(entries, d, rng)))

    try:
        promises.run(step)
        # The shim saw everything that shaped the tree: replaying the whole log gives the tree the run left.
        real, modelled = on_disk(a.root), fs.current()
        if real != modelled:
            diff = sorted(set(real) ^ set(modelled)) or sorted(k for k in real if real[k] != modelled[k])
            raise ModelError("the replayed log does not give the tree the run left (differs at %s)" % diff[:5])
        for node in fs.inodes:
            if node.tracker and node.tracker.broken:
                raise ModelError("%s: %s" % (node.tracker.name, node.tracker.broken))
        report["samples_written"] = len(promises.written(len(ops)))
        # What the run did, so a test can tell that it rotated, dropped and recovered bundles.
        report["bundles_closed"] = len(promises.closes)
        report["bundles_recovered"] = sum(1 for op in ops if op.op == LINK and op.result == 0 and op.path.endswith(".zst.recovering"))
        report["bundles_copied"] = sum(1 for op in ops if op.op == RENAME and op.result == 0 and op.path.endswith(".zst.partial"))
        report["bundles_dropped"] = sum(1 for op in ops if op.op == UNLINK and op.result == 0 and op.path.endswith(".zst"))
        for n, (k, entries, data, image) in enumerate(images):
            target = os.path.join(scratch, "cut%05d-%s-%s" % (k, entries, data))
            materialize(image, target)
            spool = os.path.join(target, a.spool)
            os.makedirs(spool, exist_ok=True)  # a cut before the spool existed: recovery creates it anyway
            media = os.path.join(target, a.copies) if a.copies else None
            extra = ["--copy-to", media] if media else []
            if media:
                os.makedirs(media, exist_ok=True)  # the medium is mounted, whatever was on it
            run = subprocess.run(agent + extra + ["--duration", "0", "--spool", spool], capture_output=True, timeout=120)
            report["runs"] += 1
            where = "cut after entry %d (%s), %s entries, %s data" % (k, ops[k].describe(), entries, data)
            problems = [] if run.returncode == 0 else ["recovery exited %d: %s" % (run.returncode, run.stderr.decode()[-400:])]
            found, damaged, unrecorded = check(spool, promises.promised(k), promises.written(k), promises.named_lost(k), a.policy, media)
            problems += found
            report["lost_unrecorded_max"] = max(report["lost_unrecorded_max"], unrecorded)
            report["damaged_bundles"] += damaged
            for p in problems:
                report["violations"].append("%s: %s" % (where, p))
            if not problems or not a.keep:
                shutil.rmtree(target)
    except ModelError as e:
        report["model_error"] = str(e)
    finally:
        if not a.scratch and not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(report, indent=1))
    return 1 if report["violations"] or "model_error" in report else 0


if __name__ == "__main__":
    sys.exit(main())
