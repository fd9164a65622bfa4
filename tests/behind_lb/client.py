#!/usr/bin/env python3
"""Sends COUNT keep-alive GETs through a load balancer, one at a time, and tallies
which backend answered each (the balancer names it in a response header). After
KILL_AT requests it runs the KILL command once (the test kills one backend there).
Prints a JSON summary. Usage: client.py PORT HEADER COUNT KILL_AT 'shell command'"""
import http.client
import json
import subprocess
import sys
import time

port, header, count, kill_at, kill_cmd = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                          int(sys.argv[4]), sys.argv[5])
before, after, failures, errors = {}, {}, 0, []
conn = None
started = time.monotonic()
for i in range(count):
    if i == kill_at:
        subprocess.run(kill_cmd, shell=True, check=True)
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/plaintext")
        res = conn.getresponse()
        body = res.read()
        if res.status != 200 or body != b"Hello, World!":
            raise RuntimeError(f"status {res.status} body {body[:40]!r}")
        who = res.getheader(header, "?")
        tally = before if i < kill_at else after
        tally[who] = tally.get(who, 0) + 1
    except Exception as e:  # a lost request: count it, reconnect, go on
        failures += 1
        errors.append(f"request {i}: {e}")
        if conn is not None:
            conn.close()
        conn = None
print(json.dumps({"before_kill": before, "after_kill": after, "failures": failures,
                  "errors": errors[:5], "seconds": round(time.monotonic() - started, 2)}))
