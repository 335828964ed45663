#!/usr/bin/env python3
"""make bench: modgate's /v1/check against the ceiling server, same run,
same Redis, same machine. Prints checks/s, p50/p99 at 1 and 64 connections
and modgate's ratio to the ceiling's `json` and `rl` modes.

The ceiling (../shared/bench/ceiling, a minimal libmicrohttpd server doing
only the unavoidable work of a check) is built from source when that folder
exists; otherwise only modgate's own figures are printed.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import Cluster, Redis, free_port, lua_scripts, sha256, wait_until  # noqa: E402
import corpus_split  # noqa: E402

KEY = "bench-cms-key-0123456789abcdef"
ADMIN = "bench-admin-key-0123456789abcdef"
CAP_KEY = "bench-captcha-key-0123456789abcdef"
MODQ_CMS = "bench-modq-cms-key-0123456789abcdef"
MODQ_MOD = "bench-modq-mod-key-0123456789abcdef"
MODQS_CMS = "bench-modqs-cms-key-0123456789abcdef"
MODQS_MOD = "bench-modqs-mod-key-0123456789abcdef"
QUEUE_N = 100000


def filter_speed(binary, tmp, runs=3):
    """The Bayes filter alone, one core, in `modgate eval`: learning and
    classifying comments per second (tokenizer included), on each corpus's
    seed-1337 split, `runs` times (this machine drifts: all are printed)."""
    print("Bayes filter in `modgate eval --speed` (one core; learn = tokenize + fingerprint + count, "
          "classify = tokenize + look up + combine):")
    print()
    print("| corpus | learn/s (runs) | classify/s (runs) | AUC | recall at FPR <= 1% |")
    print("|---|---|---|---|---|")
    worst = {"learn": [], "classify": []}
    for name in ("sms", "youtube-dev"):
        tr = os.path.join(tmp, name + ".train.jsonl")
        te = os.path.join(tmp, name + ".test.jsonl")
        corpus_split.write_split(os.path.join(ROOT, "tests", "data", name + ".jsonl"), tr, te)
        rs = []
        for _ in range(runs):
            out = subprocess.run([binary, "eval", "--train", tr, "--test", te, "--speed"], check=True,
                                 capture_output=True, text=True).stdout
            rs.append(json.loads(out))
        lr = sorted(r["learn_per_s"] for r in rs)
        cr = sorted(r["classify_per_s"] for r in rs)
        worst["learn"].append(median(lr))
        worst["classify"].append(median(cr))
        print("| %s | %s | %s | %.4f | %.3f |" % (name, ", ".join("%d" % x for x in lr),
                                                ", ".join("%d" % x for x in cr), rs[0]["auc"],
                                                rs[0]["recall_at_fpr_1pct"]))
    print("\ngoal: >= 100,000 comments/s learning and classifying; medians: learn %s, classify %s\n" % (
        " / ".join("%d" % x for x in worst["learn"]), " / ".join("%d" % x for x in worst["classify"])))


def lua_script(path, sites=("bench",)):
    """A wrk script that rotates real corpus bodies, client IPs, authors,
    threads and comment ids, so rate limits and duplicates behave as with
    real traffic (each body is made unique with a counter), and the sites,
    each with its own CMS key (one by default: every check is the bench
    site's)."""
    bodies = []
    for name in ("sms.jsonl", "youtube-dev.jsonl"):
        with open(os.path.join(ROOT, "tests", "data", name), encoding="utf-8") as f:
            for line in f:
                bodies.append(json.loads(line)["body"])
    with open(path, "w") as f:
        f.write("local bodies = {\n")
        for b in bodies:
            s = json.dumps(b)[1:-1]  # JSON string content, pure ASCII
            f.write("[==[%s]==],\n" % s)
        f.write("}\n")
        f.write("local sites = {%s}\n" % ", ".join("{%s, %s}" % (json.dumps(x), json.dumps(site_keys(x)[0]))
                                                    for x in sites))
        f.write(r'''
-- Requests are built in init(), not per request: the client's own cost per
-- request should be as small as for the ceiling's static body, so the
-- figures compare the servers, not the Lua in wrk.
-- 'tid' is a global on purpose: setup() runs in wrk's main Lua state and
-- thread:set() sets the global of that name in each thread's own state,
-- where init() reads it. (A file-level local would stay 0 in every
-- thread: all threads would send the same ids, and half the checks would
-- be replays.)
tid = 0
local reqs, i = {}, 0
function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
end
function init(args)
  local tag = args[1] or "r"
  local count = tonumber(args[2] or "50000")
  local headers = {}
  for k, s in ipairs(sites) do
    headers[k] = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. s[2]}
  end
  for n = 1, count do
    local b = bodies[(n + tid * 7919) % #bodies + 1]
    local ip = string.format("10.%d.%d.%d", tid % 256, math.floor(n / 256) % 256, n % 256)
    local body = string.format(
      '{"site":"%s","comment":{"id":"%s-%d-%d","thread_id":"a%d","body":"%s #%d"},' ..
      '"author":{"name":"reader %d","email":"r%d@example.org"},"client":{"ip":"%s"}}',
      sites[n % #sites + 1][1], tag, tid, n, n % 500, b, n, n % 5000, n % 5000, ip)
    reqs[n] = wrk.format("POST", "/v1/check", headers[n % #sites + 1], body)
  end
end
request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
''')


def run_wrk(url, script, conns, threads, secs, args=(), cwd=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--latency", "-s", script, url]
    if args:
        cmd += ["--"] + list(args)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=secs + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(errs.group(1)) if errs else 0,
            "sockerr": sock.group(1) if sock else ""}


def build_ceiling(src, tmp):
    out = os.path.join(tmp, "ceiling")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmicrohttpd", "jansson", "libsodium",
                            "hiredis"], capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-pthread", "-o", out, os.path.join(src, "srv.c")] + flags + ["-lm"],
                   check=True)
    return out


