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
    # measured: AUC 0.9965, recall 0.939 at FPR<=1%, 0.923 at <=0.5%, FPR 0.003
    # at the default threshold 0.9 (p calibrated by 5-fold CV of the training half)
    floors(m, auc=0.993, r1=0.92, r05=0.90, fpr=0.01)
    assert m["accuracy"] >= 0.98 and m["no_opinion"] == 0, m


def test_youtube_floors():
    tr, te = split_files("youtube-dev")
    m = eval_run("--train", tr, "--test", te)
    assert (m["comments"], m["spam"], m["ham"]) == (311, 148, 163), m
    # measured: AUC 0.9954, recall 0.872 at FPR<=1%, 0.737 at <=0.5%, FPR 0.006.
    # The recall floors were 0.90 / 0.85 (measured 0.912 / 0.872 with
    # Robinson's classifier) and are lowered to 0.85 / 0.70 with the
    # calibrated naive Bayes of issue 19: the test half has 163 ham, so
    # FPR <= 1% allows one and FPR <= 0.5% none, and a single ham scored
    # high moves these figures by tens of points; on 5-fold cross-validation
    # of the training half, where the classifier was chosen, recall at
    # FPR <= 1% rose from 0.852 to 0.916 and AUC from 0.9893 to 0.9934
    # (docs/benchmarks.md). The goal (0.92) is printed, not met.
    floors(m, auc=0.993, r1=0.85, r05=0.70, fpr=0.01)
    goal("youtube test half, recall at FPR <= 1%", m["recall_at_fpr_1pct"], 0.92)


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
    called = sum(1 for r in rows if r["opinion"] and r["p"] >= 0.9)  # a threshold reads p
    assert called == m["confusion"]["tp"] + m["confusion"]["fp"]
    # every scored comment names the tokens that moved it, as a check's reasons do
    assert sum(1 for r in rows if r["tokens"]) > 0.9 * len(rows)


def test_cross_corpus():
    """Train on one corpus, test on the other: SMS and YouTube comments share
    little vocabulary, but whole-text character n-grams carry across
    (measured: sms -> youtube AUC 0.849, youtube -> sms 0.955; issue 19's
    goal for the second is 0.94)."""
    sms = os.path.join(DATA, "sms.jsonl")
    yt = os.path.join(DATA, "youtube-dev.jsonl")
    a = eval_run("--train", sms, "--test", yt)
    b = eval_run("--train", yt, "--test", sms)
    assert a["auc"] >= 0.82, a
    assert b["auc"] >= 0.94, b


def test_both_training_halves_source_balanced():
    """Issue 19's mixing goal: trained on both training halves together,
    each source weighing alike within each class (--balanced, as the
    shipped starter is built), the youtube test half scores AUC >= 0.99
    (measured 0.9942; 0.9775 with the halves learned plainly, where the
    larger sms half dominates)."""
    smstr, _ = split_files("sms")
    yttr, ytte = split_files("youtube-dev")
    m = eval_run("--train", smstr + "," + yttr, "--test", ytte, "--balanced")
    plain = eval_run("--train", smstr + "," + yttr, "--test", ytte)
    assert m["auc"] >= 0.99, m
    assert m["auc"] > plain["auc"], (m, plain)


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


# ---------- prequential: what a new site lives through ----------

def auc_of(rows):
    spam = [r["score"] for r in rows if r["label"] == "spam"]
    ham = [r["score"] for r in rows if r["label"] == "ham"]
    return sum((s > h) + 0.5 * (s == h) for s in spam for h in ham) / (len(spam) * len(ham))


def small_stream(name, recs):
    path = os.path.join(ctx["tmp"], name)
    with open(path, "w", encoding="utf-8") as f:
        for i, (label, body, source) in enumerate(recs):
            f.write(json.dumps({"id": "c%d" % i, "label": label, "body": body, "source": source}) + "\n")
    return path


def test_prequential_new_site_has_no_opinion_until_min_learns():
    """An empty site scores before it learns: below min_learns (20 per
    class) every comment gets no opinion (score 0.5), so the stream's AUC is
    exactly 0.5; with --min-learns 1 the first comment still has none (the
    model is empty when it is scored) and every later one has."""
    recs = [("spam" if i % 2 else "ham", ("cheap pills now %d" if i % 2 else "nice song %d") % i, "s")
            for i in range(30)]
    path = small_stream("tiny.jsonl", recs)
    m = eval_run("--prequential", path)
    assert m["comments"] == 30 and m["no_opinion"] == 30 and m["auc"] == 0.5, m
    out = os.path.join(ctx["tmp"], "tiny.scores.jsonl")
    m = eval_run("--prequential", path, "--min-learns", "1", "--scores", out)
    rows = [json.loads(l) for l in open(out, encoding="utf-8")]
    assert [r["id"] for r in rows] == ["c%d" % i for i in range(30)]  # file order
    assert not rows[0]["opinion"] and rows[0]["score"] == 0.5, rows[0]
    # c1 is the first spam: the model holds one ham, no spam yet
    assert not rows[1]["opinion"], rows[1]
    assert all(r["opinion"] for r in rows[2:]), rows
    assert m["no_opinion"] == 2 and m["auc"] > 0.95, m


