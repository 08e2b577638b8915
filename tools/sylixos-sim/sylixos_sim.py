#!/usr/bin/env python3
"""SylixOS procfs simulator.

Keeps a directory (the "proc root", what /proc is on a SylixOS device) in the exact SylixOS procfs
formats and evolves it by scenario, so the SylixOS backend can be run on Linux:

    python3 tools/sylixos-sim/sylixos_sim.py --root /tmp/syl --scenario thread-leak --duration 30

Formats follow the SylixOS 2.3.x kernel source byte for byte (fs/procFs/procKernel/procKernel.c,
loader/src/loader_vpprocfs.c); see /work/shared/reference/sylixos-procfs.md and README.md beside
this file. Every file is written atomically (temporary name in the same directory, then
os.replace), so a reader never sees a partial file. Standard library only.
"""

import argparse
import json
import os
import random
import signal
import sys
import threading
import time

SCENARIOS = ("thread-leak", "event-leak", "steady", "exhausted-before")

# Row order of /proc/kernel/objects on an SMP build (no `threadvar` row on SMP).
OBJECT_ORDER = ("event", "eventset", "heap", "msgqueue", "partition", "rms", "thread", "timer",
                "dpma", "threadpool")
DEFAULT_TOTALS = {"event": 5000, "eventset": 500, "heap": 52, "msgqueue": 500, "partition": 50,
                  "rms": 32, "thread": 500, "timer": 50, "dpma": 2, "threadpool": 2}
# Constant (used, max-used) of the pools no scenario touches; from the published capture.
FIXED_USAGE = {"eventset": (0, 0), "heap": (1, 1), "partition": (8, 8), "rms": (0, 0),
               "timer": (2, 2), "dpma": (0, 0), "threadpool": (0, 0)}

TICK_HZ = 1000
TID_BASE = 0x4010000          # _MakeObjectId(thread class, node 1, index 0): what `ts` shows
NCPUS = 2
SEMAPHORES_AT_START = 30      # event slots held by semaphores (message queues add theirs)
HEAP_PER_THREAD = 4096        # bytes of process heap per created pthread (TCB extension, attr, ...)
HEAP_PER_MSGQUEUE = 576       # bytes of process heap per message queue (8 x 64-byte messages + head)

VERSION_TEXT = ("SylixOS kernel version: 2.3.8 Code name: Enterprise BSP: simulated\n"
                "(compile time: Oct 10 2022 10:00:00)\n"
                "GCC:4.9.3\n")


class Thread:
    __slots__ = ("name", "pid", "cpu", "slot")

    def __init__(self, name, pid, cpu, slot):
        self.name, self.pid, self.cpu, self.slot = name, pid, cpu, slot


class Process:
    def __init__(self, pid, name, cmdline, static, heap, mmap, fds):
        self.pid, self.name, self.cmdline = pid, name, cmdline
        self.static, self.heap, self.mmap = static, heap, mmap
        self.fds = fds                      # {fd: name or None}


