#!/usr/bin/env python3
"""Fault-injection harness for fieldagent and fieldctl serve (issue 13); run it through tools/faults/run.sh.

Runs the real agent on this machine's /proc and kills it with SIGKILL at seeded-random instants of several kinds
(see KINDS), restarts it on the same spool each time, stops it cleanly at the end, then reads every bundle the
spools, the harness's archive of closed bundles and the collectors' stores hold and counts, per kill, the samples
lost, the losses without a loss record and the samples stored twice. It also kills `fieldctl serve` while agents
and plain HTTP clients upload, and checks that every acknowledged bundle is stored exactly once.

The accounting is described in docs/reliability.md, "Fault injection". Exit status: 0 the promise held, 1 it
failed (the report names the case), 2 the harness itself could not run.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import fieldbundle  # noqa: E402  (the project's reference decoder: its zstd stream and CRC-32C)

KINDS = ["random", "recovery", "rotation", "quota", "upload", "second-agent", "fifo", "full-disk"]
INJECTIONS = ["delete-bundle", "duplicate-bundle", "truncate-bundle", "drop-acked"]
NAME_RE = re.compile(r"^(?P<dev>.+)-(?P<ts>\d{8}T\d{6}\.\d{3}Z)-(?P<seq>\d{4,})\.zst")


def now_ns():
    return time.monotonic_ns()  # CLOCK_MONOTONIC, the clock of the agent's mono_ns


def log(msg):
    print("[faults %7.1f] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


T0 = time.monotonic()


# ---------------------------------------------------------------------------------------------------------------
# Reading bundles


def _cbor_head(b, i):
    """(major, argument, next index) of the CBOR item head at b[i]; raises on what the agent never writes."""
    ib = b[i]
    major, info = ib >> 5, ib & 31
    i += 1
    if info < 24:
        return major, info, i
    n = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if n is None:
        raise ValueError("indefinite or reserved")
    return major, int.from_bytes(b[i : i + n], "big"), i + n


def sample_keys(payload):
    """seq, wall_ns, mono_ns, part of a sample record, read from the start of its map without decoding the files
    (the agent writes these keys first, docs/bundle-format.md 3.2); falls back to a full decode."""
    try:
        major, pairs, i = _cbor_head(payload, 0)
        if major != 5:
            raise ValueError
        out = {}
        for _ in range(pairs):
            major, n, i = _cbor_head(payload, i)
            if major != 3:
                raise ValueError
            key = payload[i : i + n].decode()
            i += n
            if key == "files":
                break
            major, v, i = _cbor_head(payload, i)
            if major == 0:
                out[key] = v
            elif major == 1:
                out[key] = -1 - v
            elif major == 7:
                out[key] = v == 21
            else:
                raise ValueError
        if "seq" not in out or "mono_ns" not in out:
            raise ValueError
        return out
    except (ValueError, IndexError, UnicodeDecodeError):
        v = fieldbundle.decode_payload(payload)
        if not isinstance(v, dict) or not isinstance(v.get("seq"), int):
            return None
        return v


_CACHE = {}


def read_bundle(path):
    """Every intact record of a bundle that matters here. Cached by (path, size, mtime)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_size, st.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    info = {"path": path, "header": None, "samples": [], "losses": [], "stats": [], "end": None, "damage": None}
    with open(path, "rb") as fh:
        stream = fieldbundle.Stream(fh, fieldbundle.stream_limit(st.st_size))
        buf = bytearray()

        def fill(n):
            return stream.fill(buf, n)

        if not fill(8) or bytes(buf[:6]) != fieldbundle.MAGIC:
            info["damage"] = "no preamble"
        else:
            del buf[:8]
            while True:
                if not fill(5):
                    if buf or stream.error or info["end"] is None:
                        info["damage"] = stream.error[0] if stream.error else "ends early"
                    break
                length, rtype = struct.unpack_from("<IB", buf, 0)
                total = 9 + length
                if length > fieldbundle.MAX_RECORD_BYTES or not fill(total):
                    info["damage"] = "ends early"
                    break
                (stored,) = struct.unpack_from("<I", buf, total - 4)
                if fieldbundle.crc32c(bytes(buf[: total - 4])) != stored:
                    info["damage"] = "corrupt"
                    break
                payload = bytes(buf[5 : 5 + length])
                del buf[:total]
                if rtype == 2:
                    s = sample_keys(payload)
                    if s is not None:
                        info["samples"].append((s["seq"], s.get("part", 0), s.get("wall_ns"), s["mono_ns"]))
                elif rtype in (1, 4, 5, 6):
                    v = fieldbundle.decode_payload(payload)
                    if rtype == 1:
                        info["header"] = v
                    elif rtype == 4:
                        info["stats"].append(v)
                    elif rtype == 5:
                        info["end"] = v
                    else:
                        info["losses"].append(v)
    _CACHE[key] = info
    return info


def samples_begun(p):
    """The seqs of the samples a run began, from its `--trace-samples` file (`begin SEQ MONO_NS` lines, written
    before each capture), or None without one. A line cut by the kill is not counted."""
    path = getattr(p, "trace_path", None)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("ascii", "replace")
    except (OSError, TypeError):
        return None
    seqs = []
    for line in text.split("\n")[:-1]:
        f = line.split()
        if len(f) == 3 and f[0] == "begin" and f[1].isdigit():
            seqs.append(int(f[1]))
    return seqs


def base_name(name):
    """A spool entry's bundle name: NAME.zst for NAME.zst, NAME.zst.open, .crashed, .recovering, .rejected."""
    i = name.find(".zst")
    return name[: i + 4] if i >= 0 else name


def wall_of(ts):
    """Unix seconds of a YYYYmmddTHHMMSS.mmmZ stamp (bundle names, loss record names)."""
    import calendar

    return calendar.timegm(time.strptime(ts[:15], "%Y%m%dT%H%M%S")) + int(ts[16:19]) / 1000.0


def name_fields(name):
    """(wall seconds, bundle sequence) from DEVICE-YYYYmmddTHHMMSS.mmmZ-NNNN.zst, or None."""
    m = NAME_RE.match(name)
    if not m:
        return None
    return wall_of(m.group("ts")), int(m.group("seq"))


UNWRITTEN_RE = re.compile(r"^seq (\d+)-(\d+) at (\d{8}T\d{6}\.\d{3}Z)$")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Processes


