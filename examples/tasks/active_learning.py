"""One round of a toy active-learning loop (TRAIN -> INFER -> SELECT -> LABEL),
standard library only. The step to run is the first argument; inputs come
from the JSON file named by BATON_INPUTS, outputs go to BATON_OUTPUTS.

The "world" is a 1-D classification problem: points in [0, 1] whose true
label is 1 above a hidden threshold derived from the seed. The model is a
threshold; the querying strategy picks the points the model is least sure of.
"""
import json
import os
import random
import sys


def hidden_threshold(seed):
    return 0.2 + 0.6 * random.Random(seed * 7919).random()


def oracle(seed, x):
    return 1 if x >= hidden_threshold(seed) else 0


def pool(inp):
    rng = random.Random(inp["seed"])
    points = sorted(round(rng.random(), 4) for _ in range(inp["size"]))
    # A few labels to start from: the extremes, which are always easy.
    seed_points = [points[0], points[-1]]
    labeled = [{"x": x, "label": oracle(inp["seed"], x)} for x in seed_points]
    print(f"made a pool of {len(points)} points and {len(labeled)} seed labels")
    return {"points": points, "labeled": labeled}


def train(inp):
    labeled = inp["labeled"]
    below = [p["x"] for p in labeled if p["label"] == 0]
    above = [p["x"] for p in labeled if p["label"] == 1]
    lo = max(below) if below else 0.0
    hi = min(above) if above else 1.0
    threshold = (lo + hi) / 2
    print(f"trained on {len(labeled)} labels: threshold {threshold:.4f} (between {lo} and {hi})")
    return {"model": {"threshold": threshold, "trained_on": len(labeled)}}


def infer(inp):
    t = inp["model"]["threshold"]
    scores = [abs(x - t) for x in inp["points"]]
    print(f"scored {len(scores)} points against threshold {t:.4f}")
    return {"scores": scores}


def select(inp):
    ranked = sorted(zip(inp["scores"], inp["points"]))
    queries = [x for _, x in ranked[: inp["k"]]]
    print(f"selected the {len(queries)} least certain points: {queries}")
    return {"queries": queries}


def label(inp):
    new = [{"x": x, "label": oracle(inp["seed"], x)} for x in inp["queries"]]
    print(f"labeled {len(new)} points")
    return {"labeled": inp["labeled"] + new}


def evaluate(inp):
    t = inp["model"]["threshold"]
    points = inp["points"]
    correct = sum(1 for x in points if (1 if x >= t else 0) == oracle(inp["seed"], x))
    accuracy = correct / len(points)
    print(f"accuracy {accuracy:.3f} (hidden threshold {hidden_threshold(inp['seed']):.4f})")
    return {"accuracy": accuracy}


STEPS = {f.__name__: f for f in (pool, train, infer, select, label, evaluate)}

if __name__ == "__main__":
    with open(os.environ["BATON_INPUTS"]) as f:
        inputs = json.load(f)
    outputs = STEPS[sys.argv[1]](inputs)
    with open(os.environ["BATON_OUTPUTS"], "w") as f:
        json.dump(outputs, f)
