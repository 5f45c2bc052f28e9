"""Squares an int: the smallest process task. Reads its inputs from the JSON
file named by BATON_INPUTS and writes its outputs to BATON_OUTPUTS."""
import json
import os

with open(os.environ["BATON_INPUTS"]) as f:
    inputs = json.load(f)
x = inputs["x"]
print(f"squaring {x}")
with open(os.environ["BATON_OUTPUTS"], "w") as f:
    json.dump({"y": x * x}, f)