class Proc:
    """A program in the background, its output in files."""

    every = []  # all started, so that none outlives the harness

    def __init__(self, argv, logdir, label):
        os.makedirs(logdir, exist_ok=True)
        self.label = label
        self.out_path = os.path.join(logdir, label + ".out")
        self.err_path = os.path.join(logdir, label + ".err")
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.start_mono = now_ns()
        self.start_wall = time.time()
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL)
        self.pid = self.p.pid
        Proc.every.append(self)
        self.end_mono = None
        self.end_wall = None
        self.kill_mono = None
        self.after_kill = None

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.p.poll() is None

    def kill9(self):
        self.kill_mono = now_ns()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()
        self._ended()
        if self.after_kill:
            self.after_kill()

    def term(self, within=20.0):
        """SIGTERM; returns the exit status, or None (then SIGKILL) when it did not exit within `within` s."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            rc = self.p.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None
        self._ended()
        return rc

    def wait(self, timeout):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None
        self._ended()
        return rc

    def _ended(self):
        if self.end_mono is None:
            self.end_mono = now_ns()
            self.end_wall = time.time()
            self.out.close()
            self.err.close()


def ls(d):
    try:
        return os.listdir(d)
    except OSError:
        return []


def wait_for(seconds, cond, step=0.01):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------------------------------------------
# The archive: every closed bundle a spool ever held, so that bundles the quota or an upload later removes can
# still be read (their samples, their loss records). Polled, so a bundle closed and removed between two polls is
# missed: the accounting then only knows it from loss records and from the gaps it leaves.


class Archive(threading.Thread):
    def __init__(self, period=0.02):
        super().__init__(daemon=True)
        self.period = period
        self.spools = {}  # ctx name -> (spool dir, archive dir)
        self.seen = {}  # ctx name -> {base name: set of suffixes seen}
        self.lock = threading.Lock()
        self.stopping = False

    def add(self, ctx, spool, archive):
        os.makedirs(archive, exist_ok=True)
        with self.lock:
            self.spools[ctx] = (spool, archive)
            self.seen.setdefault(ctx, {})

    def poll_once(self):
        with self.lock:
            items = list(self.spools.items())
        for ctx, (spool, archive) in items:
            try:
                names = os.listdir(spool)
            except OSError:
                continue
            seen = self.seen[ctx]
            for n in names:
                if ".zst" not in n:
                    continue
                b = base_name(n)
                seen.setdefault(b, set()).add(n[len(b) :] or "closed")
                if n.endswith(".zst") and not os.path.exists(os.path.join(archive, n)):
                    src, dst = os.path.join(spool, n), os.path.join(archive, n)
                    try:
                        os.link(src, dst)
                    except OSError as e:
                        if e.errno == 18:  # EXDEV: the tmpfs spool; copy (a link would keep its space in use)
                            try:
                                shutil.copyfile(src, dst + ".tmp")
                                os.rename(dst + ".tmp", dst)
                            except OSError:
                                pass

    def run(self):
        # Under load (CI runs the suite beside this) a poll that comes late misses bundles that lived less than
        # the delay, and what only they recorded reads as unrecorded. The poller runs at a higher priority than
        # the agents when it may (root); otherwise as it is.
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
        except (OSError, AttributeError):
            pass
        while not self.stopping:
            self.poll_once()
            time.sleep(self.period)

    def snapshot_leftovers(self, ctx):
        """Right after a kill, before the restart: copies of the bundles it left open (`.open`, `.crashed`), as
        the next start may recover one and drop it for the quota before a poll sees the closed bundle."""
        self.poll_once()
        spool, archive = self.spools[ctx]
        dest = os.path.join(archive, "leftovers")
        os.makedirs(dest, exist_ok=True)
        for n in ls(spool):
            if n.endswith(".zst.open") or n.endswith(".zst.crashed"):
                b = base_name(n)
                try:
                    shutil.copyfile(os.path.join(spool, n), os.path.join(dest, b + ".tmp"))
                    os.rename(os.path.join(dest, b + ".tmp"), os.path.join(dest, b))
                except OSError:
                    pass


# ---------------------------------------------------------------------------------------------------------------
# Contexts: one spool (and device id) per kind


class Ctx:
    def __init__(self, h, kind, spool=None, extra=None):
        self.h = h
        self.kind = kind
        self.device = "f-" + kind
        self.spool = spool or os.path.join(h.work, "spool-" + kind)
        self.archive = os.path.join(h.work, "archive-" + kind)
        self.extra = extra or []
        self.runs = []  # every agent started on this spool
        self.kill_losses = []  # per-kill measurements that are not a run's tail (recovery kills)
        self.failures = []  # promise failures seen while running (refusal, SIGTERM)
        self.store = None  # (store dir, collector label) when uploading
        self.acked = []  # (device, name) the agent said were delivered
        self.notes = []
        self.interval = 0.1
        h.archive.add(kind, self.spool, self.archive)

    def args(self, extra=()):
        return ["--spool", self.spool, "--device-id", self.device, "--interval", str(self.interval)] + self.extra + list(
            extra
        )

    def start(self, extra=(), tag=None):
        n = len(self.runs)
        logs = os.path.join(self.h.work, "logs")
        label = "%s-%03d" % (self.kind, n)
        # The agent's own account of the samples it began (`--trace-samples`): what a kill interrupted is counted,
        # not estimated from the interval grid (which overcounts on a busy machine, where a capture can outlast
        # its interval).
        trace = os.path.join(logs, label + ".trace")
        p = Proc(self.h.agent + self.args(extra) + ["--trace-samples", trace], logs, label)
        p.trace_path = trace
        p.kind = self.kind
        p.tag = tag or self.kind
        p.clean = False
        p.refused = False
        extra = list(extra)
        p.interval = float(extra[extra.index("--interval") + 1]) if "--interval" in extra else self.interval
        p.after_kill = lambda: self.h.archive.snapshot_leftovers(self.kind)
        self.runs.append(p)
        return p


class Harness:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = args.work
        self.bin = args.bin
        agent = os.environ.get("FIELD_AGENT") or os.path.join(self.bin, "fieldagent")
        self.agent = [agent]
        self.fieldctl = os.path.join(self.bin, "fieldctl")
        self.archive = Archive()
        self.ctxs = {}
        self.collectors = []
        self.mounts = []
        self.tokens = os.path.join(self.work, "tokens")
        self.not_run = {}  # kind -> why
        self.crowd = []  # --crowd: idle processes that make each sample of the real /proc larger

    # -- collector ---------------------------------------------------------------------------------------------

    def write_tokens(self, devices):
        with open(self.tokens, "w") as f:
            for d in devices:
                f.write("%s %s\n" % (d, self.token(d)))
        os.chmod(self.tokens, 0o600)

    @staticmethod
    def token(device):
        return "token-of-%s-0123456789abcdef" % device

    def token_file(self, device):
        path = os.path.join(self.work, device + ".token")
        with open(path, "w") as f:
            f.write(self.token(device) + "\n")
        os.chmod(path, 0o600)
        return path

    def start_collector(self, store, port, label):
        addr = os.path.join(self.work, "address-%s-%d" % (label, len(self.collectors)))
        argv = [self.fieldctl, "serve", "--listen", "127.0.0.1:%d" % port, "--store", store, "--tokens", self.tokens]
        argv += ["--address-file", addr]
        p = Proc(argv, os.path.join(self.work, "logs"), "collector-%s-%03d" % (label, len(self.collectors)))
        self.collectors.append(p)
        if not wait_for(30, lambda: os.path.exists(addr) or not p.alive()) or not p.alive():
            raise RuntimeError("the collector did not start: " + p.stderr())
        return p

    # -- kinds -------------------------------------------------------------------------------------------------

    def kill_after(self, p, seconds):
        wait_for(seconds, lambda: not p.alive(), step=0.005)
        if p.alive():
            p.kill9()
        else:
            p.wait(1)

    def do_random(self, ctx):
        p = ctx.start(tag="random")
        self.kill_after(p, self.rng.uniform(0.2, 2.5))

    def do_rotation(self, ctx):
        before = set(n for n in ls(ctx.spool) if n.endswith(".zst"))
        p = ctx.start(tag="rotation")
        # The kill comes when a bundle of this run was closed (seen as a new NAME.zst), at once or a little later
        # (the next bundle is opened at the next sample).
        got = wait_for(
            15,
            lambda: not p.alive() or any(n.endswith(".zst") and n not in before for n in ls(ctx.spool)),
            step=0.002,
        )
        delay = self.rng.choice([0, 0, 0.002, 0.01, 0.05, 0.11])
        if delay:
            time.sleep(delay)
        if not got:
            ctx.notes.append("no rotation within 15 s in run %s" % p.label)
        p.kill9()

    def do_quota(self, ctx):
        p = ctx.start(tag="quota")
        wait_for(20, lambda: not p.alive() or "dropped" in p.stderr(), step=0.002)
        time.sleep(self.rng.choice([0, 0, 0.001, 0.01, 0.05]))
        p.kill9()

    def do_upload(self, ctx):
        store, _ = ctx.store
        p = ctx.start(tag="upload")
        mode = self.rng.choice(["random", "part", "stored"])
        if mode == "random":
            self.kill_after(p, self.rng.uniform(0.3, 2.5))
            return
        devdir = os.path.join(store, ctx.device)

        def listing():
            try:
                return os.listdir(devdir)
            except OSError:
                return []

        if mode == "part":  # while the collector receives one of its bundles
            wait_for(10, lambda: not p.alive() or any(n.endswith(".part") for n in listing()), step=0.001)
        else:  # just after the collector stored one (the acknowledgement under way)
            n0 = sum(1 for n in listing() if n.endswith(".zst"))
            wait_for(10, lambda: not p.alive() or sum(1 for n in listing() if n.endswith(".zst")) > n0, step=0.001)
            time.sleep(self.rng.choice([0, 0.0005, 0.002, 0.01]))
        p.kill9()

    def do_second_agent(self, ctx):
        first = ctx.start(tag="second-agent")
        ok = wait_for(20, lambda: any(n.endswith(".zst.open") for n in ls(ctx.spool)) or not first.alive())
        time.sleep(self.rng.uniform(0.1, 1.0))
        second = ctx.start(extra=["--duration", "1"], tag="second-agent-refused")
        second.refused = True
        rc = second.wait(30)
        err = second.stderr()
        if rc != 1 or "is in use by fieldagent pid" not in err:
            ctx.failures.append("a second agent on the spool did not refuse (exit %s): %s" % (rc, err.strip()[-300:]))
        if not ok or not first.alive():
            ctx.failures.append("the first agent was not running when the second started")
        self.kill_after(first, self.rng.uniform(0.2, 1.5))

    def fifo_tree(self):
        root = os.path.join(self.work, "fifo-proc")
        if os.path.isdir(root):
            return root
        for d in ["", "/7", "/7/task", "/7/task/7", "/7/fd"]:
            os.makedirs(root + d, exist_ok=True)
        files = {
            "/version": "Linux version 6.1.0 (fault harness)\n",
            "/uptime": "100.00 200.00\n",
            "/loadavg": "0.10 0.20 0.30 1/100 7\n",
            "/7/stat": "7 (worker) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 1000 10\n",
            "/7/comm": "worker\n",
        }
        for p, text in files.items():
            with open(root + p, "w") as f:
                f.write(text)
        for p in ["/meminfo", "/7/status"]:
            os.mkfifo(root + p, 0o644)
        return root

    def do_fifo(self, ctx):
        p = ctx.start(tag="fifo")
        if self.rng.random() < 0.25:
            # SIGTERM must still stop it promptly, with its bundle closed.
            time.sleep(self.rng.uniform(0.3, 1.5))
            rc = p.term(within=5)
            p.clean = rc == 0
            if rc != 0:
                ctx.failures.append("SIGTERM did not stop the agent on the FIFO tree within 5 s (status %s)" % rc)
        else:
            self.kill_after(p, self.rng.uniform(0.2, 2.0))

    def do_full_disk(self, ctx):
        p = ctx.start(tag="full-disk")
        self.kill_after(p, self.rng.uniform(0.3, 3.0))

    def do_recovery(self, ctx):
        """One cycle: an agent reading deep files at every sample leaves a big .open; the next start is killed
        while it recovers it (once or twice), at instants spread over the recovery's measured length."""
        # At 0.3 s: a capture of every deep file takes 50 to 120 ms here, and an agent that overruns its interval
        # makes the kill's tail estimate (the grid) count slots it skipped.
        src = ctx.start(extra=["--deep-every", "1", "--interval", "0.3"], tag="recovery-source")
        wait_for(3 + self.rng.uniform(0, 2), lambda: not src.alive())
        src.kill9()
        for _ in range(self.rng.choice([1, 2])):
            before = self.recoverable(ctx.spool)
            est = max(0.02, ctx.recovery_seconds)
            p = ctx.start(tag="recovery")
            delay = self.rng.uniform(0.0, est * 1.1)
            self.kill_after(p, delay)
            after = self.recoverable(ctx.spool, set(before))
            lost = sum(max(0, before[n] - after.get(n, 0)) for n in before)
            ctx.kill_losses.append({"run": p.label, "delay": round(delay, 4), "lost": lost,
                                    "in_leftovers": sum(before.values())})
            if p.kill_mono is None:  # it finished before the kill: the recovery's length was underestimated
                ctx.notes.append("run %s ended (recovery done) before its kill at %.3f s" % (p.label, delay))
        # The source run's own samples are counted like any other kill's (its tail).

    @staticmethod
    def recoverable(spool, names=None):
        """Samples each leftover (by bundle name) holds intact now: the recovered NAME.zst when it exists, else
        its .crashed or .open source. `names`: the leftovers to look at (default: those in the spool now)."""
        if names is None:
            names = set(base_name(n) for n in ls(spool)
                        if n.endswith((".zst.open", ".zst.crashed", ".zst.recovering")))
        out = {}
        for b in names:
            final = os.path.join(spool, b)
            srcs = [final] if os.path.exists(final) else [os.path.join(spool, b + s) for s in (".crashed", ".open")]
            best = 0
            for s in srcs:
                info = read_bundle(s) if os.path.exists(s) else None
                if info:
                    best = max(best, len(set((x[0], x[1]) for x in info["samples"])))
            out[b] = best
        return out

    def time_recovery(self, ctx):
        """Length of an uninterrupted recovery of a big leftover, to spread the kills over it."""
        probe = ctx.spool + "-probe"
        src = Proc(self.agent + ["--spool", probe, "--device-id", "probe", "--interval", "0.1", "--deep-every", "1"],
                   os.path.join(self.work, "logs"), "recovery-probe-src")
        wait_for(4, lambda: not src.alive())
        src.kill9()
        t0 = time.monotonic()
        r = subprocess.run(self.agent + ["--spool", probe, "--device-id", "probe", "--interval", "10", "--duration",
                                         "0"], capture_output=True, timeout=120)
        ctx.recovery_seconds = time.monotonic() - t0
        shutil.rmtree(probe, ignore_errors=True)
        log("recovery of a 4 s deep leftover takes %.3f s" % ctx.recovery_seconds)

    # -- collector kills -------------------------------------------------------------------------------------

    def collector_phase(self, seconds):
        """Agents and plain HTTP clients upload to one collector, killed with SIGKILL at random instants and
        restarted on the same store and port."""
        c = {"kills": 0, "acked": [], "clients": {}, "devices": []}
        store = os.path.join(self.work, "store-collector")
        port = free_port()
        label = "kills"
        col = [self.start_collector(store, port, label)]
        url = "http://127.0.0.1:%d" % port
        agents = []
        for d in ["agent1", "agent2"]:
            ctx = Ctx(self, "collector-" + d,
                      extra=["--bundle-seconds", "1", "--bundle-bytes", "4K", "--upload", url, "--token-file",
                             self.token_file("f-collector-" + d), "--retry-min", "0.1", "--retry-max", "0.5",
                             "--pid", "1", "--pid", str(os.getpid())])
            ctx.store = (store, label)
            self.ctxs[ctx.kind] = ctx
            agents.append((ctx, ctx.start(tag="collector-agent")))
        # Bundles for the HTTP clients, made beforehand by the agent.
        clients = []
        for d in ["client1", "client2"]:
            dev = "f-collector-" + d
            spool = os.path.join(self.work, "made-" + d)
            subprocess.run(self.agent + ["--spool", spool, "--device-id", dev, "--interval", "0.1",
                                         "--bundle-seconds", "1", "--bundle-bytes", "8K", "--duration", "4"],
                           capture_output=True, timeout=60)
            bundles = sorted(os.path.join(spool, n) for n in os.listdir(spool) if n.endswith(".zst"))
            clients.append(Client(self, dev, bundles, port, self.rng.randrange(1 << 30)))
            c["devices"].append(dev)
        for cl in clients:
            cl.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(self.rng.uniform(0.3, 2.0))
            col[-1].kill9()
            c["kills"] += 1
            time.sleep(self.rng.choice([0, 0.05, 0.3]))
            col.append(self.start_collector(store, port, label))
        # The end: the agents stop cleanly (a last delivery attempt), the clients finish their queues.
        for ctx, p in agents:
            rc = p.term(within=30)
            p.clean = rc == 0
            if rc != 0:
                ctx.failures.append("agent %s did not stop cleanly (status %s)" % (p.label, rc))
        for cl in clients:
            cl.finish(60)
        for ctx, p in agents:
            # Anything not delivered yet goes now, with the collector up.
            f = ctx.start(extra=["--duration", "0.3", "--final-upload-seconds", "15"], tag="final")
            f.wait(60)
            f.clean = f.p.returncode == 0
        col[-1].term()
        for ctx, _ in agents:
            for p in ctx.runs:
                ctx.acked += [(ctx.device, n) for n in re.findall(r"delivered (\S+) to ", p.stderr())]
        c["clients"] = {cl.device: cl for cl in clients}
        c["store"] = store
        c["agents"] = [ctx.kind for ctx, _ in agents]
        # A last start on the store rebuilds its index (the index is a cache of the files); then it is read.
        p = self.start_collector(store, free_port(), "check")
        p.term()
        c["check_stderr"] = p.stderr()
        return c

    # -- the run ---------------------------------------------------------------------------------------------

    def start_crowd(self, n):
        # Idle, so that they add to the size of each sample and not to the load; gone with the run (cleanup).
        for _ in range(n):
            self.crowd.append(subprocess.Popen(["sleep", "86400"], stdin=subprocess.DEVNULL,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def setup(self):
        os.makedirs(self.work, exist_ok=True)
        kinds = self.args.kinds
        devices = ["f-upload", "f-collector-agent1", "f-collector-agent2", "f-collector-client1",
                   "f-collector-client2"]
        self.write_tokens(devices)
        self.archive.start()
        cheap = ["--bundle-seconds", "1", "--bundle-bytes", "48K"]
        self.ctxs["random"] = Ctx(self, "random", extra=cheap + ["--spool-max-bytes", "2M"])
        rec = Ctx(self, "recovery", extra=["--spool-max-bytes", "64M"])
        rec.recovery_seconds = 0.5
        self.ctxs["recovery"] = rec
        self.ctxs["rotation"] = Ctx(self, "rotation", extra=["--bundle-seconds", "1", "--bundle-bytes", "256K",
                                                             "--spool-max-bytes", "4M"])
        self.ctxs["quota"] = Ctx(self, "quota", extra=["--bundle-seconds", "1", "--bundle-bytes", "16K",
                                                       "--spool-max-bytes", "160K"])
        if "upload" in kinds:
            store = os.path.join(self.work, "store-upload")
            self.upload_port = free_port()
            self.upload_collector = self.start_collector(store, self.upload_port, "upload")
            u = Ctx(self, "upload", extra=["--bundle-seconds", "1", "--bundle-bytes", "16K", "--upload",
                                           "http://127.0.0.1:%d" % self.upload_port, "--token-file",
                                           self.token_file("f-upload"), "--retry-min", "0.1", "--retry-max", "0.5",
                                           "--spool-max-bytes", "8M"])
            u.store = (store, "upload")
            self.ctxs["upload"] = u
        self.ctxs["second-agent"] = Ctx(self, "second-agent", extra=cheap)
        fifo = Ctx(self, "fifo", extra=["--backend", "linux", "--proc-root", self.fifo_tree(), "--bundle-seconds",
                                        "1"])
        self.ctxs["fifo"] = fifo
        if "full-disk" in kinds:
            mnt = os.path.join(self.work, "tmpfs")
            os.makedirs(mnt, exist_ok=True)
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], capture_output=True,
                               text=True)
            if r.returncode != 0:
                self.not_run["full-disk"] = "cannot mount a 256 KiB tmpfs: %s" % (r.stderr.strip() or r.returncode)
            else:
                self.mounts.append(mnt)
                # A filler outside the spool leaves the agent about 128 KiB: a few bundles, then the disk is full
                # and stays so (the agent can free only its own files).
                with open(os.path.join(mnt, "filler"), "wb") as f:
                    f.write(b"\0" * (128 << 10))
                self.ctxs["full-disk"] = Ctx(self, "full-disk", spool=os.path.join(mnt, "spool"),
                                             extra=["--bundle-seconds", "1", "--bundle-bytes", "8K",
                                                    "--spool-max-bytes", "1M"])
        for k in list(self.ctxs):
            if k not in kinds:
                del self.ctxs[k]
        if "recovery" in self.ctxs:
            self.time_recovery(self.ctxs["recovery"])

    def run(self):
        kinds = [k for k in self.args.kinds if k in self.ctxs]
        collector_share = 0.2 if self.args.collector else 0.0
        agent_seconds = self.args.seconds * (1 - collector_share)
        deadline = time.monotonic() + agent_seconds
        actions = {"random": self.do_random, "recovery": self.do_recovery, "rotation": self.do_rotation,
                   "quota": self.do_quota, "upload": self.do_upload, "second-agent": self.do_second_agent,
                   "fifo": self.do_fifo, "full-disk": self.do_full_disk}
        # Every kind once first (a short run still tries each), then seeded-random choices.
        order = list(kinds)
        self.rng.shuffle(order)
        while order or time.monotonic() < deadline:
            kind = order.pop() if order else self.rng.choice(kinds)
            actions[kind](self.ctxs[kind])
        for kind in kinds:  # the clean end: recovers leftovers, writes pending losses, delivers
            ctx = self.ctxs[kind]
            if kind == "full-disk":
                # Space comes back, and the last start can catch up: the filler goes and the tmpfs grows. The filler
                # alone was not enough: on a busy machine (some hundred processes more) one sample of the real
                # /proc is 30 to 140 KiB, the spool fills the whole 256 KiB by itself, and the last start could
                # neither recover a `.crashed` nor write its records (CI, 4 Dec, twice).
                os.unlink(os.path.join(self.mounts[0], "filler"))
                r = subprocess.run(["mount", "-o", "remount,size=16m", self.mounts[0]], capture_output=True, text=True)
                if r.returncode != 0:
                    ctx.notes.append("the tmpfs could not grow before the last start: %s" % (r.stderr.strip() or r.returncode))
            extra = ["--duration", "0.5"]
            if ctx.store:
                extra += ["--final-upload-seconds", "15"]
            p = ctx.start(extra=extra, tag="final")
            rc = p.wait(90)
            p.clean = rc == 0
            if rc != 0:
                ctx.failures.append("the final clean run exited %s: %s" % (rc, p.stderr()[-300:]))
            ctx.acked += [(ctx.device, n) for r in ctx.runs for n in re.findall(r"delivered (\S+) to ", r.stderr())]
        if "upload" in self.ctxs:
            self.upload_collector.term()
        self.collector = self.collector_phase(self.args.seconds * collector_share) if collector_share else None
        self.archive.stopping = True
        self.archive.join()
        self.archive.poll_once()

    def cleanup(self):
        for p in Proc.every:
            if p.alive():
                p.kill9()
        for c in self.crowd:
            c.kill()
            c.wait()
        for m in self.mounts:
            # The evidence on the tmpfs is copied out first, for the report and for a later look.
            if os.path.isdir(os.path.join(m, "spool")):
                subprocess.run(["cp", "-a", os.path.join(m, "spool"), os.path.join(self.work, "spool-full-disk-final")])
            subprocess.run(["umount", m])


