#!/usr/bin/env bash
# The whole benchmark suite, in one run: sluice (on epoll, and on io_uring) side by side
# with libuv, libevent, standalone asio (callbacks and coroutines), nginx (one worker; also
# over HTTPS, bench/tls), a
# hand-written epoll reference and a liburing reference, all from Debian packages; and
# the system calls each makes per message (bench/syscalls.sh). Each suite checks every server's answers
# before it measures; see the script of each for its rules.
#
#   bash bench/run.sh            full: every suite, then docs/bench/README.md (the ratio
#                                table) and docs/bench/summary.png; ~25 min on 2 cores
#   bash bench/run.sh --smoke    CI: every suite in its short mode; no ratio is asserted,
#                                but every server must answer and every byte must check
#   bash bench/run.sh --threads N   the multi-core suite with N loops (default: nproc)
#   bash bench/run.sh --only "echo http"   re-run some suites, then the summary from the
#                                results the others left in build/bench/ (--only summary: none)
# Against an earlier sluice rather than the peers (echo and HTTP, both builds alternating
# in one run): bash bench/compare.sh BASE (see that script).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=full; threads=(); only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode=smoke ;;
    --threads) threads=(--threads "$2"); shift ;;
    --only) only=$2; shift ;;
    *) echo "usage: bash bench/run.sh [--smoke] [--threads N]" >&2; exit 2 ;;
  esac
  shift
done
flag=(); [ $mode = smoke ] && flag=(--smoke)
[ $mode = full ] && { command -v gnuplot >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq gnuplot-nox >/dev/null; }; }

# A suite is bench/NAME/run.sh, or bench/NAME.sh for one without files of its own.
suites=(echo http static tls timers idle compile multicore scaleout proxy instructions ws syscalls)
# shellcheck disable=SC2206 # split on purpose
[ -n "$only" ] && suites=($only)
[ "$only" = summary ] && suites=()
for s in "${suites[@]+"${suites[@]}"}"; do
  echo "=== bench/$s"
  start=$(date +%s)
  script=bench/$s/run.sh; [ -f "$script" ] || script=bench/$s.sh
  if [ "$s" = multicore ]; then
    bash "$script" "${flag[@]}" "${threads[@]}"
  else
    bash "$script" "${flag[@]}"
  fi
  echo "=== bench/$s: $(( $(date +%s) - start )) s"
done
[ $mode = smoke ] && { echo "bench smoke: every suite ran, every server answered, every byte checked"; exit 0; }

# ---- the summary: one ratio per workload and peer, sluice / peer ----
python3 - <<'PY'
import collections, datetime, os, platform, subprocess

rows = collections.OrderedDict()  # workload -> {server: (value, unit, better)}
for suite in ["echo", "http", "tls", "timers", "idle", "compile", "instructions"]:
    with open(f"build/bench/{suite}.tsv") as f:
        for line in f:
            w, server, value, unit, better = line.rstrip("\n").split("\t")
            rows.setdefault(w, {})[server] = (float(value), unit, better)

peers = ["epoll", "liburing", "libuv", "asio", "asio-coro", "libevent", "nginx"]
URING = "sluice io_uring"  # the server name bench/echo and bench/http give sluice on io_uring
aims = {  # (workload prefix, peer) -> aim for sluice/peer, from issue 5
    ("echo", "libuv"): (">=", 1.2), ("echo", "asio"): (">=", 1.2), ("echo", "epoll"): (">=", 0.9),
    ("http", "libuv"): (">=", 1.2), ("http", "asio"): (">=", 1.2), ("http", "nginx"): (">=", 1.0),
    ("http", "epoll"): (">=", 0.9), ("idle", "libuv"): ("<=", 1.0), ("compile", "asio"): ("<=", 0.3),
}

def ratio(w, p, mine="sluice"):
    if p not in rows[w] or mine not in rows[w]:
        return None
    return rows[w][mine][0] / rows[w][p][0] if rows[w][p][0] else None

# Issue 17's aims, as (workload prefixes, peer, op, target) on sluice io_uring / peer:
# rates at least 1.2x the epoll reference's and asio's, CPU per message at most 0.8x
# theirs, on 64 B x 100 and x 1,000 and both HTTP workloads; at one connection no worse
# than 0.95x sluice on epoll.
uring_many = ("echo 64 B x 100", "echo 64 B x 1000", "http keep-alive", "http pipelined x16")
uring_aims = [(uring_many, p, op, t) for p in ("epoll", "asio") for op, t in ((">=", 1.2), ("cpu<=", 0.8))]
uring_aims.append((("echo 64 B x 1",), "sluice", ">=", 0.95))

cpu = ""
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
gxx = subprocess.run(["g++", "-dumpfullversion"], capture_output=True, text=True).stdout.strip()
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
today = datetime.datetime.utcnow().strftime("%Y-%m-%d")

out = []
out.append("# Benchmarks: sluice against libuv, asio, libevent, nginx and a hand-written epoll server\n")
out.append(f"Measured {today} on {os.cpu_count()} cores ({cpu}), Linux {platform.release()}, g++ {gxx}, "
           f"sluice {rev}. All peers are Debian's packages. Regenerate everything with `bash bench/run.sh` "
           "(about 25 minutes); each suite's own page has its raw numbers, method and caveats.\n")
out.append("Each cell is **sluice / peer**. For throughput (msg/s, req/s) above 1.00 means sluice is faster; "
           "for costs (ns, bytes, seconds, instructions) below 1.00 means sluice is cheaper. "
           "Servers run one thread pinned to core 0, load generators on core 1, medians of 3 rotated rounds.\n")