def test_prequential_shuffle_is_portable_and_scores_agree():
    """--shuffle SEED replays the documented Fisher-Yates over splitmix64
    (recomputed here in Python); the same seed gives the same order, and the
    pooled and first-window AUC are the ones the scores file gives."""
    yt = os.path.join(DATA, "youtube-dev.jsonl")
    ids = [json.loads(l)["id"] for l in open(yt, encoding="utf-8")]
    outs = []
    for k in range(2):
        out = os.path.join(ctx["tmp"], "preq%d.jsonl" % k)
        m = eval_run("--prequential", yt, "--shuffle", "1", "--scores", out)
        outs.append([json.loads(l) for l in open(out, encoding="utf-8")])
    assert [r["id"] for r in outs[0]] == corpus_split.splitmix_shuffle(ids, 1)
    assert outs[0] == outs[1]
    out2 = os.path.join(ctx["tmp"], "preq-seed2.jsonl")
    eval_run("--prequential", yt, "--shuffle", "2", "--scores", out2)
    assert [json.loads(l)["id"] for l in open(out2, encoding="utf-8")] == corpus_split.splitmix_shuffle(ids, 2)
    assert m["shuffle"] == 1 and m["window"] == 100 and len(m["window_auc"]) == 11, m
    assert abs(auc_of(outs[0]) - m["auc"]) < 1e-3, (auc_of(outs[0]), m["auc"])
    assert abs(auc_of(outs[0][:100]) - m["first_window_auc"]) < 1e-3
    assert m["window_auc"][0] == m["first_window_auc"]


def test_leave_one_source_out_covers_every_source_once():
    """Each source is the new site's stream once, in the order the sources
    first appear; its comments are exactly that source's."""
    recs = []
    for i in range(90):
        src = "abc"[i % 3] if i < 60 else "c"
        recs.append(("spam" if i % 2 else "ham", "word%d %s" % (i, "buy" if i % 2 else "hi"), src))
    path = small_stream("three.jsonl", recs)
    m = eval_run("--prequential", path, "--leave-one-source-out", "--min-learns", "1",
                 "--starter-weight", "10")
    got = [(s["source"], s["comments"]) for s in m["sources"]]
    assert got == [("a", 20), ("b", 20), ("c", 50)], got
    # each stream's starter is the other sources: 70, 70 and 40 comments
    assert [s["starter"]["spam"] + s["starter"]["ham"] for s in m["sources"]] == [70, 70, 40], m
    assert abs(m["mean"]["auc"] - sum(s["auc"] for s in m["sources"]) / 3) < 1e-3, m


def test_starter_gives_an_opinion_from_the_first_comment():
    """With a starter, its capped pseudo-counts (K per class, here 50 >=
    min_learns 20) count toward min_learns: the first comment has an
    opinion, and the first window changes; K = 0 is no starter at all."""
    yt = os.path.join(DATA, "youtube-dev.jsonl")
    sms = os.path.join(DATA, "sms.jsonl")
    none = eval_run("--prequential", yt, "--shuffle", "1")
    zero = eval_run("--prequential", yt, "--shuffle", "1", "--starter", sms, "--starter-weight", "0")
    out = os.path.join(ctx["tmp"], "capped.jsonl")
    capped = eval_run("--prequential", yt, "--shuffle", "1", "--starter", sms, "--starter-weight", "50",
                      "--scores", out)
    first = json.loads(open(out, encoding="utf-8").readline())
    assert first["opinion"], first
    # without a starter the first 20 of a class get none; with it only
    # comments with no clue at all (measured: 46 against 3)
    assert none["no_opinion"] > 20 and capped["no_opinion"] < 10, (none, capped)
    assert zero["auc"] == none["auc"] and "starter" not in zero, zero
    st = capped["starter"]
    # K / class total, printed to 6 digits
    assert abs(st["scale_spam"] * st["spam"] - 50) < 1e-3 and abs(st["scale_ham"] * st["ham"] - 50) < 1e-3, st
    assert capped["first_window_auc"] != none["first_window_auc"], (capped, none)
    print("    yt stream first window AUC: empty %.4f, capped sms starter (K=50) %.4f" % (
        none["first_window_auc"], capped["first_window_auc"]))