class Client(threading.Thread):
    """Uploads a fixed set of bundles like an agent would: each until it is acknowledged (2xx), re-sending some
    acknowledged ones (the collector must answer 200 and store nothing new), some under another name."""

    def __init__(self, h, device, bundles, port, seed):
        super().__init__(daemon=True)
        self.h, self.device, self.bundles, self.port = h, device, bundles, port
        self.rng = random.Random(seed)
        self.acked = {}  # path -> list of (name sent, status, sha256)
        self.attempts = 0
        self.errors = 0
        self.resends = 0
        self.done = threading.Event()
        self.stop_at = None

    def put(self, path, name):
        with open(path, "rb") as f:
            body = f.read()
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("PUT", "/v1/devices/%s/bundles/%s" % (self.device, name), body=body,
                         headers={"Authorization": "Bearer " + self.h.token(self.device),
                                  "Content-Digest": "sha-256=:%s:" % digest})
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    def run(self):
        pending = list(self.bundles)
        while True:
            if not pending and (self.stop_at is not None or self.done.is_set()):
                return
            if pending:
                path = pending[0]
                name = os.path.basename(path)
            elif self.acked:
                path = self.rng.choice(sorted(self.acked))
                name = os.path.basename(path)
                if self.rng.random() < 0.3:
                    name = name.replace(".zst", "-again.zst")
                self.resends += 1
            else:
                return
            self.attempts += 1
            try:
                status = self.put(path, name)
            except (OSError, http.client.HTTPException):
                status = None
                self.errors += 1
            if status is not None and 200 <= status < 300:
                self.acked.setdefault(path, []).append((name, status))
                if pending and pending[0] == path:
                    pending.pop(0)
            else:
                time.sleep(0.05)
            time.sleep(self.rng.uniform(0, 0.05))

    def finish(self, seconds):
        self.stop_at = time.monotonic()
        self.join(seconds)


