"""Writes data/digits.csv from scikit-learn's copy of the UCI handwritten digits (8x8, 0-16).

Pixels are divided by 16 and printed as the shortest decimal that reads back to the same float64
(Python's repr); the label column is copied. Run: python3 data/make_digits.py SOURCE.csv.gz
"""
import gzip
import sys

source = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
rows = []
with gzip.open(source, "rt") as f:
    for line in f:
        values = [int(float(v)) for v in line.strip().split(",")]
        if len(values) != 65:
            raise SystemExit(f"{source}: a row of {len(values)} values, expected 65")
        pixels = [repr(v / 16.0) for v in values[:64]]
        pixels = [p[:-2] if p.endswith(".0") else p for p in pixels]
        rows.append(",".join(pixels + [str(values[64])]))
with open("data/digits.csv", "w") as out:
    out.write(",".join([f"p{i}" for i in range(64)] + ["label"]) + "\n")
    out.write("\n".join(rows) + "\n")
print(len(rows), "images")
