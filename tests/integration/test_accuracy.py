"""test_accuracy.py - the Bayes filter's accuracy floors, through `modgate eval`.

The real binary trains and tests on the seed-1337 stratified 70/30 split of
each labelled corpus in tests/data (the split the peers' figures use, see
corpus_split.py). The floors sit a little under what the shipped filter
measures (README.md has the table), so a change that costs accuracy fails
here. The peers on the same split: best AUC 0.972 (sms) and 0.917
(youtube); best recall at FPR <= 1% 0.74 and 0.47.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Runner, make_tmp  # noqa: E402
import corpus_split  # noqa: E402

ctx = {}
DATA = os.path.join(ROOT, "tests", "data")


def eval_run(*args, ok=True):
    p = subprocess.run([ctx["bin"], "eval", *args], capture_output=True, text=True, timeout=600)
    if ok:
        assert p.returncode == 0, "eval failed (%d): %s" % (p.returncode, p.stderr)
        return json.loads(p.stdout)
    return p


def split_files(name):
    tr = os.path.join(ctx["tmp"], name + ".train.jsonl")
    te = os.path.join(ctx["tmp"], name + ".test.jsonl")
    if not os.path.exists(tr):
        corpus_split.write_split(os.path.join(DATA, name + ".jsonl"), tr, te)
    return tr, te


def floors(m, auc, r1, r05, fpr):
    got = "auc %.4f, recall@1%% %.3f, recall@0.5%% %.3f, fpr %.4f" % (
        m["auc"], m["recall_at_fpr_1pct"], m["recall_at_fpr_0.5pct"], m["fpr"])
    assert m["auc"] >= auc, "AUC below %.3f: %s" % (auc, got)
    assert m["recall_at_fpr_1pct"] >= r1, "recall at FPR<=1%% below %.2f: %s" % (r1, got)
    assert m["recall_at_fpr_0.5pct"] >= r05, "recall at FPR<=0.5%% below %.2f: %s" % (r05, got)
    assert m["fpr"] <= fpr, "FPR at the default threshold above %.3f: %s" % (fpr, got)


def test_sms_floors():
    tr, te = split_files("sms")
    m = eval_run("--train", tr, "--test", te)
    assert (m["comments"], m["spam"], m["ham"]) == (1551, 196, 1355), m
    # measured: AUC 0.996, recall 0.944 at FPR<=1%, 0.918 at <=0.5%, FPR 0.002
    floors(m, auc=0.993, r1=0.92, r05=0.90, fpr=0.01)
    assert m["accuracy"] >= 0.98 and m["no_opinion"] == 0, m


def test_youtube_floors():
    tr, te = split_files("youtube-dev")
    m = eval_run("--train", tr, "--test", te)
    assert (m["comments"], m["spam"], m["ham"]) == (311, 148, 163), m
    # measured: AUC 0.9907, recall 0.912 at FPR<=1%, 0.872 at <=0.5%, FPR 0.
    # The floors are the goal itself (AUC >= 0.99, recall >= 0.90 at
    # FPR <= 1%, FPR <= 1% at the default threshold): the margin is thin.
    floors(m, auc=0.99, r1=0.90, r05=0.85, fpr=0.01)


def test_scores_file_agrees_with_the_figures():
    """--scores writes one line per test comment, in file order, and the AUC
    computed here from those scores is the one eval printed."""
    tr, te = split_files("youtube-dev")
    out = os.path.join(ctx["tmp"], "scores.jsonl")
    m = eval_run("--train", tr, "--test", te, "--scores", out)
    ids = [json.loads(l)["id"] for l in open(te, encoding="utf-8")]
    rows = [json.loads(l) for l in open(out, encoding="utf-8")]
    assert [r["id"] for r in rows] == ids
    assert all(0.0 <= r["score"] <= 1.0 and r["label"] in ("spam", "ham") for r in rows)
    spam = [r["score"] for r in rows if r["label"] == "spam"]
    ham = [r["score"] for r in rows if r["label"] == "ham"]
    wins = sum((s > h) + 0.5 * (s == h) for s in spam for h in ham)
    assert abs(wins / (len(spam) * len(ham)) - m["auc"]) < 1e-3, (wins / (len(spam) * len(ham)), m["auc"])
    called = sum(1 for r in rows if r["score"] >= 0.9)
    assert called == m["confusion"]["tp"] + m["confusion"]["fp"]
    # every scored comment names the tokens that moved it, as a check's reasons do
    assert sum(1 for r in rows if r["tokens"]) > 0.9 * len(rows)


def test_cross_corpus():
    """Train on one corpus, test on the other: SMS and YouTube comments share
    little vocabulary, so this is far below the in-domain figures, but
    clearly better than chance (measured: AUC 0.74 and 0.80)."""
    sms = os.path.join(DATA, "sms.jsonl")
    yt = os.path.join(DATA, "youtube-dev.jsonl")
    a = eval_run("--train", sms, "--test", yt)
    b = eval_run("--train", yt, "--test", sms)
    assert a["auc"] >= 0.70, a
    assert b["auc"] >= 0.76, b


def test_no_opinion_below_min_learns():
    """With fewer than min_learns (20) learned comments of a class the filter
    says nothing rather than guess: every score is 0.5, none called spam."""
    tr, te = split_files("sms")
    small = os.path.join(ctx["tmp"], "small.jsonl")
    lines = open(tr, encoding="utf-8").read().splitlines()
    spam = [l for l in lines if json.loads(l)["label"] == "spam"][:15]
    ham = [l for l in lines if json.loads(l)["label"] == "ham"][:100]
    open(small, "w", encoding="utf-8").write("\n".join(spam + ham) + "\n")
    m = eval_run("--train", small, "--test", te)
    assert m["no_opinion"] == m["comments"] and m["confusion"]["tp"] + m["confusion"]["fp"] == 0, m
    m = eval_run("--train", small, "--test", te, "--min-learns", "10")
    assert m["no_opinion"] < m["comments"] // 10 and m["auc"] > 0.8, m


def test_cross_validation_uses_training_data_only():
    tr, _ = split_files("sms")
    m = eval_run("--train", tr, "--cv", "5")
    assert m["cv_folds"] == 5 and m["comments"] == 3620 and m["auc"] >= 0.99, m


def test_bad_input_is_refused_with_a_reason():
    p = eval_run("--train", "/nonexistent.jsonl", "--test", "/nonexistent.jsonl", ok=False)
    assert p.returncode == 2 and "cannot open /nonexistent.jsonl" in p.stderr, p.stderr
    bad = os.path.join(ctx["tmp"], "bad.jsonl")
    open(bad, "w").write('{"label":"spam","body":"x"}\n{"label":"maybe","body":"y"}\n')
    p = eval_run("--train", bad, "--test", bad, ok=False)
    assert p.returncode == 2 and "bad.jsonl:2" in p.stderr, p.stderr
    p = eval_run("--train", bad, ok=False)
    assert p.returncode == 2 and "usage" in p.stderr, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    a = ap.parse_args()
    ctx["bin"] = os.path.abspath(a.bin)
    ctx["tmp"] = make_tmp()
    run = Runner()
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            run.run(fn)
    return run.summary()


if __name__ == "__main__":
    sys.exit(main())
