#!/bin/sh
# fieldcapture.sh: the agent's capture, for devices where nothing may be installed. Plain POSIX shell and the
# applets BusyBox has (cat, ls, date, sleep, wc, df, gzip where present): runs under BusyBox sh (ash) and dash.
#
# Every interval it copies the files the agent would read (Linux: the capture plan's cheap files; every
# --deep-every intervals the deep ones too; SylixOS: the kernel/objects set) into one append-only text file,
# framed so that it can be cut at any point (docs/import.md, "The capture format"). Then, on a workstation:
#
#     fieldctl import fieldcapture.txt --out bundles/ && fieldctl analyze bundles/
#
# The output is bounded: when the file reaches half of --max-bytes it becomes FILE.1 (gzipped when gzip is
# there), replacing the previous FILE.1, and the next segment records what was dropped. Capture stops, saying
# why, when the file system has less than --min-free-bytes left.
set -u

interval=5
deep_every=10
duration=""
out=fieldcapture.txt
max_bytes=16777216
min_free=1048576
proc=/proc
device=""
pids=""
match=""

usage() {
    cat <<'EOF'
usage: fieldcapture.sh [options]

Copies what fieldagent would read from procfs into one append-only text file, for fieldctl import.

options:
  --interval SECONDS     time between samples, whole seconds (default 5)
  --deep-every N         read the deep files (maps, limits, thread names, slabinfo) every N samples (default 10)
  --duration SECONDS     stop after this long (default: until interrupted)
  --out FILE             the capture file (default ./fieldcapture.txt); FILE.1 or FILE.1.gz holds the segment before
  --max-bytes N          at most about N bytes on disk, FILE and FILE.1 together (default 16M)
  --min-free-bytes N     stop when the file system has less than N bytes free (default 1M)
  --pid PID              capture only this process (repeatable; default every process)
  --match TEXT           capture only processes whose name (comm) contains TEXT
  --device-id ID         device name in the bundles (default: as the agent's, /etc/machine-id's first 12
                         characters, else the host name)
  --proc-root PATH       where procfs is mounted (default /proc)
  --help                 this text

Sizes accept K, M and G (powers of 1024). SIGTERM or SIGINT stops the capture within one interval.
EOF
}

die() { echo "fieldcapture: $*" >&2; exit 64; }
whole() { case $2 in '' | *[!0-9]*) die "$1 wants a whole number, not '$2'" ;; esac; }
# A size with an optional K, M or G (powers of 1024), into $sized.
size() {
    case $2 in
    *[Kk]) n=${2%?} m=1024 ;;
    *[Mm]) n=${2%?} m=1048576 ;;
    *[Gg]) n=${2%?} m=1073741824 ;;
    *) n=$2 m=1 ;;
    esac
    whole "$1" "$n"
    sized=$((n * m))
}

while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --interval | --deep-every | --duration | --out | --max-bytes | --min-free-bytes | --pid | --match | --device-id | --proc-root)
        [ $# -ge 2 ] || die "$1 needs a value (see --help)"
        case $1 in
        --interval) whole "$1" "$2"; interval=$2 ;;
        --deep-every) whole "$1" "$2"; deep_every=$2 ;;
        --duration) whole "$1" "$2"; duration=$2 ;;
        --out) out=$2 ;;
        --max-bytes) size "$1" "$2"; max_bytes=$sized ;;
        --min-free-bytes) size "$1" "$2"; min_free=$sized ;;
        --pid) whole "$1" "$2"; pids="$pids $2" ;;
        --match) match=$2 ;;
        --device-id) device=$2 ;;
        --proc-root) proc=$2 ;;
        esac
        shift 2 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ "$interval" -ge 1 ] || die "the interval must be at least 1 second"
[ "$deep_every" -ge 1 ] || die "--deep-every must be at least 1"
[ "$max_bytes" -ge 65536 ] || die "--max-bytes must be at least 65536"
[ -d "$proc" ] || die "$proc is not a directory"
if [ -z "$device" ]; then
    # As the agent names a device: the machine id's first 12 characters.
    device=$(cat /etc/machine-id 2>/dev/null) && device=$(printf '%.12s' "$device") || device=""
    [ -n "$device" ] || device=$(hostname 2>/dev/null) || device=""
    [ -n "$device" ] || device=$(uname -n)
fi
case $device in *[!A-Za-z0-9._-]* | '' | .*) die "a device id is A-Z a-z 0-9 . _ - and does not start with a dot, not '$device'" ;; esac
if [ -r "$proc/kernel/objects" ]; then backend=sylixos; else backend=linux; fi
boot=$(cat "$proc/sys/kernel/random/boot_id" 2>/dev/null) || boot=""
[ -n "$boot" ] || boot=unknown
: >>"$out" || die "cannot write $out"

