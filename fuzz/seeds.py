#!/usr/bin/env python3
"""Seed inputs for the fuzz targets (fuzz/Sources), written as one directory per target.

  seeds.py live OUT --agent BIN     from this machine: bundles the real agent writes on /proc (and on the
                                    SylixOS simulator's tree), their records and samples, and files of /proc
  seeds.py ttar ARCHIVE OUT         from a procfs "ttar" archive (the prometheus/procfs fixtures in
                                    ../shared/corpora): its files as procfs and interpret inputs

tools/fuzz.sh runs `ttar` at fuzz time into a scratch directory (that archive is read, never copied into the
project) and `live` for `tools/fuzz.sh --seed`, which minimizes the result into fuzz/corpus.

Input formats: procfs inputs are a parser name line (`linux/stat`, ...; the table in ProcfsTarget.swift) and the
file's bytes; interpret inputs are capture scripts (fuzz/Sources/FuzzSupport/CaptureScript.swift).
"""

import argparse
import base64
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Where a file's parser is found from its path under a proc root (the names of ProcfsTarget.swift).
PROCESS_FILES = {
    "stat": "linux/stat", "status": "linux/status", "maps": "linux/maps", "smaps_rollup": "linux/smaps_rollup",
    "limits": "linux/limits", "cmdline": "linux/cmdline", "comm": "linux/comm",
}
SYSTEM_FILES = {
    "meminfo": "linux/meminfo", "vmstat": "linux/vmstat", "slabinfo": "linux/slabinfo", "loadavg": "linux/loadavg",
    "version": "linux/version", "sys/fs/file-nr": "linux/sys/fs/file-nr",
    "sys/kernel/threads-max": "linux/sys/kernel/threads-max", "sys/kernel/pid_max": "linux/sys/kernel/threads-max",
    "sys/vm/max_map_count": "linux/sys/kernel/threads-max", "pressure/memory": "linux/pressure/memory",
    "pressure/io": "linux/pressure/memory", "pressure/cpu": "linux/pressure/memory",
}
SYLIXOS_FILES = {
    "kernel/objects": "sylixos/kernel/objects", "kernel/affinity": "sylixos/kernel/affinity",
    "version": "sylixos/version", "kernel/tick": "sylixos/kernel/tick", "posix/pnamed": "sylixos/posix/pnamed",
    "mem": "sylixos/mem", "filedesc": "sylixos/filedesc",
}


def parser_for(relative, sylixos=False):
    """The procfs parser name for a path relative to the proc root, or None."""
    table = SYLIXOS_FILES if sylixos else SYSTEM_FILES
    if relative in table:
        return table[relative]
    parts = relative.split("/")
    if parts[0].isdigit():
        leaf = "/".join(parts[1:]) if not sylixos else parts[-1]
        if sylixos:
            return SYLIXOS_FILES.get(leaf) if len(parts) == 2 else None
        if len(parts) == 4 and parts[1] == "task" and parts[3] in PROCESS_FILES:
            return PROCESS_FILES[parts[3]]
        return PROCESS_FILES.get(leaf)
    return None


def write_seed(out, target, data, stem=None):
    """Writes `data` as one input of `target`, named after its content (libFuzzer's own naming)."""
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = (stem + "-" if stem else "") + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def procfs_seed(out, name, data, limit=16 << 10):
    write_seed(out, "procfs", name.encode() + b"\n" + data[:limit])


def script(backend, samples):
    """A capture script: `samples` is a list of (wall_ns, [(letter, path, bytes)])."""
    out = [backend.encode() + b"\n"]
    for wall, entries in samples:
        out.append(b"== %d\n" % wall)
        for letter, path, data in entries:
            out.append(b"@@ " + letter.encode() + b" " + path.encode() + b"\n")
            out.append(data)
            if data and not data.endswith(b"\n"):
                out.append(b"\n")
    return b"".join(out)


# --- ttar ---------------------------------------------------------------------------------------------------


