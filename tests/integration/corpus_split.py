"""The corpus split the accuracy figures use: seeded, stratified by label.

Within each label, in sorted label order, the rows are shuffled with
random.Random("SEED:LABEL") and the first round(frac * n) go to train;
both halves keep the file's order. This is the procedure of the peers'
split in the developers' shared data, so modgate's figures and the
peers' are measured on the very same comments (same input and seed, the
same two files, byte for byte).
"""
import json
import random


def split(path, seed=1337, frac=0.7):
    """Return (train_lines, test_lines) of the JSONL file at 'path'."""
    rows, by_label = [], {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            if not raw.strip():
                continue
            label = json.loads(raw)["label"]
            by_label.setdefault(label, []).append(len(rows))
            rows.append(raw)
    train = set()
    for label in sorted(by_label):
        idx = list(by_label[label])
        random.Random(f"{seed}:{label}").shuffle(idx)
        train.update(idx[: round(frac * len(idx))])
    return ([r for i, r in enumerate(rows) if i in train],
            [r for i, r in enumerate(rows) if i not in train])


def write_split(path, train_out, test_out, seed=1337, frac=0.7):
    tr, te = split(path, seed, frac)
    for out, lines in ((train_out, tr), (test_out, te)):
        with open(out, "w", encoding="utf-8") as f:
            f.writelines(l + "\n" for l in lines)
