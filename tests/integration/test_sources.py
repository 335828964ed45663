#!/usr/bin/env python3
"""Source-balanced learning (issue 19 point 2): real redis-server, real binary.

Every learned comment has a source ("site", or a name given to a learn or an
import). The counts of each source are exact in Redis (source X's are the
fields "X:" + token hash of the model's two hashes, its totals meta's
nspam:X and nham:X); unlearning takes a comment out of its own source byte
for byte, and learning it again under another source or class moves it
exactly. A check reads each source at a factor per class: once the site has
min_learns comments of a class, a bigger source is scaled down to the
site's total and a smaller one weighs its own counts; before that, the
smallest other source with min_learns sets the scale. GET /v1/sites/S/model shows the sources and their factors.
A site with the site source alone reads what it read before sources existed.
At the end, one measured figure: the YouTube test half scored by a model of
the YouTube training half plus the SMS training half imported as another
source, balanced, against both learned as "site".

    --bin BINARY      the modgate under test (default build/modgate)
    --old-bin BINARY  also compare with a modgate of before sources: it
                      learns a model the old way; this one must read it with
                      the same scores and learn it into the same bytes

Prints "N passed, N failed" and the figures measured."""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, ROOT, Redis, Service, base_config, err_code, make_tmp,  # noqa: E402
                     run_tests, sha256, wait_until)
from corpus_split import write_split  # noqa: E402

DATA = os.path.join(ROOT, "tests", "data")
# The tokenizer version this build writes into models (filters/tokenize.h).
TOK_VERSION = int(re.search(r"#define TOK_VERSION (\d+)",
                            open(os.path.join(ROOT, "filters", "tokenize.h")).read()).group(1))
SITES = ("news", "scale", "wsum", "wref", "moves", "plain", "twin", "many", "imp", "imp2", "bal", "mix", "small", "exp", "exp2", "exp3", "bad")
ctx = {}
svc, redis = (lambda: ctx["svc"]), (lambda: ctx["redis"])


def config(redis_port):
    """Every site reads no starter: the sources alone make the model (the
    starter is blended under them as before: test_starter.py)."""
    c = base_config(redis_port, bayes={"min_learns": 3, "starter_weight": 0})
    for s in SITES[1:]:
        keys = [{"id": "%s-%s" % (s, role), "role": role, "sha256": sha256(key(s, role))}
                for role in ("cms", "moderator")]
        c["sites"][s] = {"keys": keys, "bayes": {"min_learns": 20 if s in ("bal", "mix") else 3, "starter_weight": 0}}
    return c


def key(site, role="cms"):
    """The API key of 'role' for 'site' (news: the harness's keys)."""
    if site == "news":
        return CMS_KEY if role == "cms" else MOD_KEY
    return "it-%s-%s-key-0123456789abcdef" % (site, role)


_n = [0]


def text(kind="ham"):
    """A fresh comment body with words of its own."""
    _n[0] += 1
    n = _n[0]
    if kind == "spam":
        return "WIN a FREE prize number %d now!!! Call 0906170%04d or visit cheap-prize%d.example.com" % (n, n, n)
    return "I enjoyed reading part %d of the series about the harbour, the mayor's plan %d sounds fair" % (n, n)


def request(path, doc, s=None):
    return (s or svc()).request("POST", path, doc, key=key(doc["site"]))


def learn(body, label="spam", site="news", source=None, s=None, path="/v1/learn"):
    doc = {"site": site, "comment": {"body": body}}
    if label is not None:
        doc["label"] = label
    if source is not None:
        doc["source"] = source
    st, b, _ = request(path, doc, s=s)
    assert st == 200, (st, b)
    return b


def learn_pairs(site, n, source=None):
    """Learn n fresh spam and n fresh ham into 'site' (as 'source')."""
    for _ in range(n):
        learn(text("spam"), "spam", site, source)
        learn(text("ham"), "ham", site, source)


def unlearn(body, site="news", source=None, s=None):
    return learn(body, None, site, source, s, "/v1/unlearn")


def model(site="news", s=None):
    st, body, _ = (s or svc()).request("GET", "/v1/sites/%s/model" % site, key=key(site, "moderator"))
    assert st == 200, (st, body)
    return body