def read_ttar(path):
    """({path: bytes} of the files, [paths of the symlinks]) of a ttar archive (format: its README): Lines-counted
    content, NULLBYTE for NUL, a final EOF for no trailing newline, a backslash escaping either word."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    files, links = {}, []
    pending = None
    k = 0
    while k < len(lines):
        line = lines[k]
        k += 1
        if line.startswith(b"Path: "):
            pending = line[6:].decode("utf-8", "replace")
        elif line.startswith(b"SymlinkTo: ") and pending is not None:
            links.append(pending)
            pending = None
        elif line.startswith(b"Lines: ") and pending is not None:
            n = int(line[7:])
            body = lines[k:k + n]
            k += n
            data = bytearray()
            for i, l in enumerate(body):
                newline = True
                if i == n - 1 and l.endswith(b"EOF"):
                    if l.endswith(b"\\EOF"):
                        l = l[:-4] + b"EOF"
                    else:
                        l = l[:-3]
                        newline = False
                l = re.sub(rb"(\\?)NULLBYTE", lambda m: b"NULLBYTE" if m.group(1) else b"\0", l)
                data += l + (b"\n" if newline else b"")
            files[pending] = bytes(data)
            pending = None
    return files, links


def from_ttar(archive, out):
    files, links = read_ttar(archive)
    prefix = "fixtures/proc/"
    proc = {p[len(prefix):]: d for p, d in files.items() if p.startswith(prefix)}
    # A process's fd/ as the agent captures a directory: its names, one a line.
    listings = {}
    for link in links:
        m = re.match(re.escape(prefix) + r"(\d+/fd)/(\w+)$", link)
        if m:
            listings.setdefault(m.group(1), []).append(m.group(2))
    for rel, names in listings.items():
        write_seed(out, "procfs", b"linux/fd\n" + "".join(n + "\n" for n in sorted(names)).encode())
    for rel, data in sorted(proc.items()):
        name = parser_for(rel)
        if name:
            procfs_seed(out, name, data)
    # Every process directory and the system files as one Linux sample, then the same again a second later.
    entries = [("f", "/proc/" + rel, data) for rel, data in sorted(proc.items()) if parser_for(rel)]
    entries += [("d", "/proc/" + rel, "".join(n + "\n" for n in sorted(names)).encode())
                for rel, names in sorted(listings.items())]
    if entries:
        write_seed(out, "interpret", script("linux", [(0, entries), (1_000_000_000, entries)]), "ttar")



# --- live ---------------------------------------------------------------------------------------------------


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def kmsg_records(limit=60):
    """Records of /dev/kmsg as the agent reads them (one per read), without blocking."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    records = []
    try:
        while len(records) < limit:
            try:
                records.append(os.read(fd, 8192))
            except BlockingIOError:
                break
            except OSError:
                continue  # EPIPE: the ring overwrote what we were about to read
    finally:
        os.close(fd)
    return records


def live_procfs(out, pids):
    for rel, name in SYSTEM_FILES.items():
        data = read("/proc/" + rel)
        if data is not None:
            procfs_seed(out, name, data)
    for pid in pids:
        for leaf, name in PROCESS_FILES.items():
            data = read("/proc/%d/%s" % (pid, leaf))
            if data is not None:
                procfs_seed(out, name, data)
        procfs_seed(out, "linux/fd", "".join(n + "\n" for n in sorted(os.listdir("/proc/%d/fd" % pid))).encode())
        procfs_seed(out, "linux/task", "".join(n + "\n" for n in sorted(os.listdir("/proc/%d/task" % pid))).encode())
    for cg in glob.glob("/sys/fs/cgroup/pids.max") + glob.glob("/sys/fs/cgroup/*/pids.max")[:2]:
        procfs_seed(out, "linux/pids.max", read(cg) or b"")
        procfs_seed(out, "linux/pids.current", read(cg.replace("pids.max", "pids.current")) or b"")
    records = kmsg_records()
    if records:
        procfs_seed(out, "linux/kmsg", b"".join(r if r.endswith(b"\n") else r + b"\n" for r in records))


def run_agent(agent, spool, *args):
    subprocess.run([agent, "--interval", "0.5", "--deep-every", "2", "--spool", spool, "--device-id", "seed",
                    "--final-upload-seconds", "0"] + list(args), check=True, stdout=subprocess.DEVNULL)
    return sorted(glob.glob(os.path.join(spool, "*.zst")))


def stream_records(stream):
    """(type, payload) of each frame of a decompressed bundle stream."""
    pos, out = 8, []
    while pos + 5 <= len(stream):
        n = int.from_bytes(stream[pos:pos + 4], "little")
        out.append((stream[pos + 4], stream[pos + 5:pos + 5 + n]))
        pos += 5 + n + 4
    return out


def bundle_samples(bundle, keep):
    """The samples of a bundle (references resolved) as capture-script samples, via the reference decoder;
    `keep(path)` picks the entries."""
    lines = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "fieldbundle.py"), "--resolve", bundle],
                           capture_output=True, check=False).stdout.decode().splitlines()
    samples = []
    letters = {"missing": "m", "denied": "x", "busy": "b", "error": "e"}
    kinds = {"directory": "d", "dir": "d", "link": "l"}
    for line in lines:
        r = json.loads(line)
        if r.get("type") != "sample" or not isinstance(r.get("payload"), dict):
            continue
        entries = []
        for f in r["payload"].get("files", []):
            if not keep(f.get("path", "")):
                continue
            status = f.get("status", "ok")
            data = f.get("data") or {}
            raw = data["utf8"].encode() if "utf8" in data else base64.b64decode(data.get("base64", ""))
            letter = letters.get(status) or kinds.get(f.get("kind", "file"), "f")
            entries.append(small_entry(letter, f["path"], raw if status == "ok" else b""))
        samples.append((r["payload"]["wall_ns"], entries))
    return samples


def small_entry(letter, path, data):
    """An entry as a capture script keeps it: the interpreter reads slabinfo's rows one by one, a dozen do."""
    if path == "/proc/slabinfo":
        data = b"".join(data.splitlines(keepends=True)[:14])
    return (letter, path, data)


