"""Adds two ints."""
import json
import os

with open(os.environ["BATON_INPUTS"]) as f:
    inputs = json.load(f)
total = inputs["a"] + inputs["b"]
print(f"{inputs['a']} + {inputs['b']} = {total}")
with open(os.environ["BATON_OUTPUTS"], "w") as f:
    json.dump({"sum": total}, f)