def meta(m):
    raw = redis().cmd("HGETALL", "mg:{%s}:bayes:meta" % m) or []
    return {raw[i]: raw[i + 1] for i in range(0, len(raw), 2)}


def counts(m):
    """{source: {"spam": {hash: n}, "ham": {hash: n}}} from the Redis hashes."""
    out = collections.defaultdict(lambda: {"spam": {}, "ham": {}})
    for cls in ("spam", "ham"):
        raw = redis().cmd("HGETALL", "mg:{%s}:bayes:%s" % (m, cls)) or []
        for i in range(0, len(raw), 2):
            src, _, h = raw[i].rpartition(":")
            out[src or "site"][cls][h] = int(raw[i + 1])
    return dict(out)


def docs(m):
    """{fingerprint: doc value} of every learned comment of model m."""
    keys = redis().cmd("EVAL", "return redis.call('KEYS', ARGV[1])", 0, "mg:{%s}:bayes:doc:*" % m) or []
    return {k.rsplit(":", 1)[1]: redis().cmd("GET", k) for k in keys}


def state(m):
    """Everything a model holds but its change counter and event stream:
    the two hashes, meta without seq, the learned comments."""
    mt = meta(m)
    mt.pop("seq", None)
    h = {}
    for cls in ("spam", "ham"):
        raw = redis().cmd("HGETALL", "mg:{%s}:bayes:%s" % (m, cls)) or []
        h[cls] = {raw[i]: raw[i + 1] for i in range(0, len(raw), 2)}
    return {"hashes": h, "meta": mt, "docs": docs(m)}


def but_empty_sources(st):
    """A state() less the totals of sources at 0/0: a source stays recorded
    (listed, at 0 and 0) once its last comment is unlearned."""
    mt = st["meta"]
    empty = {f.split(":", 1)[1] for f in mt if f.startswith("nspam:") and mt[f] == "0" and
             mt.get("nham:" + f.split(":", 1)[1]) == "0"}
    keep = {f: v for f, v in mt.items() if not (":" in f and f.split(":", 1)[1] in empty)}
    return dict(st, meta=keep)


def expected_counts(m):
    """The counts per source and class the learned comments add up to."""
    out = collections.defaultdict(lambda: {"spam": collections.Counter(), "ham": collections.Counter()})
    for v in docs(m).values():
        head, toks = v.split(":", 1)  # "spam:..." or "spam@X:..."; tokens hold no ':'
        label, _, src = head.partition("@")
        for i in range(0, len(toks), 16):
            out[src or "site"][label][toks[i:i + 16]] += 1
    return {s: {c: dict(v[c]) for c in v} for s, v in out.items()}


def synced(site):
    want = int(meta(site).get("seq", 0))
    return wait_until(lambda: (lambda b: b if b["seq"] == want else None)(model(site)), 10)


def sources_of(body):
    return {x["name"]: x for x in body["sources"]}


def bayes_score(answer):
    """The bayes reason's contribution (weight x logit P(spam)); None when
    the model had no opinion."""
    rs = [r for r in answer["reasons"] if r["filter"] == "bayes"]
    return rs[0]["contribution"] if rs else None


def check(body, site, s=None, ip="198.51.100.9"):
    st, b, _ = (s or svc()).request("POST", "/v1/check", {"site": site, "comment": {"body": body},
                                                         "client": {"ip": ip}}, key=key(site))
    assert st == 200, (st, b)
    return b