# The ceiling's `rl` mode with modgate's own check script in place of its
# one-bucket script: the same Redis work per check as modgate (API bucket,
# five buckets, duplicate list, decision record), done the ceiling's way
# (one synchronous round trip per request, a thread each). It tells what
# modgate's own overhead costs, apart from the Redis work the features
# need. Made by patching a copy of srv.c; skipped if srv.c has changed.
SAME_WORK_EVAL = r"""/* Build EVALSHA argv for modgate's check script (patched in by make bench). */
struct evargs {
    const char *argv[80];
    size_t len[80];
    int argc;
    char k[11][96], ip[40], pre[48], au[32], th[32], f[6][96], id[32];
};
static _Atomic unsigned long long g_id;
static void build_eval(struct evargs *e, const char *ipin)
{
    (void)ipin;
    unsigned long long n = atomic_fetch_add(&g_id, 1) + 1;
    snprintf(e->id, sizeof e->id, "w%llu-%llu", (unsigned long long)now_ms(), n);
    snprintf(e->ip, sizeof e->ip, "10.%llu.%llu.%llu", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    snprintf(e->pre, sizeof e->pre, "10.%llu.%llu.0/24", (n >> 16) & 255, (n >> 8) & 255);
    snprintf(e->au, sizeof e->au, "au%llu", n % 5000);
    snprintf(e->th, sizeof e->th, "a%llu", n % 500);
    snprintf(e->k[0], 96, "mg:{benchw}:dec:%s", e->id);
    snprintf(e->k[1], 96, "%s", e->id); /* the duplicate fingerprint: new each time */
    for (int i = 0; i < 4; i++)
        snprintf(e->k[2 + i], 96, "mg:{benchw}:rl:60000000000:%d", i - 2);
    for (int i = 0; i < 4; i++)
        snprintf(e->k[6 + i], 96, "mg:{benchw}:dups:3600:%d", i - 2);
    snprintf(e->k[10], 96, "mg:{benchw}:rep");
    snprintf(e->f[0], 96, "api:bench-cms");
    snprintf(e->f[1], 96, "ip:%s", e->ip);
    snprintf(e->f[2], 96, "ip_prefix:%s", e->pre);
    snprintf(e->f[3], 96, "author:%s", e->au);
    snprintf(e->f[4], 96, "thread:%s", e->th);
    snprintf(e->f[5], 96, "site:all");
    static const char head[] = "{\"request_id\":\"abcdef12-123\",\"site\":\"benchw\",\"comment_id\":\"c\","
                               "\"decision\":\"accept\",\"score\":0.1,\"reasons\":[],\"rate_limit\":";
    static const char tail[] = ",\"degraded\":false,\"replayed\":false,\"body_fp\":\"0123456789abcdef0123456789abcdef\"}";
    int a = 0;
#define A(x) (e->argv[a] = (x), e->len[a] = strlen(e->argv[a]), a++)
    A("EVALSHA"); A(g_sha); A("10");
    for (int i = 2; i < 11; i++) A(e->k[i]); /* bucket and duplicate epochs, reputation */
    A(e->k[0]);
    A("60000000000"); A("0");
    for (int i = 0; i < 6; i++) { A("1000000000"); A("0.016666666666667"); } /* bucket slots 0-5 */
    A("3600"); A("0");
    A("0"); A("0"); A("0"); A("0"); A("0"); /* no held-queue cap (nothing is held here) */
    A("3"); A("0"); A("7"); A("3"); /* trust: the defaults */
    A("1"); /* a batch of one check */
    A("1"); A("3600000"); A(e->ip); A(e->au); A(head); A(tail);
    A("604800"); A("3"); A(""); A("0"); A("0"); A(""); A(e->k[1]); A("012345"); A(e->pre); A("0-a-"); A("0"); A(""); A(""); A("");
    for (int i = 0; i < 6; i++) A(e->f[i]);
#undef A
    e->argc = a;
}

"""
SAME_WORK_RESULT = r"""/* Parse modgate's check reply (patched in by make bench). */
static int eval_result(redisReply *r, int *allowed, long long *remaining)
{
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) /* the batch's one answer */
        r = r->element[0];
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    *allowed = strcmp(r->element[0]->str, "ok") == 0;
    *remaining = r->elements > 2 && r->element[2]->type == REDIS_REPLY_INTEGER ? r->element[2]->integer : -1;
    return 0;
}

"""


def check_lua():
    """modgate's check script as Redis gets it (service/redis/lua/check.lua
    with its lib/ helpers in front, as the build assembles it)."""
    return lua_scripts()["CHECK_LUA"]


def same_work_ceiling(src, tmp):
    """(binary, folder) of the ceiling with modgate's check script, or None."""
    out = os.path.join(tmp, "ceiling-same-work")
    shutil.copytree(src, out)
    with open(os.path.join(out, "srv.c")) as f:
        c = f.read()
    marks = [("/* Build EVALSHA argv; bufs must outlive the call. */", "struct hmargs {"),
             ("/* Parse {allowed, remaining}; returns 0 on success. */", "/* Naive Bayes-ish")]
    if any(a not in c or b not in c for a, b in marks) or c.count("8, e.argv, e.len") != 2 \
            or c.count("8, e->argv, e->len") != 1 or "#include <stdatomic.h>" not in c:
        return None
    for (a, b), new in zip(marks, (SAME_WORK_EVAL, SAME_WORK_RESULT)):
        c = c[:c.index(a)] + new + c[c.index(b):]
    c = c.replace("8, e.argv, e.len", "e.argc, e.argv, e.len").replace("8, e->argv, e->len", "e->argc, e->argv, e->len")
    with open(os.path.join(out, "srv.c"), "w") as f:
        f.write(c)
    lua = check_lua()
    with open(os.path.join(out, "bucket.lua"), "w") as f:
        f.write(lua)
    return build_ceiling(out, out), out


