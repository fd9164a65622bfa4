#!/usr/bin/env bash
# examples/game_tick on loopback: a 60 Hz server for 6 s while a client plays 64
# players for 5 s. Checks that the ticks are on time while traffic flows:
#   - 360 ticks in 6 s of wall time (deadlines are start + n * period: no drift);
#   - at most 2% of ticks start more than half a period late, p99 lateness < 8 ms,
#     at most 3 ticks skipped (bounds for a loaded 2-core CI machine that still catch
#     a loop that blocks in the backend, sleeps a whole period or drifts);
#   - the server hears all 64 players and applies >= 90% of the inputs sent;
#   - every player receives >= 80% of the snapshots of the ticks it was connected for,
#     in order.
# Usage: run.sh GAME_TICK_BIN
set -euo pipefail
bin=$1
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$(mktemp -d)
"$bin" server --port "$port" --hz 60 --seconds 6 >"$out/server" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null || true; rm -rf "$out"' EXIT
sleep 0.3
"$bin" client --port "$port" --players 64 --seconds 5 >"$out/client" 2>&1
wait $spid
cat "$out/server" "$out/client"
python3 - "$out/server" "$out/client" <<'PY'
import re, sys
def fields(path):
    line = [l for l in open(path) if l.startswith(("ticks=", "players="))][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}
s, c = fields(sys.argv[1]), fields(sys.argv[2])
ran = float(re.search(r"server ran ([\d.]+) s", open(sys.argv[1]).read()).group(1))
checks = [
    ("360 ticks", s["ticks"] == 360),
    (f"in 6 s of wall time (ran {ran:.2f} s)", 5.9 <= ran <= 6.3),
    (f"late by > half a period: {s['late_half']:.0f} of 360 (<= 7)", s["late_half"] <= 7),
    (f"p99 lateness {s['p99_us']:.0f} us (< 8000)", s["p99_us"] < 8000),
    (f"ticks skipped {s['missed']:.0f} (<= 3)", s["missed"] <= 3),
    (f"players heard by the server {s['players']:.0f} (64)", s["players"] == 64),
    (f"inputs applied {s['inputs']:.0f} of {c['inputs']:.0f} sent (>= 90%)",
     s["inputs"] >= 0.9 * c["inputs"]),
    (f"players that got snapshots {c['heard']:.0f} (64)", c["heard"] == 64),
    (f"worst player's share of snapshots {c['min_ratio']:.3f} (>= 0.8)", c["min_ratio"] >= 0.8),
    (f"snapshots out of order {c['out_of_order']:.0f} (0)", c["out_of_order"] == 0),
]
failed = [name for name, ok in checks if not ok]
for name, ok in checks:
    print(("PASS " if ok else "FAIL ") + name)
print(f"game_tick: tick lateness p50 {s['p50_us']:.0f} us, p99 {s['p99_us']:.0f} us, "
      f"max {s['max_us']:.0f} us; tick work p99 {s['work_p99_us']:.0f} us")
print(f"game_tick: {len(checks) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
PY