def run_cli(*args, binary=None):
    p = subprocess.run([binary or svc().binary] + list(args), capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------- counts per source

def test_two_sources_keep_exact_counts_each():
    """Learning into "site" and into "forum": each source's fields hold
    exactly the counts of its own comments; meta holds each one's totals;
    the answer names the source and gives its totals."""
    for i in range(3):
        b = learn(text("spam"), "spam")
        assert b["source"] == "site", b
        learn(text("ham"), "ham")
    got = [learn(text("spam"), "spam", source="forum") for _ in range(4)]
    got += [learn(text("ham"), "ham", source="forum") for _ in range(2)]
    assert [b["source"] for b in got] == ["forum"] * 6, got
    assert (got[-1]["nspam"], got[-1]["nham"]) == (4, 2), got[-1]
    mt = meta("news")
    assert (mt["nspam"], mt["nham"], mt["nspam:forum"], mt["nham:forum"]) == ("3", "3", "4", "2"), mt
    c = counts("news")
    assert set(c) == {"site", "forum"}, c.keys()
    assert c == expected_counts("news"), "the hashes hold exactly the learned comments' counts, per source"
    # a site comment's tokens are not in forum's fields and the other way round
    assert all(v.startswith(("spam@forum:", "ham@forum:", "spam:", "ham:")) for v in docs("news").values())


def test_model_endpoint_lists_sources_with_factors():
    """min_learns 3: spam has site 3 and forum 4, both enough, so forum's
    spam is read at 3/4; forum's 2 ham are below min_learns: factor 1."""
    b = synced("news")
    src = sources_of(b)
    assert list(src) == ["site", "forum"], b["sources"]
    assert (src["site"]["nspam"], src["site"]["nham"], src["forum"]["nspam"], src["forum"]["nham"]) == (3, 3, 4, 2)
    assert src["site"]["factor_spam"] == 1 and src["site"]["factor_ham"] == 1, src
    assert abs(src["forum"]["factor_spam"] - 0.75) < 1e-12 and src["forum"]["factor_ham"] == 1, src
    assert (b["nspam"], b["nham"]) == (7, 5), b  # the model's learned comments, every source
    assert abs(b["blend"]["nspam"] - 6) < 1e-9 and abs(b["blend"]["nham"] - 5) < 1e-9, b["blend"]
    assert src["site"]["tokens"] + src["forum"]["tokens"] == b["tokens"], b


def test_a_big_source_is_scaled_to_the_small_ones_total():
    """A big source weighs its own counts while the site has fewer than
    min_learns of a class, and the site's total as soon as it has them."""
    for _ in range(12):
        learn(text("spam"), "spam", "scale", "big")
    for _ in range(6):
        learn(text("ham"), "ham", "scale", "big")
    for _ in range(2):
        learn(text("spam"), "spam", "scale")
        learn(text("ham"), "ham", "scale")
    src = sources_of(synced("scale"))
    assert (src["big"]["factor_spam"], src["big"]["factor_ham"]) == (1, 1), src  # site below min_learns
    before = model("scale")["blend"]
    assert (before["nspam"], before["nham"]) == (14, 8), before
    learn(text("spam"), "spam", "scale")
    learn(text("ham"), "ham", "scale")
    b = synced("scale")
    src = sources_of(b)
    assert abs(src["big"]["factor_spam"] - 3 / 12) < 1e-12 and abs(src["big"]["factor_ham"] - 3 / 6) < 1e-12, src
    assert src["site"]["factor_spam"] == 1 and src["site"]["factor_ham"] == 1, src
    assert abs(b["blend"]["nspam"] - 6) < 1e-9 and abs(b["blend"]["nham"] - 6) < 1e-9, b["blend"]
    print("     big source spam factor %.3f, ham factor %.3f; blend %s" %
          (src["big"]["factor_spam"], src["big"]["factor_ham"], b["blend"]))


def test_a_small_import_never_scales_the_site_down():
    """Site "small": 8 spam and 8 ham of its own, then an import "few" of
    4 and 4 (at min_learns 3, both have enough). The site keeps factor 1 and
    so does the smaller import (nothing is inflated); the blend's totals are
    plain sums. Then an import "bulk" of 12 and 12 is scaled to the site's 8."""
    learn_pairs("small", 8)
    learn_pairs("small", 4, "few")
    b = synced("small")
    src = sources_of(b)
    assert all(src[n][f] == 1 for n in ("site", "few") for f in ("factor_spam", "factor_ham")), src
    assert abs(b["blend"]["nspam"] - 12) < 1e-9 and abs(b["blend"]["nham"] - 12) < 1e-9, b["blend"]
    learn_pairs("small", 12, "bulk")
    b = synced("small")
    src = sources_of(b)
    assert src["site"]["factor_spam"] == 1 and src["few"]["factor_spam"] == 1, src
    assert abs(src["bulk"]["factor_spam"] - 8 / 12) < 1e-6 and abs(src["bulk"]["factor_ham"] - 8 / 12) < 1e-6, src  # shown to 6 digits
    assert abs(b["blend"]["nspam"] - 20) < 1e-9 and abs(b["blend"]["nham"] - 20) < 1e-9, b["blend"]


def raw_file(name, counts, nspam, nham):
    """An export file of raw token counts ({hash: (spam, ham)}), no comments."""
    path = os.path.join(svc().tmp, name)
    with open(path, "w") as f:
        f.write(json.dumps({"model": "x", "tok_version": TOK_VERSION, "nspam": nspam, "nham": nham}) + "\n")
        for h, (sp, hm) in sorted(counts.items()):
            f.write(json.dumps({"t": h, "s": sp, "h": hm}) + "\n")
    return path


def test_a_check_reads_the_weighted_sum_exactly():
    """Site "wsum": three spam and three ham of its own, plus source "big"
    with raw counts 4a (spam) and 2b (ham) over 12 spam and 6 ham comments,
    so read at 1/4 and 1/2. Site "wref": the same three and three plus a
    and b as its own raw counts over 3 and 3. Every probe scores the same
    on both: a check reads each source's counts times its factor, totals
    included, and nothing else."""
    bodies = [(text("spam"), "spam") for _ in range(3)] + [(text("ham"), "ham") for _ in range(3)]
    for b, label in bodies:
        learn(b, label, "wsum")
        learn(b, label, "wref")
    # a and b on real tokens: those of the comments just learned (their
    # character n-grams are in every probe too)
    tokvals = [v.split(":", 1)[1] for v in docs("wsum").values()]
    hs = sorted({t[i:i + 16] for t in tokvals for i in range(0, len(t), 16)})[:400]
    a = {h: (i % 5 + 1 if i % 3 else 0, i % 4 + 1 if i % 2 else 0) for i, h in enumerate(hs)}
    big = raw_file("big.jsonl", {h: (4 * sp, 2 * hm) for h, (sp, hm) in a.items()}, 12, 6)
    ref = raw_file("ref.jsonl", a, 3, 3)
    for site, path, extra in (("wsum", big, ["--source", "big"]), ("wref", ref, [])):
        rc, out, err = run_cli("model", "import", "--config", svc().path, "--site", site, *extra, path)
        assert rc == 0, (out, err)
    src = sources_of(synced("wsum"))
    assert (src["big"]["factor_spam"], src["big"]["factor_ham"]) == (0.25, 0.5), src
    assert [x["name"] for x in synced("wref")["sources"]] == ["site"]
    assert model("wsum")["blend"]["nspam"] == model("wref")["blend"]["nspam"] == 6
    probes = [r["body"] for r in train_and_probe()[1]]
    ws = [bayes_score(check(p, "wsum")) for p in probes]
    wr = [bayes_score(check(p, "wref")) for p in probes]
    assert None not in ws and ws == wr, list(zip(ws, wr))
    assert len(set(ws)) > 10, ws  # the probes do differ


# ---------------------------------------------------------------- exact undo and moves

def test_unlearn_takes_a_comment_out_of_its_own_source_exactly():
    """Learned as forum spam, then unlearned (with no source, or another
    one: the record decides): every key back as it was, byte for byte."""
    body = text("spam")
    learn(text("spam"), "spam", "moves")  # the model is not empty
    learn(text("ham"), "ham", "moves", "forum")
    before = state("moves")
    b = learn(body, "spam", "moves", "forum")
    assert b["changed"] == "learned" and b["source"] == "forum", b
    assert state("moves") != before
    u = unlearn(body, "moves")
    assert u["changed"] == "unlearned" and u["label"] == "spam" and u["source"] == "forum", u
    assert state("moves") == before, "unlearn restored every count, total and record"
    learn(body, "ham", "moves", "forum")
    u = unlearn(body, "moves", source="other")
    assert u["changed"] == "unlearned" and u["source"] == "forum", u
    assert state("moves") == before
    u = unlearn(body, "moves")
    assert u["changed"] == "unchanged" and u["source"] is None, u
    assert state("moves") == before


def test_relearning_under_another_source_or_class_moves_it_exactly():
    """site spam -> forum ham -> forum spam -> site ham: each step leaves
    the model exactly as learning the last one alone would."""
    body = text("spam")
    learn(text("spam"), "spam", "moves")  # the model is not empty
    learn(text("ham"), "ham", "moves", "forum")
    base = state("moves")
    path = [("spam", None), ("ham", "forum"), ("spam", "forum"), ("ham", "site"), ("spam", "corpus-2")]
    for label, src in path:
        b = learn(body, label, "moves", src)
        assert b["changed"] in ("learned", "moved") and b["label"] == label, b
        assert b["source"] == (src or "site"), b
        after = state("moves")
        unlearn(body, "moves")
        assert but_empty_sources(state("moves")) == but_empty_sources(base), (label, src)
        learn(body, label, "moves", src)
        alone = state("moves")
        assert after == alone, "moving to %s/%s equals learning it there alone" % (label, src)
    c, e = counts("moves"), expected_counts("moves")
    for s in set(c) | set(e):
        for cls in ("spam", "ham"):
            assert c.get(s, {}).get(cls, {}) == e.get(s, {}).get(cls, {}), (s, cls)
    # a source emptied keeps its record at 0 and 0 (it weighs nothing)
    unlearn(body, "moves")
    assert (meta("moves")["nspam:corpus-2"], meta("moves")["nham:corpus-2"]) == ("0", "0")
    assert not any(f.startswith("corpus-2:") for c in state("moves")["hashes"].values() for f in c)
    b = synced("moves")
    assert {x["name"] for x in b["sources"]} >= {"site", "forum", "corpus-2"}, b["sources"]


def test_bad_source_values_are_400_naming_the_field():
    for bad in ("", "A", "a b", "x" * 33, "../x", "sité", "a:b", "a@b"):
        for path in ("/v1/learn", "/v1/unlearn"):
            st, b, _ = request(path, {"site": "news", "comment": {"body": text()}, "label": "ham", "source": bad})
            assert st == 400 and err_code(b) == "invalid_field" and "source" in b["error"]["message"], (bad, b)
    st, b, _ = request("/v1/learn", {"site": "news", "comment": {"body": text()}, "label": "ham", "source": 7})
    assert st == 400 and err_code(b) == "wrong_type" and "source" in b["error"]["message"], b
    st, b, _ = request("/v1/learn", {"site": "news", "comment_id": "c1", "label": "ham", "source": "forum"})
    assert st == 400 and err_code(b) == "unknown_field" and "source" in b["error"]["message"], b
    ok = "a" * 32
    assert learn(text(), "ham", "news", ok)["source"] == ok
    assert learn(text(), "ham", "news", "x_1-y")["source"] == "x_1-y"


def test_a_model_has_at_most_sixteen_sources():
    """Each source costs every check a lookup per token: a 16th source
    besides those is refused (409), nothing changes."""
    names = ["s%02d" % i for i in range(15)]
    for n in names:
        learn(text(), "ham", "many", n)
    before = state("many")
    st, b, _ = request("/v1/learn", {"site": "many", "comment": {"body": text()}, "label": "ham", "source": "one-more"})
    assert st == 409 and err_code(b) == "too_many_sources", b
    assert state("many") == before
    assert learn(text(), "ham", "many", "s03")["changed"] == "learned"  # a known one still learns
    assert learn(text(), "ham", "many")["source"] == "site"  # and the site, the 16th
    assert len(synced("many")["sources"]) == 16


# ---------------------------------------------------------------- the command line

def test_model_import_source_imports_a_corpus_as_one_source():
    """`model import --source corpus`: the export's comments and counts land
    in source "corpus" exactly (the same numbers as the exporting model's
    site source), twice is idempotent; an export of a model with sources
    keeps them (their comments carry "src")."""
    for i in range(5):
        learn(text("spam"), "spam", "imp")
        learn(text("ham"), "ham", "imp")
    learn(text("ham"), "ham", "imp", "forum")
    rc, out, err = run_cli("model", "export", "--config", svc().path, "--site", "imp")
    assert rc == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r.get("src") for r in rows if "d" in r].count("forum") == 1, rows
    path = os.path.join(svc().tmp, "imp.jsonl")
    with open(path, "w") as f:
        f.write(out)
    for attempt in range(2):
        rc, o, err = run_cli("model", "import", "--config", svc().path, "--site", "imp2", "--source", "corpus", path)
        assert rc == 0, (o, err)
        s = json.loads(o)
        assert s["errors"] == 0 and s["learned"] == (11 if attempt == 0 else 0), s
    src = counts("imp")
    mine = counts("imp2")
    assert set(mine) == {"corpus"}, mine.keys()
    want = {c: collections.Counter(src["site"][c]) + collections.Counter(src["forum"][c]) for c in ("spam", "ham")}
    assert mine["corpus"] == {c: dict(want[c]) for c in want}, "every comment of the file, as corpus"
    mt = meta("imp2")
    assert (mt["nspam:corpus"], mt["nham:corpus"], mt.get("nspam", "0"), mt.get("nham", "0")) == ("5", "6", "0", "0")
    # without --source: the comments keep their own sources
    redis().cmd("EVAL", "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end", 0,
                "mg:{imp2}:bayes:*")
    rc, o, err = run_cli("model", "import", "--config", svc().path, "--site", "imp2", path)
    assert rc == 0, (o, err)
    assert counts("imp2") == counts("imp") and state("imp2")["docs"] == state("imp")["docs"]
    for bad in ("Corpus", "", "x" * 33):
        rc, o, err = run_cli("model", "import", "--config", svc().path, "--site", "imp2", "--source", bad, path)
        assert rc == 2 and "--source" in err, (bad, rc, err)