# ---------------------------------------------------------------------------------------------------------------
# Accounting


class Evidence:
    """The accounting's input: per context the closed bundles at the end (spool), the archive's copies, and the
    collector's store (files and index); injections change it to prove the verdict can fail."""

    def __init__(self, h):
        self.h = h
        self.spool = {}  # ctx -> [paths]
        self.archive = {}
        self.store = {}  # ctx -> [paths]
        self.seen = {}
        self.index = {}  # device -> [index lines (dict)]
        self.store_root = {}  # device -> dir
        for k, ctx in h.ctxs.items():
            spool = ctx.spool
            if k == "full-disk":
                spool = os.path.join(h.work, "spool-full-disk-final")
            # A bundle left `.open` or `.crashed` at the end is still on the device (the next start recovers it):
            # present, with the records it holds intact. Its recovery's partial output (`.recovering`) is not.
            self.spool[k] = [os.path.join(spool, n) for n in sorted(os.listdir(spool))
                             if n.endswith((".zst", ".zst.rejected", ".zst.open", ".zst.crashed"))] if os.path.isdir(spool) else []
            self.leftovers_at_end = getattr(self, "leftovers_at_end", {})
            self.leftovers_at_end[k] = [n for n in (os.listdir(spool) if os.path.isdir(spool) else [])
                                        if n.endswith((".open", ".crashed", ".recovering", ".partial"))
                                        or n == "pending-losses"]
            self.archive[k] = [os.path.join(ctx.archive, n) for n in sorted(os.listdir(ctx.archive))
                               if n.endswith(".zst")]
            lo = os.path.join(ctx.archive, "leftovers")
            self.archive[k] += [os.path.join(lo, n) for n in sorted(ls(lo)) if n.endswith(".zst")]
            self.pending = getattr(self, "pending", {})
            self.pending[k] = []
            if os.path.exists(os.path.join(spool, "pending-losses")):
                with open(os.path.join(spool, "pending-losses")) as f:
                    self.pending[k] = [line.rstrip("\n").split(" ", 2) for line in f
                                       if len(line.rstrip("\n").split(" ", 2)) == 3]
            self.seen[k] = dict(h.archive.seen.get(k, {}))
            self.store[k] = []
            if ctx.store:
                d = os.path.join(ctx.store[0], ctx.device)
                self.store_root[ctx.device] = d
                if os.path.isdir(d):
                    self.store[k] = [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".zst")]
        for dev in self.devices_with_store():
            self.load_index(dev)

    def devices_with_store(self):
        devs = list(self.store_root)
        c = getattr(self.h, "collector", None)
        if c:
            for dev in c["devices"]:
                self.store_root[dev] = os.path.join(c["store"], dev)
                devs.append(dev)
        return devs

    def load_index(self, dev):
        lines = []
        p = os.path.join(self.store_root[dev], "index.jsonl")
        if os.path.exists(p):
            with open(p) as f:
                for line in f:
                    if line.strip():
                        lines.append(json.loads(line))
        self.index[dev] = lines

    def store_files(self, dev):
        d = self.store_root[dev]
        out = getattr(self, "_store_override", {}).get(dev)
        if out is not None:
            return out
        return [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".zst")] if os.path.isdir(d) else []


