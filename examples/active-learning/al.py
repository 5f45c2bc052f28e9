"""Active learning on scikit-learn's digits, as Baton process tasks.

One script, one subcommand per task: `prepare`, `train`, `infer`,
`select STRATEGY`, `label`, `merge`, `evaluate`; and `show` for a person
labeling at a gate: `al.py show DATASET.npz INDEX...` draws the picked
points (`--reveal` also prints the oracle's labels, to try the round trip). Each reads its inputs from the
JSON file at $BATON_INPUTS and writes its outputs to $BATON_OUTPUTS; blob
inputs arrive as local paths, blob outputs are files left in
$BATON_OUTPUT_DIR. The dataset ships inside scikit-learn: nothing is
downloaded.

Blobs:
  dataset.npz   x_pool, y_pool (the oracle's hidden labels), x_test, y_test
  labeled.npz   idx (indices into the pool), y (their labels), rounds
  model.npz     coef, intercept, classes (a logistic regression)
  probs.npy     class probabilities of every pool point
"""

import json
import os
import sys

import numpy as np

OUT = os.environ.get("BATON_OUTPUT_DIR", ".")
CLASSES = 10


def inputs():
    with open(os.environ["BATON_INPUTS"]) as f:
        return json.load(f)


def outputs(values):
    with open(os.environ["BATON_OUTPUTS"], "w") as f:
        json.dump(values, f)


def out(name):
    return os.path.join(OUT, name)


def save_npz(name, **arrays):
    # np.savez adds ".npz" to a name without it; write to a file object so
    # the blob is the file Baton expects.
    with open(out(name), "wb") as f:
        np.savez(f, **arrays)


def prepare(i):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    rng = np.random.default_rng(i["seed"])
    order = rng.permutation(len(y))
    n_test = int(len(y) * i["test_fraction"])
    test, pool = order[:n_test], order[n_test:]
    save_npz("dataset", x_pool=x[pool], y_pool=y[pool], x_test=x[test], y_test=y[test])
    # The first labels: one of each class, then random ones, so that the
    # first model knows every class.
    y_pool = y[pool]
    first = [int(np.flatnonzero(y_pool == c)[0]) for c in range(CLASSES)]
    rest = [j for j in rng.permutation(len(pool)) if j not in set(first)]
    idx = np.array(first + rest[: max(0, i["initial"] - CLASSES)], dtype=np.int64)
    save_npz("labeled", idx=idx, y=y_pool[idx], rounds=np.int64(0))
    outputs({"labels_used": int(len(idx))})


def load(path):
    return np.load(path, allow_pickle=False)


def train(i):
    from sklearn.linear_model import LogisticRegression

    data, labeled = load(i["dataset"]), load(i["labeled"])
    x, y = data["x_pool"][labeled["idx"]], labeled["y"]
    model = LogisticRegression(C=i["c"], max_iter=2000, random_state=i["seed"])
    model.fit(x, y)
    save_npz("model", coef=model.coef_, intercept=model.intercept_, classes=model.classes_)
    outputs({"labels_used": int(len(y))})


def predict_proba(model, x):
    logits = x @ model["coef"].T + model["intercept"]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    full = np.zeros((len(x), CLASSES))
    full[:, model["classes"]] = p
    return full


def infer(i):
    data, model = load(i["dataset"]), load(i["model"])
    probs = predict_proba(model, data["x_pool"])
    with open(out("probs"), "wb") as f:
        np.save(f, probs)
    outputs({})


def evaluate(i):
    data, model = load(i["dataset"]), load(i["model"])
    predicted = predict_proba(model, data["x_test"]).argmax(axis=1)
    outputs({"accuracy": float((predicted == data["y_test"]).mean())})


def margin_scores(probs):
    top = np.sort(probs, axis=1)
    # Higher is more worth labeling: a small gap between the two best.
    return -(top[:, -1] - top[:, -2])