def source_meta(m):
    """meta's class totals of every source: {"nspam": .., "nham": .., "nspam:X": ..}."""
    return {k: v for k, v in meta(m).items() if k.split(":")[0] in ("nspam", "nham")}


def test_export_and_import_keep_every_source_with_its_raw_counts():
    """Site "exp" has its own comments, comments of source "forum", and raw
    counts imported as source "raw" (no comments). Its export carries every
    source: the header's source_totals and token lines with "src". Imported
    into a fresh site, every source's counts and totals are the same,
    exactly; imported with --source, all of it lands in that one source
    (the sum over the sources)."""
    learn_pairs("exp", 3)
    learn_pairs("exp", 2, "forum")
    tokvals = [v.split(":", 1)[1] for v in docs("exp").values()]
    hs = sorted({t[i:i + 16] for t in tokvals for i in range(0, len(t), 16)})[:50] + ["00000000000000a1"]
    raw = raw_file("exp-raw.jsonl", {h: (i % 3, (i + 1) % 4) for i, h in enumerate(hs)}, 7, 9)
    rc, out, err = run_cli("model", "import", "--config", svc().path, "--site", "exp", "--source", "raw", raw)
    assert rc == 0, (out, err)
    rc, out, err = run_cli("model", "export", "--config", svc().path, "--site", "exp")
    assert rc == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    head = rows[0]
    assert head["source_totals"]["forum"]["nspam"] == 2 and head["source_totals"]["raw"] == {
        "nspam": 7, "nham": 9, "tokens": len([h for i, h in enumerate(hs) if i % 3 or (i + 1) % 4])}, head
    # the other sources' token lines under "ts" (an older modgate refuses them)
    assert {r.get("src") for r in rows if "t" in r and "d" not in r} == {None}
    assert {r["src"] for r in rows if "ts" in r} == {"forum", "raw"}
    path = os.path.join(svc().tmp, "exp.jsonl")
    with open(path, "w") as f:
        f.write(out)
    rc, o, err = run_cli("model", "import", "--config", svc().path, "--site", "exp2", path)
    assert rc == 0, (o, err)
    assert json.loads(o)["learned"] == 10, o
    assert counts("exp2") == counts("exp"), "every source's counts, exactly"
    assert source_meta("exp2") == source_meta("exp"), (source_meta("exp2"), source_meta("exp"))
    rc, o, err = run_cli("model", "import", "--config", svc().path, "--site", "exp3", "--source", "all", path)
    assert rc == 0, (o, err)
    src = counts("exp")
    want = {c: dict(sum((collections.Counter(src[x][c]) for x in src), collections.Counter())) for c in ("spam", "ham")}
    assert counts("exp3") == {"all": want}, "every source of the file, as one"
    mt = meta("exp3")
    assert (mt["nspam:all"], mt["nham:all"]) == ("12", "14"), mt