head = "| workload | sluice | " + " | ".join(peers) + " |"
out.append(head)
out.append("|---|---:|" + "---:|" * len(peers))
for w, cells in rows.items():
    v, unit, better = cells["sluice"]
    sv = f"{v:,.0f} {unit}" if v >= 100 else f"{v:.2f} {unit}"
    line = f"| {w} ({'higher' if better == 'higher' else 'lower'} is better) | {sv} |"
    for p in peers:
        r = ratio(w, p)
        line += f" {r:.2f} |" if r is not None else " |"
    out.append(line)
out.append("")
out.append("![summary](summary.png)\n")

uring_rows = [w for w in rows if URING in rows[w]]
if uring_rows:
    uring_peers = ["sluice"] + peers
    out.append("## sluice on io_uring\n")
    out.append("Each cell is **sluice io_uring / peer**, read as above; the first column is sluice on "
               "its epoll backend. The liburing reference is to io_uring what the epoll reference is "
               "to epoll (bench/echo/uring_echo.c).\n")
    out.append("| workload | sluice io_uring | " + " | ".join(uring_peers) + " |")
    out.append("|---|---:|" + "---:|" * len(uring_peers))
    for w in uring_rows:
        v, unit, better = rows[w][URING]
        sv = f"{v:,.0f} {unit}" if v >= 100 else f"{v:.2f} {unit}"
        line = f"| {w} ({'higher' if better == 'higher' else 'lower'} is better) | {sv} |"
        for p in uring_peers:
            r = ratio(w, p, URING)
            line += f" {r:.2f} |" if r is not None else " |"
        out.append(line)
    out.append("")
    out.append("### The aims of issue 17, against this run\n")
    out.append("Throughput aims hold only where the load generator is not the ceiling; the CPU "
               "aims hold everywhere. The epoll backend's aim (at least 1.0x the epoll reference) "
               "is the sluice / epoll column of the first table.\n")
    out.append("| aim | workload | measured | met |")
    out.append("|---|---|---:|---|")
    for prefixes, peer, op, target in uring_aims:
        for prefix in prefixes:
            w = prefix + (", server CPU" if op == "cpu<=" else "")
            if w not in rows:
                continue
            r = ratio(w, peer, URING)
            if r is None:
                continue
            what = "CPU per message" if op == "cpu<=" else "rate"
            cmp = "<=" if op == "cpu<=" else op
            met = r <= target if cmp == "<=" else r >= target
            name = "sluice epoll" if peer == "sluice" else peer
            out.append(f"| io_uring/{name} {what} {cmp} {target} | {w} | {r:.2f} | {'yes' if met else '**no**'} |")
    out.append("")

out.append("## The aims of issue 5, against this run\n")
out.append("Throughput aims compare rates (sluice / peer). The same aims are also shown for the "
           "server's CPU time per message or request, as peer / sluice (1.2 = sluice spends "
           "1/1.2 of the peer's CPU), because on this 2-core machine one load-generator thread "
           "is often the ceiling for every efficient server, and then the rates cannot differ.\n")
out.append("| aim | workload | measured | met |")
out.append("|---|---|---:|---|")
for w in rows:
    for (prefix, peer), (op, target) in aims.items():
        if not w.startswith(prefix) or "instructions" in w:
            continue
        r = ratio(w, peer)
        if r is None:
            continue
        label = f"sluice/{peer} {op} {target}"
        if w.endswith("server CPU"):
            if op != ">=":
                continue
            r, label = 1 / r, f"{peer}/sluice CPU {op} {target}"
        met = r >= target if op == ">=" else r <= target
        out.append(f"| {label} | {w} | {r:.2f} | {'yes' if met else '**no**'} |")
out.append("")
out.append("Pages: [echo](echo.md), [http](http.md), [timers](timers.md), [idle memory](idle.md), "
           "[compile time and size](compile.md), [multi-core](multicore.md), [scale-out](scaleout.md), [L7 proxies](proxy.md), "
           "[instructions](instructions.md), [WebSocket](ws.md), [system calls](syscalls.md), "
           "[static files](static.md), [HTTPS](tls.md).\n")
with open("docs/bench/README.md", "w") as f:
    f.write("\n".join(out))

# Chart: the throughput and cost ratios against libuv, asio and the epoll reference, and
# sluice io_uring against the epoll reference.
with open("build/bench/summary.dat", "w") as f:
    for w in rows:
        vals = [ratio(w, p) for p in ["epoll", "libuv", "asio", "nginx"]] + [ratio(w, "epoll", URING)]
        f.write('"%s" %s\n' % (w.replace(" instructions/", " instr/"),
                              " ".join("%.3f" % v if v is not None else "NaN" for v in vals)))
print("\n".join(out))
PY
gnuplot <<GP
set terminal pngcairo size 1400,700
set output "docs/bench/summary.png"
set title "sluice / peer, $(date -u +%Y-%m-%d), $(nproc) cores: above 1 is faster for rates, below 1 is cheaper for costs"
set style data histograms
set style histogram clustered gap 1
set style fill solid border -1
set key outside right
set xtics rotate by -35 font ",9"
set logscale y
set yrange [0.01:20]
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 2
plot "build/bench/summary.dat" using 2:xtic(1) title "vs epoll reference", "" using 3 title "vs libuv", "" using 4 title "vs asio", "" using 5 title "vs nginx", "" using 6 title "io_uring vs epoll reference"
GP
echo "wrote docs/bench/README.md and docs/bench/summary.png"