def start(cmd, port, cwd=None, env=None):
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import socket

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return p.poll() is not None and "exited"
    r = wait_until(up, 15)
    if r != True or p.poll() is not None:  # noqa: E712
        raise RuntimeError("%s did not start: %s" % (cmd[0], p.stderr.read().decode()[-2000:]))
    return p


def stop(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def captcha_key(tmp):
    path = os.path.join(tmp, "captcha.key")
    with open(path, "w") as f:
        f.write(os.urandom(32).hex())
    return path


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def pow_costs(bin_path):
    """pow_bench's in-process figures: what pow_verify and pow_challenge
    cost, with and without the CPU's SHA instructions."""
    exe = os.path.join(os.path.dirname(os.path.abspath(bin_path)), "tests", "pow_bench")
    if not os.path.exists(exe):
        return None
    out = subprocess.run([exe, "300000"], capture_output=True, text=True, check=True).stdout
    return {k: float(v) for k, v in (line.split() for line in out.splitlines())}


def captcha_rates(url_base, mg, redis_pid, check_url, check_script, tmp, secs, bin_path):
    """Challenges issued and solutions verified per second, and modgate's
    CPU per request for each against a check's, measured the same way;
    then what verifying costs in process, against a check's CPU."""
    import base64
    import hashlib
    import struct
    import urllib.request
    get = os.path.join(tmp, "get.lua")
    with open(get, "w") as f:
        f.write("wrk.method = 'GET'\n")
    with urllib.request.urlopen(url_base + "/v1/captcha/challenge?site=cap") as r:
        ch = json.loads(r.read())
    p = ch["parameters"]
    for c in range(10 ** 7):
        dk = hashlib.pbkdf2_hmac("sha256", bytes.fromhex(p["nonce"]) + struct.pack(">I", c),
                                 bytes.fromhex(p["salt"]), p["cost"], 32)
        if dk.hex().startswith(p["keyPrefix"]):
            break
    resp = base64.b64encode(json.dumps({"challenge": ch, "solution": {"counter": c, "derivedKey": dk.hex(),
                                                                       "time": 10}}).encode()).decode()
    post = os.path.join(tmp, "verify.lua")
    with open(post, "w") as f:
        f.write("wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
                "wrk.body = [==[%s]==]\n" % json.dumps({"secret": CAP_KEY, "response": resp}))
    runs = [("check (as above)", check_url, check_script, ("cpu", str(max(20000, 15000 * secs)))),
            ("challenge issued", url_base + "/v1/captcha/challenge?site=cap", get, ()),
            ("solution verified", url_base + "/v1/captcha/verify", post, ())]
    out, redis_us = {}, {}
    for name, u, sc, args in runs:
        c0, r0 = cpu_s(mg.pid), cpu_s(redis_pid)
        r = run_wrk(u, sc, 64, 2, secs, args)
        out[name] = (r["rps"], (cpu_s(mg.pid) - c0) / (r["rps"] * secs) * 1e6, r["non2xx"])
        redis_us[name] = (cpu_s(redis_pid) - r0) / (r["rps"] * secs) * 1e6
    print("\ncaptcha, at 64 connections (one %d s run each; the first solution is redeemed, the rest are" % secs)
    print("verified in full and refused as replays; challenges at cost %d, each one PBKDF2 derivation)\n" % p["cost"])
    print("| request | per s | modgate CPU per request (us) | non-2xx |")
    print("|---|---|---|---|")
    for name, (rps, us, bad) in out.items():
        print("| %s | %.0f | %.1f | %d |" % (name, rps, us, bad))
    v, c = out["solution verified"][1], out["check (as above)"][1]
    rc = redis_us["check (as above)"]
    print("\na verify request costs %.1f us of modgate CPU (HTTP, JSON, the Redis redemption and the reply),"
          " %.0f%% of a check's %.1f us" % (v, 100 * v / c, c))
    pc = pow_costs(bin_path)
    if pc is None:
        print("pow_bench not built: in-process verify cost skipped")
        return
    us = pc["verify_us"]
    print("verifying one solution in process (pow_verify: base64, layout, two HMACs; SHA instructions %s):"
          % ("used" if pc["sha_instructions"] else "absent"))
    print("  %.2f us = %.2f%% of a check's %.1f us of modgate CPU, %.2f%% with Redis's %.1f us per check counted"
          % (us, 100 * us / c, c, 100 * us / (c + rc), rc))
    print("  without SHA instructions: %.2f us (%.2f%%); a payload in another layout (JSON parser): %.2f us;"
          " issuing a challenge: %.1f us (cost %d)" % (pc["verify_portable_us"], 100 * pc["verify_portable_us"] / c,
                                                      pc["verify_general_us"], pc["challenge_us"], p["cost"]))
    print("goal: verifying under 1%% of a check: %s" % ("met" if us < 0.01 * c else "NOT met"))


def fill_queue(port, site, cms_key, first, last, threads=4):
    """Hold comments first..last-1 of 'site' through /v1/check, with
    keep-alive connections from a few threads."""
    import http.client
    import threading

    def work(lo, hi):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        h = {"Content-Type": "application/json", "Authorization": "Bearer " + cms_key}
        for n in range(lo, hi):
            body = json.dumps({"site": site, "comment": {"id": "q%d" % n, "thread_id": "t%d" % (n % 1000),
                                                         "body": "Comment number %d on the budget debate" % n},
                               "author": {"id": "a%d" % (n % 20000)},
                               "client": {"ip": "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255)}})
            conn.request("POST", "/v1/check", body, h)
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
        conn.close()
    step = (last - first + threads - 1) // threads
    ts = [threading.Thread(target=work, args=(first + i * step, min(last, first + (i + 1) * step)))
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def moderation_rates(port, mg, redis, tmp, secs):
    """Listing and acting on the moderation queue: a site with 1,000 held
    and one with QUEUE_N, whose first pages are timed in alternation once
    both are full (a page must cost the same), a page from the middle, a
    filtered page, and actions."""
    import base64
    url = "http://127.0.0.1:%d" % port
    gets = {}
    for name, key in (("small", MODQS_MOD), ("big", MODQ_MOD)):
        gets[name] = os.path.join(tmp, "modq-get-%s.lua" % name)
        with open(gets[name], "w") as f:
            f.write("wrk.method = 'GET'\nwrk.headers['Authorization'] = 'Bearer %s'\n" % key)
    act = os.path.join(tmp, "modq-act.lua")
    with open(act, "w") as f:
        f.write(r'''
tid = 0
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
local n = 0
local h = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer ''' + MODQ_MOD + r'''"}
request = function()
  n = n + 1
  -- thread t takes ids t, t + 4, t + 8, ...: every action a comment of its own
  return wrk.format("POST", "/v1/sites/modq/comments/q" .. ((n - 1) * 4 + tid - 1) .. "/action", h,
                    '{"action":"approve"}')
end
''')
    runs = []

    def measure(name, u, script, keep=True):
        c0 = cpu_s(mg.pid)
        r = run_wrk(u, script, 16, 2 if "act" not in script else 4, secs)
        if keep:
            runs.append((name, r["rps"], (cpu_s(mg.pid) - c0) / (r["rps"] * secs) * 1e6, r["p50"], r["non2xx"]))
        return r["rps"]
    fill_queue(port, "modqs", MODQS_CMS, 0, 1000)
    fill_queue(port, "modq", MODQ_CMS, 0, QUEUE_N)
    held = redis.cmd("ZCARD", "mg:{modq}:q:held")
    small_page = url + "/v1/sites/modqs/queue?limit=50"
    page = url + "/v1/sites/modq/queue?limit=50"
    measure("warm-up", page, gets["big"], keep=False)
    small, big = [], []
    for rnd in range(2):  # in alternation: both meet the same minutes of this machine
        small.append(measure("first page of 50, 1,000 held (round %d)" % (rnd + 1), small_page, gets["small"]))
        big.append(measure("first page of 50, %d held (round %d)" % (held, rnd + 1), page, gets["big"]))
    mid = redis.cmd("ZRANGE", "mg:{modq}:q:held", held // 2, held // 2, "WITHSCORES")
    cur = base64.urlsafe_b64encode(("%s %s" % (mid[1], mid[0])).encode()).decode().rstrip("=")
    deep = measure("page of 50 from the middle (cursor)", page + "&cursor=" + cur, gets["big"])
    measure("a thread's page (filter: about 100 held)", page + "&thread=t7", gets["big"])
    measure("approve (one comment each: learn ham, audit, feed)", url, act)
    print("\nmoderation queue, 16 connections (%d s runs; %d held when the listing was timed)\n" % (secs, held))
    print("| request | per s | modgate CPU per request (us) | p50 (ms) | non-2xx |")
    print("|---|---|---|---|---|")
    for name, rps, us, p50, bad in runs:
        print("| %s | %.0f | %.1f | %.3f | %d |" % (name, rps, us, p50, bad))
    print("\nfirst page with %d held / with 1,000 held = %.2f (rounds %.2f, %.2f); middle page / first page = %.2f "
          "(goal: a page costs O(page size), so both near 1)" % (held, sum(big) / sum(small), big[0] / small[0],
                                                                 big[1] / small[1], deep / big[-1]))


def latency_rounds(servers, a, cbin, ceiling):
    """One connection, one request at a time, as a CMS posts comments:
    modgate and the ceiling's rl mode in alternation, 'a.rounds' rounds
    of 'a.secs' s each; every round's p50 and p99 and their medians."""
    res = {name: [] for name in servers}
    for rnd in range(a.rounds):
        for name, (u, sc, cwd, args) in servers.items():
            if cwd and cbin:
                subprocess.run([cbin, "--seed", "--redis-port", str(a.redis_port)], cwd=ceiling, check=True,
                               capture_output=True)
            res[name].append(run_wrk(u, sc, 1, 1, a.secs, args("l%d" % rnd), cwd=cwd))
    print("one connection, %d interleaved rounds of %d s\n" % (a.rounds, a.secs))
    print("| server | checks/s | p50 (ms), by round | p99 (ms), by round | median p50 / p99 |")
    print("|---|---|---|---|---|")
    for name, rs in res.items():
        print("| %s | %.0f | %s | %s | %.3f / %.3f |" % (
            name, median([r["rps"] for r in rs]), ", ".join("%.3f" % r["p50"] for r in rs),
            ", ".join("%.3f" % r["p99"] for r in rs), median([r["p50"] for r in rs]), median([r["p99"] for r in rs])))
    if "ceiling rl" in res:
        p99r = [m["p99"] / c["p99"] for m, c in zip(res["modgate"], res["ceiling rl"])]
        p50r = [m["p50"] / c["p50"] for m, c in zip(res["modgate"], res["ceiling rl"])]
        print("\nmodgate / ceiling rl at 1 connection: p50 %.2f, p99 %.2f (rounds: %s); goal: p99 <= 1.5 and < 0.5 ms"
              % (median(p50r), median(p99r), ", ".join("%.2f" % x for x in p99r)))


def site_keys(site):
    """(CMS key, admin key) of a site: KEY and ADMIN for the bench site,
    keys of their own for the cluster comparison's (a key serves one site)."""
    if site == "bench":
        return KEY, ADMIN
    return "bench-cms-key-%s-0123456789abcdef" % site, "bench-admin-key-%s-0123456789abcdef" % site


def bench_site(big, site="bench"):
    """A site's settings as the bench site has them (its keys, buckets
    'big', words)."""
    cms, admin = site_keys(site)
    return {"keys": [{"id": site + "-cms", "role": "cms", "sha256": sha256(cms)},
                     {"id": site + "-admin", "role": "admin", "sha256": sha256(admin)}],
            "rate_limits": {k: big for k in ("ip", "ip_prefix", "author", "thread", "site")},
            "api_rate_limit": big,
            "words": {"blocked": ["viagra", "casino bonus"], "suspect": ["bitcoin", "forex"]}}


def cluster_sites(cluster, per_master=2):
    """Site names whose hash tag {site} falls on each master of 'cluster'
    'per_master' times (by CLUSTER SLOTS), so that every master gets an
    equal share of the checks."""
    owner = {}
    for lo, hi, m, *_ in cluster.nodes[0].cmd("CLUSTER", "SLOTS"):
        owner.update({s: int(m[1]) for s in range(lo, hi + 1)})
    sites, per = [], {}
    for i in range(10000):
        name = "bench%d" % i
        port = owner[Cluster.slot("{%s}" % name)]
        if per.get(port, 0) < per_master:
            per[port] = per.get(port, 0) + 1
            sites.append(name)
        if len(sites) == per_master * cluster.nmasters:
            return sites, [owner[Cluster.slot("{%s}" % x)] for x in sites]
    raise RuntimeError("no sites found for every master")


def check_once(port, site):
    """One check of 'site', its JSON answer (to see it is not degraded)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = {"site": site, "comment": {"id": "probe-%s" % site, "thread_id": "p", "body": "A probe comment"},
            "author": {"name": "probe", "email": "probe@example.org"}, "client": {"ip": "192.0.2.1"}}
    c.request("POST", "/v1/check", json.dumps(body),
              {"Authorization": "Bearer " + site_keys(site)[0], "Content-Type": "application/json"})
    r = c.getresponse()
    out = (r.status, json.loads(r.read()))
    c.close()
    return out


def cluster_bench(a):
    """issue 21 point 6: checks/s with one Redis and with a Redis Cluster
    of 3 masters (no replicas), the same modgate binary and settings,
    measured in alternation in this run; Redis and modgate CPU per check
    for each; then the scale-up on paper from the measured Redis CPU per
    check. On a machine with fewer cores than masters + modgate + wrk the
    ratio shows what routing costs, not what more masters bring."""
    tmp = tempfile.mkdtemp(prefix="modgate-bench-cluster-")
    procs = []
    # No persistence for either, as in the main part.
    single = Redis(tmp, aof=False, name="single")
    cluster = Cluster(tmp, masters=3, replicas=0, aof=False, name="cluster")
    try:
        single.start()
        cluster.start()
        masters = cluster.nodes[:cluster.nmasters]
        sites, owners = cluster_sites(cluster)
        # The bench's wrk script, given all the sites: it builds its
        # requests up front and gives request n the site n mod 6, so every
        # connection's consecutive checks go round the sites and each
        # master gets a third of the checks (two sites each), at the same
        # client cost per request as the main part's one-site script.
        script = os.path.join(tmp, "check-sites.lua")
        lua_script(script, sites)
        big = {"capacity": 1e9, "per_minute": 1}  # as in the main part
        setups = {}
        for name, rcfg, nodes in (("single Redis", {"url": "redis://127.0.0.1:%d/0" % single.port}, [single]),
                                  ("cluster, 3 masters", {"cluster": {"nodes": cluster.seeds()}}, masters)):
            d = os.path.join(tmp, "mg-%d" % len(setups))
            os.makedirs(d)
            port = free_port()
            cfg = {"listen": "127.0.0.1:%d" % port, "log_level": "warn", "redis": rcfg,
                   "sites": {s: bench_site(big, s) for s in sites}}
            cfg_path = os.path.join(d, "bench.json")
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
            env = dict(os.environ)
            env.pop("MODGATE_REDIS_URL", None)
            env.pop("MODGATE_LISTEN", None)
            env["MODGATE_SPOOL_DIR"] = d  # each its own journal
            for s in sites:  # every site's model learnt from both corpora, as in the main part
                for corpus in ("sms", "youtube-dev"):
                    subprocess.run([os.path.abspath(a.bin), "learn", "--config", cfg_path, "--site", s,
                                    os.path.join(ROOT, "tests", "data", corpus + ".jsonl")], check=True, env=env,
                                   capture_output=True)
            mg = start([os.path.abspath(a.bin), "serve", "--config", cfg_path], port, env=env)
            procs.append(mg)

            def models_ready(port=port):
                import http.client
                for s in sites:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    c.request("GET", "/v1/sites/%s/model" % s,
                              headers={"Authorization": "Bearer " + site_keys(s)[1]})
                    m = json.loads(c.getresponse().read())
                    c.close()
                    if not (m.get("loaded") and m.get("opinion")):
                        return False
                return True
            assert wait_until(models_ready, 60), "%s: the sites' Bayes models did not load" % name
            for s in sites:
                st, r = check_once(port, s)
                assert st == 200 and r.get("degraded") is False, (name, s, st, r)
            url = "http://127.0.0.1:%d/v1/check" % port
            run_wrk(url, script, 64, 2, 3, ("warm", "40000"))  # as the main part warms up
            setups[name] = {"url": url, "mg": mg, "nodes": nodes}
        per_thread = str(max(20000, 15000 * a.secs))
        res = {name: [] for name in setups}
        node_cpu = [0.0] * len(masters)
        for rnd in range(a.rounds):
            # Each round both, in turn, the order swapped every round: a slow
            # minute of this shared machine hits both alike.
            order = list(setups) if rnd % 2 == 0 else list(setups)[::-1]
            for name in order:
                su = setups[name]
                m0 = cpu_s(su["mg"].pid)
                r0 = [cpu_s(n.proc.pid) for n in su["nodes"]]
                r = run_wrk(su["url"], script, 64, 2, a.secs, ("c%d" % rnd, per_thread))
                n = r["rps"] * a.secs
                rd = [cpu_s(x.proc.pid) - y for x, y in zip(su["nodes"], r0)]
                r["mg_us"] = (cpu_s(su["mg"].pid) - m0) / n * 1e6
                r["redis_us"] = sum(rd) / n * 1e6
                if su["nodes"] is masters:
                    node_cpu = [x + y for x, y in zip(node_cpu, rd)]
                res[name].append(r)
        cores = os.cpu_count()
        by_port = {}
        for x, o in zip(sites, owners):
            by_port.setdefault(o, []).append(x)
        print("\nsingle Redis against a Redis Cluster of 3 masters (no replicas; neither persists): the same modgate")
        print("binary and settings, %d sites, each request the next site's (master :port: its sites: %s)"
              % (len(sites), "; ".join(":%d: %s" % (o, ", ".join(xs)) for o, xs in by_port.items())))
        print("/v1/check at 64 connections; median of %d rounds of %d s in alternation; wrk, modgate and every"
              % (a.rounds, a.secs))
        print("Redis on the same %d cores\n" % cores)
        print("| Redis | checks/s at 64 conns (rounds) | p50 / p99 (ms) | Redis CPU per check (us) "
              "| modgate CPU per check (us) | non-2xx |")
        print("|---|---|---|---|---|---|")
        med = {}
        for name, rs in res.items():
            med[name] = {k: median([x[k] for x in rs]) for k in ("rps", "p50", "p99", "redis_us", "mg_us")}
            mm = med[name]
            print("| %s | %.0f (%s) | %.3f / %.3f | %.1f | %.1f | %d |" % (
                name, mm["rps"], ", ".join("%.0f" % x["rps"] for x in rs), mm["p50"], mm["p99"], mm["redis_us"],
                mm["mg_us"], sum(x["non2xx"] for x in rs)))
        s1, cl = med["single Redis"], med["cluster, 3 masters"]
        ratios = [c["rps"] / s["rps"] for c, s in zip(res["cluster, 3 masters"], res["single Redis"])]
        ratio = median(ratios)
        print("\nratio cluster / single, checks/s = %.2f (rounds: %s)" % (ratio, ", ".join("%.2f" % x for x in ratios)))
        tot = sum(node_cpu) or 1
        print("the masters' shares of the cluster's Redis CPU: %s (Redis CPU: the three masters' together)" % ", ".join(
            "%.0f%% (:%d)" % (100 * x / tot, n.port) for x, n in zip(node_cpu, masters)))
        R, Rc, M = s1["redis_us"], cl["redis_us"], cl["mg_us"]
        one, onec = 1e6 / R, 1e6 / Rc
        print("\non paper: a check costs Redis %.1f us of CPU (single Redis, measured above), so one Redis core"
              % R)
        print("carries about %.0f checks/s; N masters on N cores of their own carry about N times that, 3 masters"
              % one)
        print("about %.0f checks/s (%.0f at the cluster's own %.1f us per check above, where each master saw a third"
              % (3 * one, 3 * onec, Rc))
        print("of the checks, in smaller batches), until modgate's own CPU is the limit: at %.1f us of modgate CPU"
              % M)
        print("per check (cluster, above) one modgate core carries about %.0f checks/s, so %.0f checks/s need about"
              % (1e6 / M, 3 * one))
        print("%.1f cores of modgate (instances or threads) besides the masters' 3, and the clients' own."
              % (3 * one * M / 1e6))
        if cores < 6:
            print("This machine has %d cores for the three masters, modgate and wrk together: the ratio %.2f above"
                  % (cores, ratio))
            print("shows what routing costs, not the scale-up: a connection per master and each batch of checks cut")
            print("into one write per master (more system calls for modgate, fewer checks per read for each Redis):")
            print("Redis CPU per check %.1f us single, %.1f us cluster; modgate %.1f us single, %.1f us cluster."
                  % (R, Rc, s1["mg_us"], M))
            print("The scale-up needs the masters on cores (or machines) of their own.")
        else:
            print("On this %d-core machine the masters still share cores with modgate and wrk: the ratio %.2f"
                  % (cores, ratio))
            print("mixes the routing cost (Redis CPU per check %.1f us single, %.1f us cluster; modgate %.1f us"
                  % (R, Rc, s1["mg_us"]))
            print("single, %.1f us cluster) with part of the scale-up." % M)
    finally:
        for p in procs:
            stop(p)
        single.stop()
        cluster.stop()
        shutil.rmtree(tmp, True)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("--secs", type=int, default=5, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are printed")
    ap.add_argument("--ceiling", default=os.path.join(ROOT, "..", "shared", "bench", "ceiling"))
    ap.add_argument("--thread-settings", type=int, default=0, metavar="N",
                    help="store N thread settings for the bench site first (api.md 2.14; none of them "
                         "the checks' threads), so every check searches N of them")
    ap.add_argument("--reputation", action="store_true",
                    help="give every author and network the checks use a reputation first (api.md 2.15: "
                         "counts over 30 days, rules off), so every check reads and parses two")
    ap.add_argument("--premod-author", action="store_true",
                    help="have the bench site's moderators pre-moderate one author (api.md 2.15; none of the "
                         "checks' authors), so every check of an author carries the texts of a rule's hold")
    ap.add_argument("--cluster", action="store_true",
                    help="then compare checks/s with one Redis and with a Redis Cluster of 3 masters, in "
                         "alternation (the options above that fill Redis apply to the main part only)")
    ap.add_argument("--only", choices=("moderation", "latency", "cluster"),
                    help="run only this part (latency: one connection, modgate against the ceiling's rl mode; "
                         "cluster: only the --cluster comparison)")
    a = ap.parse_args()
    if a.only != "cluster":
        bench(a)
    if a.cluster or a.only == "cluster":
        cluster_bench(a)


def bench(a):
    """Everything but the cluster comparison."""
    tmp = tempfile.mkdtemp(prefix="modgate-bench-")
    procs = []
    # No persistence, as in the ceiling's own instructions: the bench
    # measures the service, not the disk.
    redis = Redis(tmp, aof=False)
    try:
        redis.start()
        a.redis_port = redis.port
        if a.thread_settings:
            doc = '{"premod":"links","by":"bench","at_ms":1}'
            items = [x for i in range(a.thread_settings) for x in ("story-%06d" % i, doc)]
            for i in range(0, len(items), 2000):
                redis.cmd("HSET", "mg:{bench}:threads", *items[i:i + 2000])
            redis.cmd("INCR", "mg:{bench}:threads:ver")
            print("%d thread settings stored for the bench site" % a.thread_settings)
        if a.reputation:
            import hashlib
            day = int(time.time()) // 86400
            hist = "".join(" %d:%d:%d:%d" % (day - d, d % 3, d % 5 == 0, d % 11 == 0) for d in range(30))
            items = []
            for i in range(5000):  # the wrk script's authors: r<i>@example.org
                k = hashlib.blake2b(b"em:r%d@example.org" % i, digest_size=8).hexdigest()
                items += ["a:" + k, "n 30 6 3" + hist]
            for t in range(16):  # and its networks: 10.<thread>.<x>.0/24
                for x in range(256):
                    items += ["n:10.%d.%d.0/24" % (t, x), "n 40 8 2" + hist]
            for i in range(0, len(items), 2000):
                redis.cmd("HSET", "mg:{bench}:rep", *items[i:i + 2000])
            print("%d authors' and networks' reputations stored for the bench site" % (len(items) // 2))
        if a.premod_author:  # as authors.lua stores it
            import hashlib
            k = hashlib.blake2b(b"em:nobody@example.org", digest_size=8).hexdigest()
            redis.cmd("HSET", "mg:{bench}:rep", "a:" + k, "p 0 0 0")
            redis.cmd("SADD", "mg:{bench}:rep:premod", k)
            print("one author pre-moderated on the bench site: every check of an author carries a hold's texts")
        script = os.path.join(tmp, "check.lua")
        lua_script(script)
        port = free_port()
        # Buckets that never run dry (so rate limits do not dominate) but
        # refill slowly, as real ones do: the site's bucket hash then lasts
        # the whole run (an epoch is the longest refill time), so every
        # check finds the site bucket there and most identities are new,
        # as on a busy site with hourly or daily limits.
        big = {"capacity": 1e9, "per_minute": 1}
        if not a.only:
            filter_speed(os.path.abspath(a.bin), tmp)
        cfg = {"listen": "127.0.0.1:%d" % port, "log_level": "warn",
               "redis": {"url": "redis://127.0.0.1:%d/0" % redis.port},
               "sites": {"bench": bench_site(big),
                   # a site of its own for the captcha rates, so that the
                   # check runs above do exactly what they did before
                   "cap": {"keys": [{"id": "cap-cms", "role": "cms", "sha256": sha256(CAP_KEY)}],
                           "api_rate_limit": big,
                           "captcha": {"keys": [{"id": "b1", "secret_file": captcha_key(tmp)}],
                                       # the issue rate, not the per-network limit
                                       "max_challenges": 0}},
                   # the moderation queue's rates: every comment is held
                   "modq": {"keys": [{"id": "q-cms", "role": "cms", "sha256": sha256(MODQ_CMS)},
                                     {"id": "q-mod", "role": "moderator", "sha256": sha256(MODQ_MOD)}],
                            "thresholds": {"hold": 0.01, "reject": 0.999},
                            "rate_limits": {k: big for k in ("ip", "ip_prefix", "author", "thread", "site")},
                            "api_rate_limit": big,
                            "duplicates": {"enabled": False}},
                   "modqs": {"keys": [{"id": "qs-cms", "role": "cms", "sha256": sha256(MODQS_CMS)},
                                      {"id": "qs-mod", "role": "moderator", "sha256": sha256(MODQS_MOD)}],
                             "thresholds": {"hold": 0.01, "reject": 0.999},
                             "rate_limits": {k: big for k in ("ip", "ip_prefix", "author", "thread", "site")},
                             "api_rate_limit": big,
                             "duplicates": {"enabled": False}}}}
        cfg_path = os.path.join(tmp, "bench.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ)
        env.pop("MODGATE_REDIS_URL", None)
        env.pop("MODGATE_LISTEN", None)
        # A learned model, so that every check runs the Bayes filter for
        # real: both corpora, as moderators would have taught it.
        for name in ("sms", "youtube-dev"):
            subprocess.run([os.path.abspath(a.bin), "learn", "--config", cfg_path, "--site", "bench",
                            os.path.join(ROOT, "tests", "data", name + ".jsonl")], check=True, env=env,
                           capture_output=True)
        mg = start([os.path.abspath(a.bin), "serve", "--config", cfg_path], port, env=env)
        procs.append(mg)

        def model_ready():
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/v1/sites/bench/model", headers={"Authorization": "Bearer " + ADMIN})
            r = c.getresponse()
            m = json.loads(r.read())
            c.close()
            return m if m.get("loaded") and m.get("opinion") else None
        assert wait_until(model_ready, 30), "the bench site's Bayes model did not load"
        m = model_ready()
        print("bench site model: %d spam and %d ham comments learned, %d tokens, %d KiB in memory\n" % (
            m["nspam"], m["nham"], m["tokens"], m["memory_bytes"] // 1024))
        if a.only == "moderation":
            moderation_rates(port, mg, redis, tmp, a.secs)
            return
        url = "http://127.0.0.1:%d/v1/check" % port
        # Each wrk thread cycles through this many distinct comments (ids
        # unique per phase, so no check is a replay): more than it can send.
        per_thread = str(max(20000, 15000 * a.secs))
        # connections, script cache, and Redis's tables and memory: about
        # 50,000 checks' worth of keys before the first measurement
        run_wrk(url, script, 64, 2, 3, ("warm", "40000"))

        servers = {"modgate": (url, script, None, lambda tag: (tag, per_thread))}
        ceiling = os.path.abspath(a.ceiling)
        have_ceiling = os.path.exists(os.path.join(ceiling, "srv.c"))
        if have_ceiling:
            cbin = build_ceiling(ceiling, tmp)
            subprocess.run([cbin, "--seed", "--redis-port", str(redis.port)], cwd=ceiling, check=True,
                           capture_output=True)
            post = os.path.join(ceiling, "post.lua")
            # rl first: each modgate run is paired with the rl run right
            # after it, so that both meet the same minute of this machine.
            for mode, pool in (("rl", 8),) if a.only == "latency" else (("rl", 8), ("json", 2)):
                cport = free_port()
                procs.append(start([cbin, "--mode", mode, "--threads", "pool", "--pool", str(pool), "--port",
                                    str(cport), "--redis-port", str(redis.port)], cport, cwd=ceiling))
                curl = "http://127.0.0.1:%d/v1/check" % cport
                run_wrk(curl, post, 16, 2, 2, cwd=ceiling)
                servers["ceiling " + mode] = (curl, post, ceiling, lambda tag: ())
            same = same_work_ceiling(ceiling, tmp) if a.only != "latency" else None
            if same:
                sbin, sdir = same
                cport = free_port()
                procs.append(start([sbin, "--mode", "rl", "--threads", "pool", "--pool", "8", "--port", str(cport),
                                    "--redis-port", str(redis.port)], cport, cwd=sdir))
                curl = "http://127.0.0.1:%d/v1/check" % cport
                run_wrk(curl, post, 16, 2, 2, cwd=sdir)
                servers["ceiling rl, modgate's script"] = (curl, post, sdir, lambda tag: ())
            elif a.only != "latency":
                print("the ceiling's srv.c has changed: its same-work variant is skipped")

        # Rounds interleave the servers, so that a slow minute of this shared
        # machine hits all of them alike; medians are reported. Redis is not
        # emptied between measurements: a production Redis holds the
        # decision records, duplicate lists and buckets of the last days, so
        # the bench measures one in that steady state (warmed up above, and
        # growing through the run), not one that grows from nothing in five
        # seconds (tables resized, fresh memory faulted in: about 10% fewer
        # checks/s for modgate, whose keys the ceiling does not have). Nothing
        # expires during the bench: every TTL is far longer.
        res = {name: {"c64": [], "c1": []} for name in servers}
        held = sent = 0
        if a.only == "latency":
            latency_rounds(servers, a, cbin if have_ceiling else None, ceiling)
            return
        for rnd in range(a.rounds):
            for conns, key in ((64, "c64"), (1, "c1")):
                for name, (u, sc, cwd, args) in servers.items():
                    held0 = redis.cmd("ZCARD", "mg:{bench}:q:held")
                    if cwd:
                        subprocess.run([cbin, "--seed", "--redis-port", str(redis.port)], cwd=ceiling,
                                       check=True, capture_output=True)
                    r = run_wrk(u, sc, conns, 2 if conns > 1 else 1, a.secs, args("r%d%s" % (rnd, key)), cwd=cwd)
                    res[name][key].append(r)
                    if name == "modgate" and key == "c64":
                        held += redis.cmd("ZCARD", "mg:{bench}:q:held") - held0
                        sent += int(r["rps"] * a.secs)
        print()
        print("median of %d interleaved rounds, %d s each, wrk on the same 2 cores" % (a.rounds, a.secs))
        print()
        print("| server | checks/s at 64 conns | p50 / p99 at 64 (ms) | p50 / p99 at 1 conn (ms) | non-2xx |")
        print("|---|---|---|---|---|")
        for name, r in res.items():
            c64, c1 = r["c64"], r["c1"]
            print("| %s | %.0f | %.3f / %.3f | %.3f / %.3f | %d |" % (
                name, median([x["rps"] for x in c64]), median([x["p50"] for x in c64]),
                median([x["p99"] for x in c64]), median([x["p50"] for x in c1]), median([x["p99"] for x in c1]),
                sum(x["non2xx"] for x in c64 + c1)))
        print("\nmodgate held %d of about %d comments in its 64-connection runs (real corpus bodies)" % (held, sent))
        if have_ceiling:
            p99r = [m["p99"] / c["p99"] for m, c in zip(res["modgate"]["c1"], res["ceiling rl"]["c1"])]
            print("p99 at 1 connection, modgate / ceiling rl = %.2f (rounds: %s; goal <= 1.5 and modgate < 0.5 ms)" % (
                median(p99r), ", ".join("%.2f" % x for x in p99r)))
        # The one-connection tail moves a lot from round to round on a
        # shared machine, for the ceiling as well: show every round.
        for name, r in res.items():
            print("p99 at 1 connection, %s (ms, by round): %s" % (
                name, ", ".join("%.3f" % x["p99"] for x in r["c1"])))
        if have_ceiling:
            for mode in ("json", "rl"):
                ratios = [m["rps"] / c["rps"] for m, c in zip(res["modgate"]["c64"], res["ceiling " + mode]["c64"])]
                print("ratio modgate / ceiling %-4s = %.2f (rounds: %s)" % (
                    mode, median(ratios), ", ".join("%.2f" % x for x in ratios)))
            same = "ceiling rl, modgate's script"
            if same in res:
                ratios = [m["rps"] / c["rps"] for m, c in zip(res["modgate"]["c64"], res[same]["c64"])]
                print("ratio modgate / %s = %.2f (rounds: %s)  [same Redis work per check]" % (
                    same, median(ratios), ", ".join("%.2f" % x for x in ratios)))
            print("goal: modgate / ceiling rl >= 0.80; p99 at 1 connection < 0.5 ms (modgate: %.3f ms)"
                  % median([x["p99"] for x in res["modgate"]["c1"]]))
        else:
            print("ceiling not found at %s: ratios skipped" % ceiling)
        captcha_rates("http://127.0.0.1:%d" % port, mg, redis.proc.pid, url, script, tmp, a.secs, a.bin)
        moderation_rates(port, mg, redis, tmp, a.secs)
    finally:
        for p in procs:
            stop(p)
        redis.stop()
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