def test_import_names_what_is_wrong_with_a_source_line():
    """Malformed source lines of an import file are refused one by one, each
    with a message that names the problem (exit 1, the good lines in);
    under --source a comment's own "src" is not used, so any is taken."""
    fp = "%032x"
    head = {"model": "x", "tok_version": TOK_VERSION, "nspam": 0, "nham": 0}
    cases = [
        ({"t": "00000000000000b1", "s": 1, "h": 0, "src": "forum"}, "\"ts\""),
        ({"ts": "00000000000000b2", "s": 1, "h": 0}, "\"ts\" needs \"src\""),
        ({"ts": "00000000000000b3", "src": "Not Valid", "s": 1, "h": 0}, "\"ts\" needs \"src\""),
        (dict(head, source_totals=[1]), "\"source_totals\" must be"),
        (dict(head, source_totals={"forum": 5}), "\"source_totals\" must be"),
        (dict(head, source_totals={"forum": {"nspam": -1, "nham": 0}}), "\"source_totals\" must be"),
        (dict(head, source_totals={"site": {"nspam": 1, "nham": 1}}), "names \"site\""),
    ]
    for i, (line, want) in enumerate(cases):
        path = os.path.join(svc().tmp, "bad%d.jsonl" % i)
        with open(path, "w") as f:
            f.write(json.dumps(head) + "\n" + json.dumps(line) + "\n")
        rc, o, err = run_cli("model", "import", "--config", svc().path, "--site", "bad", path)
        assert rc == 1 and want in err and ":2:" in err, (line, rc, err)
    path = os.path.join(svc().tmp, "odd-src.jsonl")
    toks = ["%016x" % (0xc0 + i) for i in range(3)]
    with open(path, "w") as f:
        f.write(json.dumps(head) + "\n")
        f.write(json.dumps({"d": fp % 1, "l": "spam", "src": "Forum Data", "t": toks}) + "\n")
    rc, o, err = run_cli("model", "import", "--config", svc().path, "--site", "bad", path)
    assert rc == 1 and "\"src\" must be" in err, err
    rc, o, err = run_cli("model", "import", "--config", svc().path, "--site", "bad", "--source", "odd", path)
    assert rc == 0 and json.loads(o)["learned"] == 1, (o, err)
    assert set(counts("bad")) == {"odd"} and counts("bad")["odd"]["spam"] == {t: 1 for t in toks}, counts("bad")


