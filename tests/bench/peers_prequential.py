"""peers_prequential.py - bogofilter on the prequential stream `modgate eval
--prequential` runs: each comment is scored (`bogofilter -T`), then learned
(`-s` spam, `-n` ham), in the file's order or the order of `--shuffle SEED`
(the same splitmix64 Fisher-Yates, corpus_split.splitmix_shuffle), from an
empty word list or one trained first on --starter files (at full weight:
bogofilter cannot scale a word list). It prints the figures eval prints,
defined as ../shared/peers/metrics.py and eval.c define them: AUC with ties
one half, best recall at FPR <= 0.5% and <= 1%, AUC per window of 100.
Run through peers_prequential.sh, which installs bogofilter if missing."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import corpus_split  # noqa: E402


def auc(rows):
    spam = sorted(s for s, y in rows if y)
    ham = sorted(s for s, y in rows if not y)
    if not spam or not ham:
        return None
    wins = 0.0
    for s in spam:  # ham below + half the tied ones; small streams: quadratic is fine
        wins += sum(1.0 if h < s else 0.5 if h == s else 0.0 for h in ham)
    return wins / (len(spam) * len(ham))


def recall_at(rows, fpr_max):
    nspam = sum(1 for _, y in rows if y)
    nham = len(rows) - nspam
    best, tp, fp, i = 0.0, 0, 0, 0
    rows = sorted(rows, key=lambda r: -r[0])
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j][0] == rows[i][0]:
            tp += rows[j][1]
            fp += 1 - rows[j][1]
            j += 1
        if nham and fp / nham <= fpr_max and nspam:
            best = max(best, tp / nspam)
        i = j
    return best


def message(rec):
    return ("From: peers\nSubject: comment\n\n%s\n" % rec["body"]).encode("utf-8")


def bogo(db, args, rec):
    p = subprocess.run(["bogofilter", "-d", db] + args, input=message(rec), capture_output=True)
    if p.returncode not in (0, 1, 2):
        sys.exit("bogofilter failed: %s" % p.stderr.decode(errors="replace"))
    return p.stdout.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stream")
    ap.add_argument("--shuffle", type=int)
    ap.add_argument("--starter", default="")
    a = ap.parse_args()
    recs = [json.loads(l) for l in open(a.stream, encoding="utf-8") if l.strip()]
    if a.shuffle is not None:
        recs = corpus_split.splitmix_shuffle(recs, a.shuffle)
    with tempfile.TemporaryDirectory() as db:
        for f in filter(None, a.starter.split(",")):
            for l in open(f, encoding="utf-8"):
                if l.strip():
                    r = json.loads(l)
                    bogo(db, ["-s" if r["label"] == "spam" else "-n"], r)
        rows = []
        for r in recs:
            # "S 0.999" / "H 0.01" / "U 0.5"; before its first learn bogofilter
            # has no word list and refuses: no opinion, 0.5, as eval says
            have = os.path.exists(os.path.join(db, "wordlist.db"))
            score = float(bogo(db, ["-T"], r).split()[1]) if have else 0.5
            rows.append((score, 1 if r["label"] == "spam" else 0))
            bogo(db, ["-s" if r["label"] == "spam" else "-n"], r)
    wins = [auc(rows[i:i + 100]) for i in range(0, len(rows), 100)]
    r4 = lambda x: None if x is None else round(x, 4)  # noqa: E731
    print(json.dumps({"peer": "bogofilter", "prequential": a.stream, "shuffle": a.shuffle,
                      "starter": a.starter or None, "comments": len(rows), "auc": r4(auc(rows)),
                      "recall_at_fpr_0.5pct": r4(recall_at(rows, 0.005)),
                      "recall_at_fpr_1pct": r4(recall_at(rows, 0.01)),
                      "first_window_auc": r4(wins[0]) if wins else None,
                      "window_auc": [r4(w) for w in wins]}))


if __name__ == "__main__":
    main()