def select(i, strategy):
    probs = np.load(i["probs"])
    labeled = load(i["labeled"])
    unlabeled = np.setdiff1d(np.arange(len(probs)), labeled["idx"])
    # Never beyond the label budget: at the budget, nothing more is picked.
    room = max(0, i["budget"] - len(labeled["idx"]))
    batch = min(i["batch"], room, len(unlabeled))
    rounds = int(labeled["rounds"])
    rng = np.random.default_rng(i["seed"] * 1000 + rounds)
    p = probs[unlabeled]
    if batch == 0:
        outputs({"picked": []})
        return
    if strategy == "random":
        picked = rng.choice(unlabeled, size=batch, replace=False)
        outputs({"picked": sorted(int(j) for j in picked)})
        return
    if strategy == "least-confidence":
        scores = 1.0 - p.max(axis=1)
    elif strategy == "margin":
        scores = margin_scores(p)
    elif strategy == "entropy":
        scores = -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=1)
    elif strategy == "flips":
        # Points whose predicted class changed most often over every
        # iteration so far; ties go to the smallest margin. It reads the
        # whole history of INFER outputs, one per earlier iteration.
        past = i["past"]
        if len(past) != rounds:
            sys.exit(
                f"select flips: expected the INFER outputs of all {rounds} earlier "
                f"iterations, got {len(past)}"
            )
        history = [np.load(path) for path in past] + [probs]
        for h in history:
            if h.shape != probs.shape:
                sys.exit(f"select flips: an earlier INFER output has shape {h.shape}, not {probs.shape}")
        classes = np.stack([h[unlabeled].argmax(axis=1) for h in history])
        flips = (np.diff(classes, axis=0) != 0).sum(axis=0) if len(history) > 1 else 0
        scores = flips + (margin_scores(p) + 1.0) / 2.0  # margin part in [0, 1)
        print(f"select flips: received the INFER outputs of {len(past)} earlier iterations")
    else:
        sys.exit(f"unknown strategy {strategy!r}")
    # The highest scores; a stable sort keeps the choice reproducible.
    best = unlabeled[np.argsort(-scores, kind="stable")[:batch]]
    outputs({"picked": sorted(int(j) for j in best)})


def merge(labeled, picked, labels):
    idx = np.concatenate([labeled["idx"], np.array(picked, dtype=np.int64)])
    y = np.concatenate([labeled["y"], np.array(labels, dtype=np.int64)])
    save_npz("labeled", idx=idx, y=y, rounds=np.int64(int(labeled["rounds"]) + 1))
    outputs({"labels_used": int(len(idx))})


def label(i):
    """The oracle: reveals the held-out labels of the picked points."""
    data, labeled = load(i["dataset"]), load(i["labeled"])
    picked = i["picked"]
    merge(labeled, picked, [int(data["y_pool"][j]) for j in picked])


def merge_labels(i):
    """After a person labeled the picked points (a gate's signal)."""
    labeled, picked, labels = load(i["labeled"]), i["picked"], i["labels"]
    if len(labels) != len(picked):
        sys.exit(f"merge: {len(labels)} labels for {len(picked)} picked points")
    bad = [v for v in labels if not 0 <= v < CLASSES]
    if bad:
        sys.exit(f"merge: labels must be digits 0-9, got {bad}")
    merge(labeled, picked, labels)


def show(args):
    """For a person at the labeling gate: each picked pool point as an 8x8
    picture. With --reveal, the oracle's labels last, as the JSON list a
    signal takes."""
    reveal = "--reveal" in args
    args = [a for a in args if a != "--reveal"]
    if not args:
        sys.exit("usage: al.py show DATASET.npz INDEX... [--reveal]")
    data = np.load(args[0])
    picked = [int(j) for j in " ".join(args[1:]).replace(",", " ").strip("[] ").split()]
    shades = " .:-=+*#%@"
    for j in picked:
        print(f"point {j}:")
        for row in data["x_pool"][j].reshape(8, 8):
            print("  " + "".join(shades[min(9, int(v * 10))] * 2 for v in row))
    if reveal:
        print(json.dumps([int(data["y_pool"][j]) for j in picked]))


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "show":
        return show(sys.argv[2:])
    i = inputs()
    if command == "prepare":
        prepare(i)
    elif command == "train":
        train(i)
    elif command == "infer":
        infer(i)
    elif command == "select" and len(sys.argv) == 3:
        select(i, sys.argv[2])
    elif command == "label":
        label(i)
    elif command == "merge":
        merge_labels(i)
    elif command == "evaluate":
        evaluate(i)
    else:
        sys.exit(f"usage: al.py prepare|train|infer|select STRATEGY|label|merge|evaluate|show (got {sys.argv[1:]})")


if __name__ == "__main__":
    main()