class Sim:
    def __init__(self, args):
        self.args = args
        self.rnd = random.Random(args.seed)
        self.root = os.path.abspath(args.root)
        self.totals = dict(DEFAULT_TOTALS)
        for pool, opt in (("thread", args.thread_total), ("event", args.event_total),
                          ("msgqueue", args.msgqueue_total)):
            if opt is not None:
                self.totals[pool] = opt
        self.slots = [None] * self.totals["thread"]    # the kernel's TCB table
        self.used = {p: u for p, (u, _) in FIXED_USAGE.items()}
        self.peak = {p: m for p, (_, m) in FIXED_USAGE.items()}
        self.semaphores = SEMAPHORES_AT_START
        self.msgqueues = 8
        self.extra_msgqueues = 0            # the steady wiggle
        self.leaked_msgqueues = 0
        self.processes = {}
        self.last_written = {}              # path -> bytes, to skip unchanged rewrites
        self._baseline()

    # ---------------------------------------------------------------- state
    def _new_thread(self, name, pid, cpu=None):
        """Creates a thread in the lowest free TCB slot; returns None when the pool is dry."""
        for i, t in enumerate(self.slots):
            if t is None:
                self.slots[i] = Thread(name, pid, cpu, i)
                self._sync_counts()
                return self.slots[i]
        return None

    def _delete_thread(self, thread):
        self.slots[thread.slot] = None
        self._sync_counts()

    def threads(self):
        return [t for t in self.slots if t is not None]

    def _sync_counts(self):
        self.used["thread"] = len(self.threads())
        self.used["msgqueue"] = self.msgqueues + self.extra_msgqueues + self.leaked_msgqueues
        self.used["event"] = self.semaphores + self.used["msgqueue"]
        for pool in ("thread", "msgqueue", "event"):
            self.peak[pool] = max(self.peak.get(pool, 0), self.used[pool])

    def _boot_thread(self, name, pid, cpu=None):
        if self._new_thread(name, pid, cpu) is None:
            sys.exit("sylixos_sim: --thread-total %d is below the threads alive at boot"
                     % self.totals["thread"])

    def _baseline(self):
        for cpu in range(NCPUS):
            self._boot_thread("t_idle%d" % cpu, 0, cpu)
        for name in ("t_itimer", "t_isrdefer", "t_except", "t_log", "t_power", "t_hotplug",
                     "t_reclaim", "t_sync"):
            self._boot_thread(name, 0)
        self.processes[1] = Process(1, "init", "/sbin/init", 98304, 65536, 0,
                                    {0: "/dev/ttyS0", 1: "/dev/ttyS0", 2: "/dev/ttyS0"})
        self._boot_thread("init", 1)
        self._boot_thread("t_initsig", 1)
        self.processes[3] = Process(3, "app", "/apps/app/app -c /etc/app.conf", 241664, 1048576,
                                    262144, {0: "/dev/ttyS0", 1: "/dev/ttyS0", 2: "/dev/ttyS0",
                                             3: "/etc/app.conf", 4: "/var/log/app.log",
                                             5: None})
        self._boot_thread("app", 3, 1)
        self._boot_thread("app_rx", 3)
        self._boot_thread("app_tx", 3)
        self._boot_thread("job", 3)          # the one steady wiggles around
        self._sync_counts()
        # Peaks since boot: a little above today's level (room for the steady wiggle).
        for pool in ("thread", "msgqueue", "event"):
            self.peak[pool] = self.used[pool] + 2
        for pool, total in self.totals.items():
            if self.used[pool] > total:
                sys.exit("sylixos_sim: --%s-total %d is below the %d %s objects in use at boot"
                         % (pool, total, self.used[pool], pool))
            self.peak[pool] = min(self.peak[pool], total)
        if self.args.scenario == "exhausted-before":
            self.peak["thread"] = self.totals["thread"]

    # ---------------------------------------------------------------- rendering
    def render_objects(self):
        out = ["object      total    used     max-used\n"]
        for pool in OBJECT_ORDER:
            u, m, t = self.used[pool], self.peak[pool], self.totals[pool]
            assert 0 <= u <= m <= t, (pool, u, m, t)
            out.append("%-12s%-9d%-9d%d\n" % (pool, t, u, m))
        return "".join(out)

    def render_affinity(self):
        out = ["      NAME         TID    PID  CPU\n", "---------------- ------- ----- ---\n"]
        for t in self.threads():
            tid = TID_BASE + t.slot
            if t.cpu is None:
                out.append("%-16s %7x %5d   *\n" % (t.name, tid, t.pid))
            else:
                out.append("%-16s %7x %5d %3d\n" % (t.name, tid, t.pid, t.cpu))
        return "".join(out)

    def render_tick(self, now_epoch, uptime):
        secs, frac = int(uptime), uptime - int(uptime)
        return ("tick rate    : %d hz\n" % TICK_HZ
                + "tick         : %d\n" % int(uptime * TICK_HZ)
                + "monotonic    : %d:%02d:%02d.%09d\n" % (secs // 3600, secs // 60 % 60, secs % 60,
                                                          int(frac * 1e9))
                + "realtime UTC : %s\n" % time.asctime(time.gmtime(now_epoch))
                + "realtime LCL : %s\n" % time.asctime(time.localtime(now_epoch)))

    @staticmethod
    def render_pnamed():
        # POSIX named objects (fs/procFs/procPosix/procPosix.c). Static: the leaked queues of
        # event-leak are kernel message queues (API_MsgQueueCreate), which are not named.
        rows = (("SEM", 1, "init_ready"), ("SEM", 2, "app_lock"), ("MQ", 2, "app_cmd"))
        return ("TYPE  OPEN               NAME\n"
                "---- ------ --------------------------------\n"
                + "".join("%-4s %6d %s\n" % r for r in rows))

    @staticmethod
    def render_mem(p):
        return ("static memory : %d Bytes\n"
                "heap memory   : %d Bytes\n"
                "mmap memory   : %d Bytes\n"
                "total memory  : %d Bytes" % (p.static, p.heap, p.mmap, p.static + p.heap + p.mmap))

    @staticmethod
    def render_filedesc(p):
        return "FD NAME\n" + "".join("%d %s\n" % (fd, name if name is not None else "(unknown)")
                                     for fd, name in sorted(p.fds.items()))

    # ---------------------------------------------------------------- writing
    def write(self, rel, text, mode=0o444):
        data = text.encode("ascii")
        if self.last_written.get(rel) == data:
            return
        path = os.path.join(self.root, rel)
        d, base = os.path.split(path)
        tmp = os.path.join(d, ".%s.tmp%d" % (base, os.getpid()))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        self.last_written[rel] = data

    def prepare_root(self):
        os.makedirs(os.path.join(self.root, "kernel"), exist_ok=True)
        os.makedirs(os.path.join(self.root, "posix"), exist_ok=True)
        for name in os.listdir(self.root):        # leftovers of an earlier run
            full = os.path.join(self.root, name)
            if name.isdigit() and int(name) not in self.processes and os.path.isdir(full):
                for f in os.listdir(full):
                    os.unlink(os.path.join(full, f))
                os.rmdir(full)
        for d in (self.root, os.path.join(self.root, "kernel"), os.path.join(self.root, "posix")):
            for name in os.listdir(d):
                if name.startswith(".") and ".tmp" in name:
                    os.unlink(os.path.join(d, name))
        for pid in self.processes:
            os.makedirs(os.path.join(self.root, str(pid)), mode=0o750, exist_ok=True)
        self.write("version", VERSION_TEXT)
        self.write("posix/pnamed", self.render_pnamed())

    def write_all(self, now_epoch, uptime):
        self.write("kernel/objects", self.render_objects())
        self.write("kernel/affinity", self.render_affinity())
        self.write("kernel/tick", self.render_tick(now_epoch, uptime))
        for pid, p in self.processes.items():
            self.write("%d/cmdline" % pid, p.cmdline, 0o440)
            self.write("%d/mem" % pid, self.render_mem(p), 0o440)
            self.write("%d/filedesc" % pid, self.render_filedesc(p), 0o440)

    # ---------------------------------------------------------------- scenarios
    def leak_once(self):
        """One leak event; returns False once creation fails (pool dry)."""
        app = self.processes[3]
        if self.args.scenario == "thread-leak":
            if self._new_thread("worker", 3) is None:
                return False
            app.heap += HEAP_PER_THREAD
            return True
        # event-leak: a message queue takes a msgqueue slot and an event slot
        if (self.used["msgqueue"] >= self.totals["msgqueue"]
                or self.used["event"] >= self.totals["event"]):
            return False
        self.leaked_msgqueues += 1
        self._sync_counts()
        app.heap += HEAP_PER_MSGQUEUE
        return True

    def wiggle(self):
        """steady / exhausted-before: used values move by +/-1 around constant levels."""
        app = self.processes[3]
        if self.args.scenario == "steady":
            jobs = [t for t in self.threads() if t.pid == 3 and t.name == "job"]
            want = 1 + self.rnd.choice((-1, 0, 1))
            while len(jobs) < want and self._new_thread("job", 3) is not None:
                jobs.append(None)
            while len(jobs) > want:
                self._delete_thread([t for t in self.threads() if t.pid == 3 and t.name == "job"][-1])
                jobs.pop()
        self.semaphores = SEMAPHORES_AT_START + self.rnd.choice((-1, 0, 1))
        self.extra_msgqueues = self.rnd.choice((0, 1))
        self._sync_counts()
        app.heap = 1048576 + self.rnd.choice((-1, 0, 1)) * 256

    def forecast(self, start_epoch):
        sc, iv = self.args.scenario, self.args.leak_interval
        info = {"scenario": sc, "start_epoch": start_epoch}
        for pool in ("thread", "event", "msgqueue"):
            info["%s_total" % pool] = self.totals[pool]
            info["%ss_used_at_start" % pool] = self.used[pool]
        if sc == "thread-leak":
            n = self.totals["thread"] - self.used["thread"]
            info.update(pool="thread", leak_interval=iv, leak_pid=3, leak_thread_name="worker",
                        exhaustion_epoch=start_epoch + n * iv)
        elif sc == "event-leak":
            n_mq = self.totals["msgqueue"] - self.used["msgqueue"]
            n_ev = self.totals["event"] - self.used["event"]
            pool = "msgqueue" if n_mq <= n_ev else "event"
            info.update(pool=pool, leak_interval=iv, leak_pid=3,
                        exhaustion_epoch=start_epoch + min(n_mq, n_ev) * iv)
        else:
            info.update(pool=None, exhaustion_epoch=None)
            info["exhausted_pools"] = [p for p in OBJECT_ORDER if self.peak[p] == self.totals[p]]
        return info