def analyse(h, ev):
    """The verdict on the evidence: per kind and per kill. See docs/reliability.md, "Fault injection"."""
    kinds = {}
    failures = []
    for k, ctx in h.ctxs.items():
        r = analyse_ctx(h, ctx, ev)
        kinds[k] = r
        for f in ctx.failures:
            failures.append("%s: %s" % (k, f))
        if r["max_lost"] > 1:
            worst = max(r["kills_detail"], key=lambda x: x["lost"])
            failures.append("%s: %d samples lost at one kill (%s)" % (k, worst["lost"], worst["run"]))
        if r["unrecorded"]:
            failures.append("%s: %d losses without a loss record (%s)" % (k, r["unrecorded"],
                                                                         "; ".join(r["unrecorded_detail"][:4])))
        if r["duplicates"]:
            failures.append("%s: %d samples stored twice (%s)" % (k, r["duplicates"],
                                                                 "; ".join(r["duplicate_detail"][:4])))
    col = analyse_collector(h, ev)
    if col:
        if col["missing"]:
            failures.append("collector: %d acknowledged bundles missing from the store (%s)"
                            % (col["missing"], "; ".join(col["missing_detail"][:4])))
        if col["twice"]:
            failures.append("collector: %d acknowledged bundles stored twice (%s)"
                            % (col["twice"], "; ".join(col["twice_detail"][:4])))
    return {"kinds": kinds, "collector": col, "failures": failures}


