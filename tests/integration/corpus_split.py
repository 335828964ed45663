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


def splitmix_shuffle(items, seed):
    """The order `modgate eval --prequential --shuffle SEED` uses (api.md §7):
    Fisher-Yates over a splitmix64 stream (for i from n - 1 down to 1, swap
    item i with item next % (i + 1)). Tests and the peers' script replay it."""
    v, st, m64 = list(items), seed, (1 << 64) - 1
    for i in range(len(v), 1, -1):
        st = (st + 0x9e3779b97f4a7c15) & m64
        z = st
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & m64
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & m64
        z ^= z >> 31
        j = z % i
        v[i - 1], v[j] = v[j], v[i - 1]
    return v