# One entry: a line naming it, its bytes, a newline, a line saying how the read went. An entry that is not there
# or may not be read has only its first line, with the status.
entry() { # path kind
    name=/proc${1#"$proc"}
    if [ ! -e "$1" ]; then
        printf '#@field file %s %s missing\n' "$name" "$2"
        return
    fi
    if [ ! -r "$1" ]; then
        printf '#@field file %s %s denied\n' "$name" "$2"
        return
    fi
    printf '#@field file %s %s\n' "$name" "$2"
    if [ "$2" = dir ]; then ls -1 "$1" 2>/dev/null; else cat "$1" 2>/dev/null; fi
    rc=$?
    if [ $rc -eq 0 ]; then printf '\n#@field end ok\n'; else printf '\n#@field end error\n'; fi
}

selected() { # pid dir
    if [ -n "$pids" ]; then
        case " $pids " in *" $1 "*) ;; *) return 1 ;; esac
    fi
    if [ -n "$match" ]; then
        comm=$(cat "$2/comm" 2>/dev/null) || return 1
        case $comm in *"$match"*) ;; *) return 1 ;; esac
    fi
    return 0
}

linux_sample() { # deep
    for f in meminfo loadavg vmstat pressure/memory sys/kernel/threads-max sys/kernel/pid_max sys/vm/max_map_count sys/fs/file-nr; do
        entry "$proc/$f" file
    done
    [ "$1" = 1 ] && entry "$proc/slabinfo" file
    for d in "$proc"/[0-9]*; do
        pid=${d##*/}
        case $pid in *[!0-9]*) continue ;; esac
        selected "$pid" "$d" || continue
        entry "$d/stat" file
        entry "$d/status" file
        entry "$d/fd" dir
        entry "$d/task" dir
        if [ "$1" = 1 ]; then
            for f in maps smaps_rollup limits cmdline cgroup; do entry "$d/$f" file; done
            for t in "$d"/task/[0-9]*; do [ -e "$t/comm" ] && entry "$t/comm" file; done
        fi
    done
}

sylixos_sample() { # deep
    for f in kernel/objects version kernel/affinity; do entry "$proc/$f" file; done
    for d in "$proc"/[0-9]*; do
        pid=${d##*/}
        case $pid in *[!0-9]*) continue ;; esac
        selected "$pid" "$d" || continue
        entry "$d/mem" file
        entry "$d/filedesc" file
        [ "$1" = 1 ] && entry "$d/cmdline" file
    done
}

segment_start() { # what was dropped, if anything
    printf '#@field capture 1 device %s boot %s backend %s interval %s deep-every %s\n' \
        "$device" "$boot" "$backend" "$interval" "$deep_every" >>"$out"
    [ -n "$1" ] && printf '#@field lost %s\n' "$1" >>"$out"
}

# Bytes free where the capture goes (df -k: the fourth column of its last line), or empty when df cannot say.
free_bytes() {
    df -k "$out" 2>/dev/null | {
        avail=""
        while read -r _ _ _ a _; do avail=$a; done
        case $avail in '' | *[!0-9]*) ;; *) echo $((avail * 1024)) ;; esac
    }
}

size_of() { n=$(wc -c <"$1" 2>/dev/null) && echo $((n)); }

rotate() {
    lost=""
    for old in "$out.1" "$out.1.gz"; do
        [ -e "$old" ] && lost="segment of samples $prev_first-$prev_last, $(size_of "$old") bytes, rotated out"
    done
    rm -f "$out.1" "$out.1.gz"
    mv "$out" "$out.1"
    if command -v gzip >/dev/null 2>&1 && gzip -c "$out.1" >"$out.1.gz.part" 2>/dev/null; then
        mv "$out.1.gz.part" "$out.1.gz" && rm -f "$out.1"
    else
        rm -f "$out.1.gz.part"
    fi
    prev_first=$seg_first
    prev_last=$((seq - 1))
    seg_first=$seq
    segment_start "$lost"
}

stopping=0
trap 'stopping=1' INT TERM
start=$(date +%s)
seq=0
seg_first=0
prev_first=0
prev_last=0
segment_start ""
while [ $stopping = 0 ]; do
    now=$(date +%s)
    if [ -n "$duration" ] && [ $((now - start)) -ge "$duration" ]; then break; fi
    free=$(free_bytes)
    if [ -n "$free" ] && [ "$free" -lt "$min_free" ]; then
        echo "fieldcapture: stopping: $free bytes free where $out is, under --min-free-bytes $min_free" >&2
        exit 75
    fi
    deep=0
    [ $((seq % deep_every)) -eq 0 ] && deep=1
    {
        printf '#@field sample %s %s\n' "$seq" "$now"
        if [ $backend = sylixos ]; then sylixos_sample $deep; else linux_sample $deep; fi
        printf '#@field sample-end %s\n' "$seq"
    } >>"$out"
    seq=$((seq + 1))
    size=$(size_of "$out")
    [ -n "$size" ] && [ "$size" -ge $((max_bytes / 2)) ] && rotate
    [ $stopping = 0 ] || break
    # Sleep to the next multiple of the interval from the start (a slow sample shortens the wait).
    next=$((start + seq * interval))
    now=$(date +%s)
    # In the foreground: SIGTERM then stops the capture within one interval. (`sleep & wait` would stop it at
    # once, but BusyBox's wait never returns when the shell was started with SIGCHLD blocked.)
    [ $next -gt "$now" ] && sleep $((next - now))
done
echo "fieldcapture: $seq samples in $out" >&2