def goal(name, got, want):
    """An issue-19 goal not asserted yet: print how far off it is."""
    print("    %s: %.4f (issue 19's goal %.3f%s)" % (name, got, want, "" if got >= want else ", not met yet"))


def test_prequential_floors():
    """Floors on the prequential figures measured at the commit that added
    them (docs/benchmarks.md), with a margin; the issue's goals are printed,
    and asserted once reached."""
    yt = os.path.join(DATA, "youtube-dev.jsonl")
    sms = os.path.join(DATA, "sms.jsonl")
    empty = eval_run("--prequential", yt, "--shuffle", "1")
    capped = eval_run("--prequential", yt, "--shuffle", "1", "--starter", sms, "--starter-weight", "50")
    smsst = eval_run("--prequential", sms, "--shuffle", "1", "--starter", yt, "--starter-weight", "50",
                     "--starter-balanced")
    lovo = eval_run("--prequential", yt, "--shuffle", "1", "--leave-one-source-out", "--starter", sms,
                    "--starter-weight", "50", "--starter-balanced")
    # measured (issue 19, calibrated naive Bayes): 0.9748, 0.9885 (first
    # window 0.9374), 0.9955, LOVO mean 0.9922; the goals 0.985 and 0.99 are
    # asserted, the first window's 0.94 is not met
    assert empty["auc"] >= 0.97, empty
    assert capped["auc"] >= 0.985 and capped["first_window_auc"] >= 0.92, capped
    assert smsst["auc"] >= 0.99, smsst
    assert lovo["mean"]["auc"] >= 0.99 and len(lovo["sources"]) == 3, lovo
    # the service's own calibration keeps the default threshold's false
    # positives low over a new site's life (measured FPR 0.0055 at 0.9)
    assert capped["fpr"] <= 0.02, capped
    goal("yt stream, capped sms starter, first 100", capped["first_window_auc"], 0.94)


def test_a_linear_svm_beside_the_counts_trades_transfer_for_the_tail():
    """eval --linear: a linear SVM (liblinear) on the same tokens, combined
    with the Bayes score by a logistic fit on scores of comments not yet
    learned (issue 19 point 8). It lifts the youtube test half's recall at
    FPR <= 1% to the goal but carries youtube to sms worse, which is why
    the service does not use it (README, docs/benchmarks.md); this test
    keeps both halves of that claim true."""
    tr, te = split_files("youtube-dev")
    lin = eval_run("--train", tr, "--test", te, "--linear")
    st = lin["linear"]["stack"]
    assert lin["linear"]["tokens"] > 1000 and st["u"] > 0 and st["v"] > 0, lin["linear"]
    # measured: AUC 0.9963, recall at FPR <= 1% 0.939 (Bayes alone 0.9954 / 0.872)
    assert lin["auc"] >= 0.99 and lin["recall_at_fpr_1pct"] >= 0.92, lin
    sms = os.path.join(DATA, "sms.jsonl")
    yt = os.path.join(DATA, "youtube-dev.jsonl")
    plain = eval_run("--train", yt, "--test", sms)
    stacked = eval_run("--train", yt, "--test", sms, "--linear")
    # measured: 0.9546 Bayes alone, 0.9326 with the SVM (the goal is 0.94)
    print("    youtube -> sms: AUC %.4f Bayes alone, %.4f with the SVM" % (plain["auc"], stacked["auc"]))
    assert stacked["auc"] < plain["auc"], (plain["auc"], stacked["auc"])
    cv = eval_run("--train", tr, "--cv", "5", "--linear")
    assert cv["linear"]["stack_fits"] == 5, cv["linear"]
    pq = eval_run("--prequential", tr, "--shuffle", "1", "--linear")
    lp = pq["linear"]
    assert lp["builds"] >= 10 and lp["stack_fits"] >= 1 and lp["stack_last"]["v"] > 0, lp
    p = eval_run("--train", tr, "--test", te, "--linear", "--calibration", "1,0", ok=False)
    assert p.returncode == 2 and "usage" in p.stderr, p.stderr


def test_prequential_bad_usage_is_refused():
    yt = os.path.join(DATA, "youtube-dev.jsonl")
    for args in (["--starter-weight", "-1"], ["--shuffle", "x"], ["--train", yt], ["--cv", "5"],
                 ["--rank", "bogus"]):
        p = eval_run("--prequential", yt, *args, ok=False)
        assert p.returncode == 2 and "usage" in p.stderr, (args, p.stderr)
    p = eval_run("--train", yt, "--test", yt, "--leave-one-source-out", ok=False)
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