def mirror(proc_root, pid, tree):
    """A small proc root under `tree`: this machine's system files (slabinfo cut to a dozen caches) and those of
    one process, as the real agent then reads them."""
    for rel in ["meminfo", "loadavg", "version", "sys/kernel/threads-max", "sys/kernel/pid_max",
                "sys/vm/max_map_count", "sys/fs/file-nr", "slabinfo"]:
        data = read(os.path.join(proc_root, rel))
        if data is None:
            continue
        _, _, data = small_entry("f", "/proc/" + rel, data)
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        with open(os.path.join(tree, rel), "wb") as f:
            f.write(data)
    src, dst = os.path.join(proc_root, str(pid)), os.path.join(tree, str(pid))
    for rel in ["stat", "status", "maps", "smaps_rollup", "limits", "cmdline", "comm", "cgroup"]:
        data = read(os.path.join(src, rel))
        if data is not None:
            os.makedirs(dst, exist_ok=True)
            with open(os.path.join(dst, rel), "wb") as f:
                f.write(data)
    for name in os.listdir(os.path.join(src, "fd")):
        os.makedirs(os.path.join(dst, "fd"), exist_ok=True)
        open(os.path.join(dst, "fd", name), "wb").close()
    for tid in os.listdir(os.path.join(src, "task")):
        os.makedirs(os.path.join(dst, "task", tid), exist_ok=True)
        for rel in ["comm", "stat"]:
            with open(os.path.join(dst, "task", tid, rel), "wb") as f:
                f.write(read(os.path.join(src, "task", tid, rel)) or b"")


def from_bundles(out, bundles, backend, keep, stem=None, limit=32 << 10):
    """Seeds from the bundles the agent wrote; streams and payloads over `limit` bytes are left out (the
    checked-in corpus stays small, and small inputs fuzz fast)."""
    stem = stem or backend
    for b in bundles:
        raw = read(b)
        write_seed(out, "bundle", raw, stem)
        stream = subprocess.run(["zstd", "-dcq", b], capture_output=True, check=True).stdout
        if len(stream) <= limit:
            write_seed(out, "timeline", stream, stem)
        for _, payload in stream_records(stream):
            if len(payload) <= limit // 2:
                write_seed(out, "records", payload, stem)
        samples = bundle_samples(b, keep)
        if samples:
            write_seed(out, "interpret", script(backend, samples[:2]), stem)


def from_live(out, agent):
    work = tempfile.mkdtemp(prefix="field-seeds-")
    try:
        # A process that stays for the whole run, with two threads' worth of files: a shell pipeline's sleep.
        sleeper = subprocess.Popen(["sleep", "30"])
        pids = [1, sleeper.pid, os.getpid()]
        live_procfs(out, pids)
        # The live /proc for two processes; then a small copy of it (one process, a dozen slab caches) whose
        # bundle is a few kB, the size that fuzzes fast.
        linux = run_agent(agent, os.path.join(work, "linux"), "--duration", "1.2",
                          "--pid", "1", "--pid", str(sleeper.pid))
        from_bundles(out, linux, "linux", lambda p: not p.startswith(("/proc/vmstat", "/proc/pressure/")))
        tree = os.path.join(work, "linux-root")
        mirror("/proc", sleeper.pid, tree)
        small = run_agent(agent, os.path.join(work, "linux-small"), "--backend", "linux", "--proc-root", tree,
                          "--sys-root", os.path.join(work, "no-sys"), "--duration", "1.7")
        from_bundles(out, small, "linux", lambda p: True, stem="linux-small")
        sleeper.kill()

        sim_root = os.path.join(work, "sylixos-root")
        sim = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "sylixos-sim", "sylixos_sim.py"),
                                "--root", sim_root, "--scenario", "thread-leak", "--leak-interval", "0.3",
                                "--duration", "6"], stdout=subprocess.DEVNULL)
        deadline = time.time() + 5
        while not os.path.exists(os.path.join(sim_root, "kernel", "objects")) and time.time() < deadline:
            time.sleep(0.1)
        for rel in ["kernel/objects", "kernel/affinity", "version", "kernel/tick", "posix/pnamed", "3/mem",
                    "3/filedesc", "3/cmdline"]:
            data = read(os.path.join(sim_root, rel))
            name = parser_for(rel, sylixos=True)
            if data is not None and name:
                procfs_seed(out, name, data)
        sylixos = run_agent(agent, os.path.join(work, "sylixos"), "--backend", "sylixos", "--proc-root", sim_root,
                            "--duration", "2.2")
        from_bundles(out, sylixos, "sylixos", lambda p: True)
        sim.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    live = sub.add_parser("live", help="seeds from this machine")
    live.add_argument("out")
    live.add_argument("--agent", required=True, help="a fieldagent binary")
    ttar = sub.add_parser("ttar", help="seeds from a procfs ttar archive")
    ttar.add_argument("archive")
    ttar.add_argument("out")
    args = p.parse_args(argv)
    if args.command == "live":
        from_live(args.out, args.agent)
    else:
        from_ttar(args.archive, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