def analyse_ctx(h, ctx, ev):
    k = ctx.kind
    # Every copy of every bundle, by identity (device, bundle name): the spool at the end, the archive, the store.
    copies = {}
    present = set()
    for where, paths in (("spool", ev.spool[k]), ("store", ev.store[k]), ("archive", ev.archive[k])):
        for p in paths:
            b = base_name(os.path.basename(p))
            copies.setdefault(b, []).append(p)
            if where != "archive":
                present.add(b)
    infos = {}
    notes = []
    for b, paths in copies.items():
        merged = None
        for p in paths:
            info = read_bundle(p)
            if info is None or info["header"] is None:
                notes.append("unreadable copy %s" % p)
                continue
            if merged is None:
                merged = {"header": info["header"], "samples": set(), "losses": [], "stats": [], "records": [],
                          "end": None, "inner_dups": 0}
            merged["samples"] |= set(info["samples"])
            # A sample twice within one copy is a duplicate too.
            merged["inner_dups"] = max(merged["inner_dups"], len(info["samples"]) - len(set(info["samples"])))
            if info["end"] is not None:  # a closed copy; a leftover copy may be a prefix of it
                merged["records"].append(len(info["samples"]))
                merged["end"] = info["end"]
            merged["losses"] += info["losses"]
            merged["stats"] += info["stats"]
            if info["damage"] and info["end"] is not None:
                notes.append("%s is damaged (%s)" % (p, info["damage"]))
        if merged:
            if len(set(merged["records"])) > 1:
                notes.append("copies of %s differ (%s samples)" % (b, merged["records"]))
            infos[b] = merged
    # Loss records that count: those in a bundle present at the end, or in a bundle whose own loss is recorded
    # by one that counts (the chain a quota under pressure makes, docs/reliability.md "Power loss").
    recorded = {}
    sources = set(b for b in present if b in infos)
    # The agent's own durable record of losses no bundle holds yet (a drop at the last close), which the next
    # start writes into its first bundle.
    pending_only = 0
    for reason, _, n in ev.pending[k]:
        nb = base_name(n)
        recorded.setdefault(nb, reason)
        pending_only += 1
        if nb in infos:
            sources.add(nb)
    done = set()
    while sources:
        b = sources.pop()
        done.add(b)
        for loss in infos[b]["losses"]:
            if not isinstance(loss, dict):
                continue
            for n in loss.get("names") or []:
                if not isinstance(n, str):
                    continue
                nb = base_name(n)
                recorded.setdefault(nb, loss.get("reason"))
                if nb in infos and nb not in done:
                    sources.add(nb)
    accounted = present | set(recorded)
    unrecorded_detail = []
    unrecorded = 0
    removed_empty = set()
    for p in ctx.runs:
        for m in re.findall(r"removed (\S+)\.open: nothing readable", p.stderr()):
            removed_empty.add(base_name(m))
        # A bundle whose start failed (its header could not be written: a full disk) held nothing.
        for m in re.findall(r"cannot start a bundle: writing \S*/(\S+?\.zst)\.open failed", p.stderr()):
            removed_empty.add(m)
    # A bundle that existed (read from the archive, or seen in the spool under any name) and is neither present
    # at the end nor recorded as lost vanished silently.
    seen_names = set(infos) | set(ev.seen[k])
    for b in sorted(seen_names - accounted - removed_empty):
        has = len(infos[b]["samples"]) if b in infos else "?"
        unrecorded += 1
        # What the poller saw of it and what the agents said of it: the evidence for a person to judge.
        forms = ", ".join(sorted(ev.seen[k].get(b, []))) or "not in the spool, only in the archive"
        stem = b[: -len(".zst")]
        # Every distinct line naming it, by run (a recovery that fails repeats its line at each rotation): the
        # line that removed it may come after many that did not.
        said = []
        for p in ctx.runs:
            for l in p.stderr().splitlines():
                line = "%s: %s" % (p.label, l.strip())
                if stem in l and line not in said:
                    said.append(line)
        if len(said) > 12:
            said = said[:4] + ["(%d more)" % (len(said) - 12)] + said[-8:]
        copied = [n for n in notes if stem in n][:3]
        left = [n for n in ev.leftovers_at_end[k] if n.startswith(stem)]
        if left:
            forms += "; still in the spool at the end as " + ", ".join(left)
        unrecorded_detail.append("bundle %s (%s samples; seen in the spool as %s; copies: %s; the agents said: %s) vanished without a loss record"
                                 % (b, has, forms, "; ".join(copied) or "none unreadable", " | ".join(said) or "nothing of it"))

    # Bundles by run: the header's agent_pid and start time fall within one agent start's life.
    runs = [p for p in ctx.runs if not p.refused]
    by_run = {id(p): {} for p in ctx.runs}

    def run_of_header(hd):
        pid = hd.get("agent_pid")
        mono = hd.get("mono_ns", 0)
        for p in ctx.runs:
            if p.pid == pid and p.start_mono - 10**9 <= mono <= (p.end_mono or now_ns()) + 10**9:
                return p
        return None

    orphan = 0
    for p in ctx.runs:
        rc = p.p.returncode
        if rc is not None and rc not in (0, -9) and not (p.refused and rc == 1):
            ctx.failures.append("run %s exited with status %s: %s" % (p.label, rc, p.stderr().strip()[-300:]))
    for b, info in infos.items():
        p = run_of_header(info["header"])
        if p is None:
            orphan += 1
            continue
        by_run[id(p)][b] = info
    if orphan:
        notes.append("%d bundles match no agent start of the harness" % orphan)

    def run_of_name(b):
        f = name_fields(b)
        if not f:
            return None
        wall = f[0]
        for p in ctx.runs:
            if p.start_wall - 0.01 <= wall <= (p.end_wall or time.time()) + 0.01:
                return p
        return None

    # Samples that reached no bundle, recorded as runs "seq A-B at TIME" (reason samples-not-written): by run.
    rec_samples_by_run = {}
    for nb in recorded:
        m = UNWRITTEN_RE.match(nb)
        if not m:
            continue
        wall = wall_of(m.group(3))
        for p in ctx.runs:
            if p.start_wall - 0.01 <= wall <= (p.end_wall or time.time()) + 0.01:
                rec_samples_by_run.setdefault(id(p), set()).update(range(int(m.group(1)), int(m.group(2)) + 1))
    recorded_by_run = {}
    for nb in recorded:
        p = run_of_name(nb)
        f = name_fields(nb)
        if p is not None and f:
            recorded_by_run.setdefault(id(p), set()).add(f[1])

    kills = []
    duplicates = 0
    dup_detail = []
    lost_total = 0
    recorded_samples = 0
    seen_total = 0
    for p in ctx.runs:
        bundles = by_run[id(p)]
        if p.refused:
            if bundles:
                unrecorded += 0
                ctx.failures.append("the refused second agent %s wrote bundles" % p.label)
            continue
        # (seq, part) -> bundles holding it
        where = {}
        seqs_by_bundle = {}
        t0 = None
        for b, info in bundles.items():
            bs = info["header"].get("sequence", 0)
            if bs == 0:
                t0 = info["header"].get("mono_ns")
            duplicates += info["inner_dups"]
            if info["inner_dups"]:
                dup_detail.append("%s holds %d samples twice" % (b, info["inner_dups"]))
            for s in info["samples"]:
                where.setdefault((s[0], s[1]), []).append(b)
                seqs_by_bundle.setdefault(s[0], set()).add(bs)
        for key, bl in where.items():
            if len(bl) > 1:
                duplicates += len(bl) - 1
                dup_detail.append("run %s sample %d in %s" % (p.label, key[0], ", ".join(sorted(bl))))
        seqs = sorted(set(s for s, _ in where))
        seen_total += len(seqs)
        mono = {}
        for info in bundles.values():
            for s in info["samples"]:
                mono[s[0]] = s[3]
        if t0 is None and seqs:
            # The run's first bundle is gone (dropped, recorded): its grid is placed by the first sample found,
            # as if no interval had been missed before it.
            t0 = mono[seqs[0]] - seqs[0] * int(p.interval * 1e9)
        bseqs = set(info["header"].get("sequence", 0) for info in bundles.values())
        rec_bseqs = recorded_by_run.get(id(p), set())
        rec_samples = rec_samples_by_run.get(id(p), set())
        missing_b = set(range(0, max(bseqs) + 1)) - bseqs if bseqs else set()
        lost_here = 0
        unrec_here = []
        # Gaps: samples missing between two found ones, or before the first one.
        prev = -1
        prev_b = -1
        for s in seqs + [None]:
            if s is None:
                break
            sb = min(seqs_by_bundle[s])
            if s > prev + 1:
                between = set(range(prev_b + 1, sb))
                # The run's bundles in the gap that are gone: when every one is recorded as lost, the samples
                # not recorded as unwritten can only have been in them. Some bundles in the gap may be present
                # and empty (on a full disk: a bundle whose first write failed, recovered with no sample).
                gone_b = between & missing_b
                if gone_b and gone_b <= rec_bseqs:
                    recorded_samples += s - prev - 1
                else:
                    gone = [x for x in range(prev + 1, s) if x not in rec_samples]
                    recorded_samples += s - prev - 1 - len(gone)
                    if gone:
                        lost_here += len(gone)
                        unrec_here.append("run %s: samples %d..%d missing (bundles %d..%d), no loss record covers %d"
                                          % (p.label, prev + 1, s - 1, max(prev_b, 0), sb, len(gone)))
            prev, prev_b = s, max(seqs_by_bundle[s])
        for mb in sorted(missing_b - rec_bseqs):
            # A bundle of the run missing between found ones, not recorded (even if it held no sample).
            if mb < max(bseqs):
                unrec_here.append("run %s: bundle %d of the run is missing without a loss record" % (p.label, mb))
        # The tail: what the run had begun before it ended and no bundle holds.
        tail = 0
        tail_recorded = any(b > (max(seqs_by_bundle[seqs[-1]]) if seqs else -1) for b in rec_bseqs)
        if p.clean:
            m = re.search(r"\((\d+) samples in this run\)", p.stdout())
            n = int(m.group(1)) if m else None
            if n is None and bundles:
                # No "wrote" line: the run ended right after a rotation (no bundle open at the stop). Then its
                # last bundle was closed for rotation and holds its last sample.
                last = max(bundles.values(), key=lambda i: i["header"].get("sequence", 0))
                reason = (last["end"] or {}).get("reason")
                if reason == "rotation" and (not seqs or max(x[0] for x in last["samples"] or [(-1,)]) == seqs[-1]):
                    n = seqs[-1] + 1 if seqs else 0
            if n is None:
                unrec_here.append("run %s stopped cleanly without saying how many samples it took" % p.label)
            else:
                last_found = seqs[-1] if seqs else -1
                tail = len([x for x in range(last_found + 1, n) if x not in rec_samples])
                recorded_samples += max(0, n - 1 - last_found) - tail
                if tail and not tail_recorded:
                    unrec_here.append("run %s took %d samples, the last %d are in no bundle" % (p.label, n, tail))
                    lost_here += tail
                elif tail:
                    recorded_samples += tail
        elif p.kill_mono is not None:
            grid = None
            begun = samples_begun(p)
            if t0 is not None:
                step = int(p.interval * 1e9)
                slot_last = round((mono[seqs[-1]] - t0) / step) if seqs else -1
                due = int((p.kill_mono - t0) // step)
                grid = max(0, due - slot_last)
                # The grid is an upper bound: a sample cannot begin before the previous one's capture ended
                # (the agent then skips the slots already gone). The capture takes at least the shortest of
                # the run's last three captures (stats records, last_sample_ns).
                durations = [st.get("last_sample_ns") for info in bundles.values() for st in info["stats"]
                             if isinstance(st, dict) and isinstance(st.get("last_sample_ns"), int)
                             and st.get("mono_ns", 0) <= (mono[seqs[-1]] if seqs else 0) + 10 * step]
                d = min(durations[-3:]) if durations else 0
                t = (t0 + slot_last * step) if seqs else None
                tail = 0
                while True:
                    if t is None:
                        nxt = t0
                    else:
                        nxt = t + step
                        while nxt < t + d:
                            nxt += step
                    if nxt >= p.kill_mono:
                        break
                    tail += 1
                    t = nxt
            estimated = tail if grid is not None else None
            if begun is not None:
                last_found = seqs[-1] if seqs else -1
                tail = len([x for x in begun if x > last_found])
            if grid is not None or begun is not None:
                # Samples the agent recorded as not written are recorded losses (their seq follow the last found).
                last_found = seqs[-1] if seqs else -1
                covered = len([x for x in rec_samples if x > last_found])
                recorded_samples += min(tail, covered)
                tail = max(0, tail - covered)
            if tail and tail_recorded:
                recorded_samples += tail
                tail = 0
            lost_here += tail
            if tail > 1:
                unrec_here.append("run %s: %d samples begun before the kill are in no bundle" % (p.label, tail))
            kills.append({"run": p.label, "tag": p.tag, "lost": lost_here, "tail": tail, "grid_tail": grid,
                          "estimated_tail": estimated, "traced": begun is not None,
                          "last_seq": seqs[-1] if seqs else None, "samples": len(seqs)})
        lost_total += lost_here
        unrecorded += len(unrec_here)
        unrecorded_detail += unrec_here
    for kl in ctx.kill_losses:  # kills during recovery: what the leftover's recoverable samples lost
        kills.append({"run": kl["run"], "tag": "recovery", "lost": kl["lost"], "tail": 0,
                      "in_leftovers": kl["in_leftovers"]})
    # A kill during recovery costs what the leftover lost plus the run's own tail (none when it had not begun
    # sampling yet): one entry per kill.
    counted = {}
    for kk in kills:
        if kk["run"] in counted:
            counted[kk["run"]]["lost"] += kk["lost"]
            counted[kk["run"]].update({x: kk[x] for x in kk if x not in ("lost", "run")})
        else:
            counted[kk["run"]] = dict(kk)
    kills = list(counted.values())
    lost = [kk["lost"] for kk in kills]
    return {
        "kills": len(kills),
        "kills_by_tag": {t: sum(1 for kk in kills if kk["tag"] == t) for t in sorted(set(kk["tag"] for kk in kills))},
        "max_lost": max(lost) if lost else 0,
        "mean_lost": (sum(lost) / len(lost)) if lost else 0.0,
        "lost_total": lost_total,
        "unrecorded": unrecorded,
        "unrecorded_detail": unrecorded_detail,
        "duplicates": duplicates,
        "duplicate_detail": dup_detail,
        "samples_found": seen_total,
        "recorded_lost_samples": recorded_samples,
        "bundles_read": len(infos),
        "bundles_dropped_recorded": len(set(recorded) - present),
        "losses_only_in_pending_losses": pending_only,
        "leftovers_at_end": ev.leftovers_at_end.get(k, []),
        "notes": notes + ctx.notes,
        # How far the interval-grid estimate of a kill's tail (used before the agent traced its samples) was off.
        "tails_traced": sum(1 for kk in kills if kk.get("traced")),
        "grid_estimate_over": sum(1 for kk in kills if kk.get("traced") and kk.get("estimated_tail") is not None
                                  and kk["estimated_tail"] > kk["tail"]),
        "kills_detail": kills,
    }


def analyse_collector(h, ev):
    """Every acknowledged bundle (by its SHA-256: a copy sent under another name is the same bundle) must be in
    the store exactly once, as a file and as an index line."""
    acked = {}  # (device, sha) -> description
    for ctx in h.ctxs.values():
        if not ctx.store:
            continue
        names = set(n for _, n in ctx.acked)
        # Closed copies only: a leftover snapshot (archive/leftovers) is the unfinished bundle, not what was sent.
        arch = {os.path.basename(p): p for p in ev.archive[ctx.kind] if os.path.dirname(p) == ctx.archive}
        for n in sorted(names):
            p = arch.get(n) or os.path.join(ctx.spool, n)
            if os.path.exists(p):
                acked[(ctx.device, sha256_file(p))] = "%s/%s" % (ctx.device, n)
            else:
                acked[(ctx.device, "name:" + n)] = "%s/%s (not archived)" % (ctx.device, n)
    c = getattr(h, "collector", None)
    kills = 0
    if c:
        kills = c["kills"]
        for dev, cl in c["clients"].items():
            for path in cl.acked:
                acked[(dev, sha256_file(path))] = "%s/%s" % (dev, os.path.basename(path))
    if not acked and not c:
        return None
    missing, twice = [], []
    by_dev = {}
    for (dev, sha), what in acked.items():
        if dev not in by_dev:
            files = ev.store_files(dev)
            shas = {}
            for f in files:
                shas.setdefault(sha256_file(f), []).append(os.path.basename(f))
            names = {}
            for line in ev.index.get(dev, []):
                names.setdefault(line.get("sha256"), []).append(line.get("name"))
            by_dev[dev] = (shas, names, set(os.path.basename(f) for f in files))
        shas, names, fileset = by_dev[dev]
        if sha.startswith("name:"):
            n = sha[5:]
            if n not in fileset:
                missing.append(what)
            continue
        nf, ni = len(shas.get(sha, [])), len(names.get(sha, []))
        if nf == 0 or ni == 0:
            missing.append("%s (files %d, index lines %d)" % (what, nf, ni))
        elif nf > 1 or ni > 1:
            twice.append("%s (files %s, index %s)" % (what, shas.get(sha), names.get(sha)))
    # Index lines whose file is missing, or files stored twice that nobody acknowledged, are damage too.
    for dev, (shas, names, fileset) in by_dev.items():
        for sha, ns in names.items():
            for n in ns:
                if n not in fileset:
                    missing.append("%s/%s is in the index but not on disk" % (dev, n))
        for sha, fs in shas.items():
            if len(fs) > 1 and not any(a[1] == sha for a in acked if a[0] == dev):
                twice.append("%s: %s hold the same bundle" % (dev, fs))
    return {"kills": kills, "acknowledged": len(acked), "missing": len(missing), "missing_detail": missing,
            "twice": len(twice), "twice_detail": twice,
            "clients": {d: {"bundles": len(cl.bundles), "acked": len(cl.acked), "attempts": cl.attempts,
                            "errors": cl.errors, "resends": cl.resends} for d, cl in (c["clients"].items() if c else [])}}


# ---------------------------------------------------------------------------------------------------------------
# Injections: the same evidence, broken on purpose; the verdict must turn to failure.


def inject(h, ev, what, scratch):
    """Breaks the evidence one way; returns a line saying what was done (None: nothing suitable to break)."""
    os.makedirs(scratch, exist_ok=True)
    candidates = []
    for k, ctx in h.ctxs.items():
        if k in ("full-disk",):
            continue
        paths = ev.spool[k] + ev.store[k]
        for p in paths:
            if not p.endswith(".zst"):
                continue
            info = read_bundle(p)
            if info and len(set(info["samples"])) >= 4 and info["header"]:
                candidates.append((k, p, info))
    # A bundle in the middle of a run: one with a later bundle of the same run.
    def later_exists(k, info):
        hd = info["header"]
        for q in ev.spool[k] + ev.store[k] + ev.archive[k]:
            i2 = read_bundle(q)
            if i2 and i2["header"] and i2["header"].get("agent_pid") == hd.get("agent_pid") and \
                    i2["header"].get("sequence", 0) == hd.get("sequence", 0) + 1:
                return True
        return False

    mids = [c for c in candidates if later_exists(c[0], c[2])]
    rng = random.Random(h.args.seed + len(what))
    if what == "delete-bundle":
        if not mids:
            return None
        k, p, info = rng.choice(mids)
        b = base_name(os.path.basename(p))
        for lst in (ev.spool[k], ev.store[k], ev.archive[k]):
            lst[:] = [q for q in lst if base_name(os.path.basename(q)) != b]
        ev.seen[k].pop(b, None)
        return "deleted every copy of %s (%d samples), no loss record" % (b, len(info["samples"]))
    if what == "duplicate-bundle":
        if not candidates:
            return None
        k, p, info = rng.choice(candidates)
        name = os.path.basename(p)
        m = NAME_RE.match(name)
        other = "%s-%s-9%s.zst" % (m.group("dev"), m.group("ts"), m.group("seq")[1:])
        dst = os.path.join(scratch, other)
        shutil.copyfile(p, dst)
        ev.spool[k].append(dst)
        return "copied %s as %s" % (name, other)
    if what == "truncate-bundle":
        if not mids:
            return None
        k, p, info = rng.choice(mids)
        b = base_name(os.path.basename(p))
        dst = os.path.join(scratch, b)
        with open(p, "rb") as f:
            data = f.read()
        # Cut a little past the header: the first sample or two stay, the rest of the bundle goes.
        for tenth in (5, 6, 7, 8, 9):
            cut = len(data) * tenth // 10
            with open(dst, "wb") as f:
                f.write(data[:cut])
            kept = len(set(read_bundle(dst)["samples"]))
            if kept:
                break
        for lst in (ev.spool[k], ev.store[k], ev.archive[k]):
            had = any(base_name(os.path.basename(q)) == b for q in lst)
            lst[:] = [q for q in lst if base_name(os.path.basename(q)) != b] + ([dst] if had else [])
        return "cut %s at byte %d of %d (%d of %d samples left)" % (b, cut, len(data), kept, len(info["samples"]))
    if what == "drop-acked":
        c = getattr(h, "collector", None)
        dev = None
        if c:
            dev = sorted(c["clients"])[0]
        else:
            for ctx in h.ctxs.values():
                if ctx.store and ctx.acked:
                    dev = ctx.device
        if dev is None:
            return None
        files = ev.store_files(dev)
        if not files:
            return None
        victim = files[len(files) // 2]
        ev._store_override = {dev: [f for f in files if f != victim]}
        ev.index[dev] = [l for l in ev.index[dev] if l.get("name") != os.path.basename(victim)]
        for k in ev.store:
            ev.store[k] = [q for q in ev.store[k] if q != victim]
        return "removed acknowledged %s/%s from the store (file and index line)" % (dev, os.path.basename(victim))
    raise ValueError(what)


# ---------------------------------------------------------------------------------------------------------------
# Report


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def markdown(rep):
    out = []
    a = rep["args"]
    out.append("Fault harness: seed %d, %d s asked, %.0f s taken, load average %s at the start, %s at the end."
               % (a["seed"], a["seconds"], rep["elapsed"], rep["load_start"], rep["load_end"]))
    if a.get("crowd"):
        out.append("%d idle processes ran beside the agents (--crowd)." % a["crowd"])
    out.append("")
    out.append("| kind | kills | max lost per kill | mean lost per kill | unrecorded losses | duplicates |")
    out.append("|---|---|---|---|---|---|")
    for k in KINDS:
        if k in rep["verdict"]["kinds"]:
            r = rep["verdict"]["kinds"][k]
            out.append("| %s | %d | %d | %.2f | %d | %d |" % (k, r["kills"], r["max_lost"], r["mean_lost"],
                                                             r["unrecorded"], r["duplicates"]))
        elif k in rep["not_run"]:
            out.append("| %s | not run: %s | | | | |" % (k, rep["not_run"][k]))
    for k, r in rep["verdict"]["kinds"].items():
        if k.startswith("collector-"):
            out.append("| %s (uploading through collector kills) | %d | %d | %.2f | %d | %d |"
                       % (k, r["kills"], r["max_lost"], r["mean_lost"], r["unrecorded"], r["duplicates"]))
    col = rep["verdict"]["collector"]
    if col:
        out.append("")
        out.append("| collector | kills | acknowledged | missing | stored twice |")
        out.append("|---|---|---|---|---|")
        out.append("| fieldctl serve | %d | %d | %d | %d |" % (col["kills"], col["acknowledged"], col["missing"],
                                                              col["twice"]))
    if rep.get("self_check"):
        out.append("")
        out.append("| injected fault | what was done | verdict |")
        out.append("|---|---|---|")
        for s in rep["self_check"]:
            out.append("| %s | %s | %s |" % (s["injection"], s["done"] or "nothing suitable",
                                             "failed (caught): " + s["first_failure"] if s["caught"]
                                             else "PASSED (not caught)"))
    out.append("")
    if rep["failures"]:
        out.append("FAILED:")
        out += ["- " + f for f in rep["failures"]]
    else:
        out.append("The promise held: at most one sample lost per kill, no unrecorded loss, no duplicate, every "
                   "acknowledged bundle stored once.")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="directory holding fieldagent and fieldctl")
    ap.add_argument("--seconds", type=float, default=420)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", required=True, help="directory for report.json, report.md and the run's files")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--no-collector", dest="collector", action="store_false")
    ap.add_argument("--inject", default="", help="comma list of %s: break the evidence so, and fail" % INJECTIONS)
    ap.add_argument("--self-check", action="store_true",
                    help="after the verdict, break the evidence each --inject way in turn; each must fail")
    ap.add_argument("--keep", action="store_true", help="keep spools, archives and stores in OUT/work")
    ap.add_argument("--crowd", type=int, default=0, metavar="N",
                    help="run N idle processes (sleep) beside the agents for the whole run: a busy device's /proc, "
                         "whose samples are several times larger")
    args = ap.parse_args()
    args.kinds = [k for k in args.kinds.split(",") if k]
    for k in args.kinds:
        if k not in KINDS:
            ap.error("unknown kind %s" % k)
    injections = [i for i in args.inject.split(",") if i]
    for i in injections:
        if i not in INJECTIONS:
            ap.error("unknown injection %s" % i)
    if args.self_check and not injections:
        injections = list(INJECTIONS)
    os.makedirs(args.out, exist_ok=True)
    args.work = os.path.join(os.path.abspath(args.out), "work")
    shutil.rmtree(args.work, ignore_errors=True)
    h = Harness(args)
    load_start = loadavg()
    t0 = time.monotonic()
    try:
        h.start_crowd(args.crowd)
        h.setup()
        h.run()
    finally:
        h.cleanup()
    elapsed = time.monotonic() - t0
    ev = Evidence(h)
    verdict = analyse(h, ev)
    rep = {"args": {"seed": args.seed, "seconds": args.seconds, "kinds": args.kinds, "crowd": args.crowd},
           "elapsed": elapsed,
           "load_start": load_start, "load_end": loadavg(), "not_run": h.not_run, "verdict": verdict,
           "failures": list(verdict["failures"])}
    checks = []
    for i in injections:
        ev2 = Evidence(h)
        done = inject(h, ev2, i, os.path.join(args.work, "inject-" + i))
        v2 = analyse(h, ev2)
        caught = bool(v2["failures"]) and v2["failures"] != verdict["failures"]
        checks.append({"injection": i, "done": done, "caught": caught,
                       "first_failure": next((f for f in v2["failures"] if f not in verdict["failures"]), "")})
        if args.self_check:
            if not caught:
                rep["failures"].append("self-check: the injected fault %s was not caught (%s)" % (i, done))
        else:
            rep["failures"] += ["injected %s: %s" % (i, f) for f in v2["failures"]]
            rep["verdict"] = v2
    rep["self_check"] = checks
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(rep, f, indent=1, default=str)
    md = markdown(rep)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(md)
    sys.stdout.write(md)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 1 if rep["failures"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(2)
