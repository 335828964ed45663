#!/usr/bin/env python3
"""What reading reputation costs the check script, in Redis's own time:
batches of 32 checks run by EVALSHA on a private redis-server, Redis's
commandstats per check, three cases interleaved over 7 rounds: no
reputation stored; every author and network with 30 days of counts and
the rules off (no day read); the same with the rules that read the
window on (max_rejection_rate, approved_to_trust; window 7 days).
docs/benchmarks.md reports it. Usage: python3 tests/bench/rep_cost.py"""
import os
import random
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Redis, lua_scripts  # noqa: E402

tmp = tempfile.mkdtemp()
r = Redis(tmp, aof=False); r.start()
src = lua_scripts()["CHECK_LUA"]
sha = r.cmd("SCRIPT", "LOAD", src)
day = int(time.time()) // 86400
hist = "".join(" %d:%d:%d:%d" % (day - d, d % 3, d % 5 == 0, d % 11 == 0) for d in range(30))


def populate(site, n):
    items = []
    for i in range(n):
        items += ["a:au%d" % i, "n 30 6 3" + hist, "n:10.%d.%d.0/24" % (i // 256 % 256, i % 256), "n 40 8 2" + hist]
    for i in range(0, len(items), 2000):
        r.cmd("HSET", "mg:{%s}:rep" % site, *items[i:i+2000])


def batch(site, start, n, trust):
    t = int(time.time()); e, w = t // 3600, t // 600
    p = "mg:{%s}:" % site
    keys = [p + "rl:3600:%d" % (e - 2 + i) for i in range(4)] + [p + "dups:600:%d" % (w - 2 + i) for i in range(4)] + [p + "rep"]
    args = [3600, e] + [1e9, 1] * 6 + [600, w, 0, "0", 86400000, 86400000, 86400000] + trust + [n]
    for j in range(start, start + n):
        cid = "c%d" % j
        keys.append(p + "dec:" + cid)
        au, net = "au%d" % (j % 5000), "10.%d.%d.0/24" % (j % 5000 // 256 % 256, j % 5000 % 256)
        args += ["1", 600000, "10.0.0.%d" % (j % 250), au, '{"decision":"accept","rate_limit":', ',"body_fp":"00"}', 3600, 3,
                 "", 0, "0", "", "fp%d" % j, "12345", net, "0-a-", 0, "", "", "",
                 "ip:10.0.0.%d" % (j % 250), "ip_prefix:" + net, "author:" + au, "thread:t%d" % (j % 500), "site:all"]
    return keys, args


def run(site, trust, rounds):
    r.cmd("CONFIG", "RESETSTAT")
    base = random.randint(0, 10**9)
    for k in range(rounds):
        keys, args = batch(site, base + k * 32, 32, trust)
        r.cmd("EVALSHA", sha, len(keys), *keys, *args)
    st = r.cmd("INFO", "commandstats")
    st = st.decode() if isinstance(st, bytes) else st
    m = re.search(r"cmdstat_evalsha:calls=(\d+),usec=(\d+)", st)
    return int(m.group(2)) / (int(m.group(1)) * 32)


def main():
    populate("rep", 5000)
    res = {"none": [], "rules off": [], "rules on": []}
    off, on = [0, "0", 7, 3], [3, "0.3", 7, 3]
    for _ in range(7):
        res["none"].append(run("norep", off, 300))
        res["rules off"].append(run("rep", off, 300))
        res["rules on"].append(run("rep", on, 300))
    for k, v in res.items():
        v.sort()
        print("%-10s us per check (median of 7): %.1f  (%s)" % (k, v[3], ", ".join("%.1f" % x for x in v)))


if __name__ == "__main__":
    try:
        main()
    finally:
        r.stop()
