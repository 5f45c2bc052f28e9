"""One Collatz step: x / 2 when x is even, 3x + 1 when it is odd."""
import json
import os

with open(os.environ["BATON_INPUTS"]) as f:
    inputs = json.load(f)
x = inputs["x"]
step = x // 2 if x % 2 == 0 else 3 * x + 1
print(f"{x} -> {step}")
with open(os.environ["BATON_OUTPUTS"], "w") as f:
    json.dump({"x": step}, f)
