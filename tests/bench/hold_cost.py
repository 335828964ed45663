#!/usr/bin/env python3
"""What carrying a reputation rule's hold costs a check (api.md 2.15,
"Cost"): on a site with an author its moderators pre-moderate, every check
of an author brings the texts of that hold (its record and the held
comment) in case the rule applies; on a site without hold rules it brings
none. Real binary and redis-server, real HTTP from 16 threads over
keep-alive connections, corpus comments of tests/data with rotating
authors, IPs and threads; the site's pre-moderated author is none of the
checks' authors, so nothing is held. Rounds alternate between the two
(PUT of that author's status, then a wait for the poll), and print the
CPU modgate and Redis spent per check (from /proc), each round's pair and
the medians. docs/benchmarks.md reports it.
Usage: python3 tests/bench/hold_cost.py [--bin build/modgate] [--rounds 10]"""
import argparse
import copy
import http.client
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import CMS_KEY, MOD_KEY, Redis, Service, base_config, make_tmp, no_starter  # noqa: E402


def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "modgate"))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--checks", type=int, default=12000, help="checks per round")
    a = ap.parse_args()
    texts = []
    for name in ("sms", "youtube-dev"):
        with open(os.path.join(HERE, "..", "data", name + ".jsonl")) as f:
            texts += [json.loads(line)["body"] for line in f]
    tmp = make_tmp()
    r = Redis(tmp, aof=False)
    r.start()
    cfg = no_starter(base_config(r.port))
    big = {"capacity": 1e9, "per_minute": 1}
    cfg["sites"]["news"]["rate_limits"] = {k: big for k in ("ip", "ip_prefix", "author", "thread", "site")}
    cfg["sites"]["news"]["api_rate_limit"] = big
    s = Service(os.path.abspath(a.bin), tmp, copy.deepcopy(cfg))
    s.start()
    n = [0]
    lock = threading.Lock()

    def worker(count, tag):
        c = http.client.HTTPConnection("127.0.0.1", s.port)
        for _ in range(count):
            with lock:
                n[0] += 1
                i = n[0]
            doc = {"site": "news", "comment": {"id": "%s-%d" % (tag, i), "body": "%s %d" % (texts[i % len(texts)], i),
                                               "thread_id": "t%d" % (i % 500)},
                   "author": {"name": "reader", "email": "r%d@example.org" % (i % 5000)},
                   "client": {"ip": "10.%d.%d.%d" % (i % 16, i // 16 % 256, i % 250 + 1)}}
            c.request("POST", "/v1/check", json.dumps(doc),
                      {"Authorization": "Bearer " + CMS_KEY, "Content-Type": "application/json"})
            c.getresponse().read()

    def run(tag, count, threads=16):
        ts = [threading.Thread(target=worker, args=(count // threads, tag)) for _ in range(threads)]
        m0, r0 = cpu(s.proc.pid), cpu(r.proc.pid)
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return (cpu(s.proc.pid) - m0) / count * 1e6, (cpu(r.proc.pid) - r0) / count * 1e6

    try:
        run("warm", 4000)
        res = {"no hold rule": [], "a pre-moderated author": []}
        for k in range(a.rounds):
            for mode in res:
                status = "premod" if mode != "no hold rule" else "normal"
                st = s.request("PUT", "/v1/sites/news/authors/nobody", {"status": status}, key=MOD_KEY)[0]
                assert st == 200, st
                time.sleep(0.6)  # every instance's poll (200 ms) has seen it
                res[mode].append(run("%d%s" % (k, status), a.checks))
        for mode, v in res.items():
            print("%-24s modgate us/check median %.1f (%s); Redis %.1f (%s)" % (
                mode, sorted(x[0] for x in v)[len(v) // 2], ", ".join("%.1f" % x[0] for x in v),
                sorted(x[1] for x in v)[len(v) // 2], ", ".join("%.1f" % x[1] for x in v)))
        off, on = res.values()
        for i, what in ((0, "modgate"), (1, "Redis")):
            d = sorted(b[i] - x[i] for x, b in zip(off, on))
            print("paired difference, %s: median %+.1f us (rounds %s)" % (what, d[len(d) // 2],
                                                                        ", ".join("%+.1f" % x for x in d)))
    finally:
        s.stop()
        r.stop()


if __name__ == "__main__":
    main()