def parse_args(argv):
    ap = argparse.ArgumentParser(description="SylixOS procfs simulator (writes a proc root).")
    ap.add_argument("--root", required=True, help="proc root directory (created)")
    ap.add_argument("--scenario", choices=SCENARIOS, default="steady")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds, then exit 0")
    ap.add_argument("--tick", type=float, default=0.5, help="seconds between updates")
    ap.add_argument("--leak-interval", type=float, default=1.0,
                    help="seconds between leaked objects (leak scenarios)")
    ap.add_argument("--thread-total", type=int)
    ap.add_argument("--event-total", type=int)
    ap.add_argument("--msgqueue-total", type=int)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.tick <= 0 or a.leak_interval <= 0 or a.duration < 0:
        ap.error("--tick and --leak-interval must be > 0, --duration >= 0")
    for name in ("thread_total", "event_total", "msgqueue_total"):
        v = getattr(a, name)
        if v is not None and not 1 <= v < 65535:
            ap.error("--%s must be in 1..65534" % name.replace("_", "-"))
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sim = Sim(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    sim.prepare_root()
    start_mono, start_epoch = time.monotonic(), time.time()
    uptime0 = 3600.0 + sim.rnd.uniform(0, 3600)   # the device booted a while ago
    sim.write_all(start_epoch, uptime0)
    print(json.dumps(sim.forecast(start_epoch)), flush=True)

    leaking = args.scenario in ("thread-leak", "event-leak")
    leaks_done = 0
    next_tick = args.tick
    end = args.duration
    while not stop.is_set():
        elapsed = time.monotonic() - start_mono
        if elapsed >= end:
            break
        changed = False
        if leaking:
            due = int(elapsed / args.leak_interval + 1e-9)
            while leaks_done < due and sim.leak_once():
                leaks_done += 1
                changed = True
            dry = [p for p in ("thread", "msgqueue", "event") if sim.used[p] >= sim.totals[p]]
            if dry:                         # from now on every creation fails; the app runs on
                leaking = False
                print("sylixos_sim: %s pool exhausted at +%.3f s (epoch %.3f, %d leaked); "
                      "creation now fails" % (dry[0], elapsed, start_epoch + elapsed, leaks_done),
                      file=sys.stderr, flush=True)
        if elapsed >= next_tick:
            if args.scenario in ("steady", "exhausted-before"):
                sim.wiggle()
            while next_tick <= elapsed:
                next_tick += args.tick
            changed = True
        if changed:
            sim.write_all(start_epoch + elapsed, uptime0 + elapsed)
        wake = min(next_tick, end)
        if leaking:
            wake = min(wake, (leaks_done + 1) * args.leak_interval)
        stop.wait(max(0.0, wake - (time.monotonic() - start_mono)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