# ---------------------------------------------------------------- one source reads as before

def train_and_probe():
    """A fixed training set and probes from the SMS corpus."""
    rows = [json.loads(x) for x in open(os.path.join(DATA, "sms.jsonl"), encoding="utf-8")]
    spam = [r for r in rows if r["label"] == "spam"]
    ham = [r for r in rows if r["label"] == "ham"]
    return spam[:40] + ham[:40], spam[40:70] + ham[40:70]


def test_a_single_source_site_reads_exactly_as_before():
    """Model "plain" learned with no source at all (the old requests), model
    "twin" the same comments with an empty source besides (learned, then
    unlearned: the balanced read path at factors 1): same Redis bytes for
    the site source, the same score for every probe. "plain" has nothing
    of sources in Redis (no nspam:X field, no X: field, plain records)."""
    train, probes = train_and_probe()
    for r in train:
        learn(r["body"], r["label"], "plain")
        learn(r["body"], r["label"], "twin")
    extra = text("spam")
    learn(extra, "spam", "twin", "gone")
    unlearn(extra, "twin")
    p, t = state("plain"), state("twin")
    assert p["hashes"] == t["hashes"] and p["docs"] == t["docs"], "the site source's bytes are the same"
    # the calibration's fields (test_calibration.py) aside, nothing but the site's totals
    assert {k for k in p["meta"] if not k.startswith(("calib_", "fit_"))} == {"nspam", "nham", "tok_version"}, \
        p["meta"]
    assert all(":" not in f for c in p["hashes"].values() for f in c), "no source fields"
    assert all(v.startswith(("spam:", "ham:")) for v in p["docs"].values())
    assert t["meta"]["nspam:gone"] == "0" and t["meta"]["nham:gone"] == "0", t["meta"]
    synced("plain")
    assert [x["name"] for x in synced("twin")["sources"]] == ["site", "gone"]
    a = [bayes_score(check(r["body"], "plain")) for r in probes]
    b = [bayes_score(check(r["body"], "twin")) for r in probes]
    assert None not in a and a == b, list(zip(a, b))
    ctx["plain_scores"] = a
    old = ctx.get("old_bin")
    if not old:
        print("     (no --old-bin: not compared with a modgate of before sources)")
        return
    # A modgate of before sources learns model "plain" the old way into a
    # Redis of its own, and scores the probes: the same bytes, the same scores.
    r2 = Redis(ctx["tmp"], name="redis-old")
    r2.start()
    try:
        s2 = Service(old, ctx["tmp"], config(r2.port), name="modgate-old")
        s2.start()
        try:
            for r in train:
                learn(r["body"], r["label"], "plain", s=s2)
            olds = [bayes_score(check(r["body"], "plain", s=s2)) for r in probes]
            oh = {c: r2.cmd("HGETALL", "mg:{plain}:bayes:%s" % c) for c in ("spam", "ham")}
            mine = {c: redis().cmd("HGETALL", "mg:{plain}:bayes:%s" % c) for c in ("spam", "ham")}
            assert {c: sorted(zip(v[::2], v[1::2])) for c, v in oh.items()} == \
                {c: sorted(zip(v[::2], v[1::2])) for c, v in mine.items()}, "old and new learn the same bytes"
            assert olds == a, list(zip(olds, a))
            print("     %d probes: the same scores as %s" % (len(probes), old))
        finally:
            s2.stop()
    finally:
        r2.stop()


# ---------------------------------------------------------------- the figure

def auc(scores):
    """AUC with ties counted 1/2: (score, is_spam) pairs."""
    pos = [s for s, y in scores if y]
    neg = [s for s, y in scores if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_balancing_matters_on_the_youtube_test_half():
    """Site "bal": the YouTube training half as "site", the SMS training
    half imported as source "sms"; site "mix": both as "site". Each scores
    the YouTube test half; balancing must do better (the study's mix->yt
    loss is a source-imbalance effect)."""
    tmp = svc().tmp
    paths = {}
    for name in ("youtube-dev", "sms"):
        tr, te = os.path.join(tmp, name + "-train.jsonl"), os.path.join(tmp, name + "-test.jsonl")
        write_split(os.path.join(DATA, name + ".jsonl"), tr, te)
        paths[name] = (tr, te)
    yt_train, yt_test = paths["youtube-dev"]
    sms_train = paths["sms"][0]
    for site, src in (("bal", "sms"), ("mix", None)):
        rc, out, err = run_cli("learn", "--config", svc().path, "--site", site, yt_train)
        assert rc == 0, err
        extra = ["--source", src] if src else []
        rc, out, err = run_cli("learn", "--config", svc().path, "--site", site, *extra, sms_train)
        assert rc == 0, err
    synced("bal")
    synced("mix")
    b = model("bal")
    src = sources_of(b)
    assert set(src) == {"site", "sms"} and src["sms"]["factor_spam"] < 1 and src["sms"]["factor_ham"] < 1, src
    assert [x["name"] for x in model("mix")["sources"]] == ["site"]
    test = [json.loads(x) for x in open(yt_test, encoding="utf-8")]
    res = {}
    for site in ("bal", "mix"):
        sc = []
        for i, r in enumerate(test):
            s = bayes_score(check(r["body"], site, ip="198.51.%d.%d" % (100 + i // 250, i % 250 + 1)))
            assert s is not None
            sc.append((s, r["label"] == "spam"))
        res[site] = auc(sc)
    print("     YouTube test half (%d comments), YouTube + SMS training halves: AUC %.4f balanced "
          "(sms read at spam x%.3f, ham x%.3f) against %.4f both as \"site\"" %
          (len(test), res["bal"], src["sms"]["factor_spam"], src["sms"]["factor_ham"], res["mix"]))
    assert res["bal"] > res["mix"], res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("--old-bin", default="")
    ap.add_argument("-k", default="", help="run only the tests whose name holds this")
    a = ap.parse_args()
    tmp = make_tmp()
    ctx["tmp"] = tmp
    ctx["old_bin"] = os.path.abspath(a.old_bin) if a.old_bin else ""
    r = Redis(tmp)
    r.start()
    ctx["redis"] = r
    s = Service(os.path.abspath(a.bin), tmp, config(r.port))
    s.start()
    ctx["svc"] = s
    return run_tests(globals(), s, r, only=a.k)


if __name__ == "__main__":
    sys.exit(main())
