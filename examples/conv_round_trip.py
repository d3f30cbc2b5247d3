#!/usr/bin/env python3
"""Checks a pathkernel report against PyTorch, float64, from the same network, data, initial
weights and learning rates.

    python3 examples/conv_round_trip.py RUN_DIR REPORT_DIR [--queries FILE.csv]

RUN_DIR is the run directory of `pathkernel train` (full-batch gradient descent), REPORT_DIR the
report of `pathkernel decompose --run RUN_DIR --second-order every` (with the same --queries, if
any). The network is rebuilt from run.json's layer list, trained again here from w_0 with the
recorded learning rates, and for every step and query point it computes
    df = f(x; w_{k+1}) - f(x; w_k),  F1 = J(x; w_k) dw,  F2 = 1/2 d^2/dt^2 f(x; w_k + t dw) at 0
with dw = w_{k+1} - w_k, by forward-mode derivatives (functorch.jvp, jvp of jvp for F2), and
prints the largest relative difference of each to the report's steps.csv. Needs torch and numpy.
"""
import argparse
import csv
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

try:
    from torch.func import jvp
except ImportError:  # PyTorch 1.13 ships the same function in functorch
    from functorch import jvp

torch.set_default_dtype(torch.float64)


def forward_fn(model):
    """f(w, x) for the flat parameter vector w (parameters_to_vector of the nn.Sequential)."""
    shape = list(model["input_shape"])
    layers = model["layers"]

    def f(w, x):
        h = x.reshape([x.shape[0]] + shape)
        at = 0
        for layer in layers:
            t = layer["type"]
            if t == "linear":
                n_in, n_out = layer["in"], layer["out"]
                weight = w[at:at + n_in * n_out].reshape(n_out, n_in)
                bias = w[at + n_in * n_out:at + (n_in + 1) * n_out]
                at += (n_in + 1) * n_out
                h = F.linear(h, weight, bias)
            elif t == "conv2d":
                n_in, n_out, k = layer["in"], layer["out"], layer["kernel"]
                size = n_out * n_in * k * k
                weight = w[at:at + size].reshape(n_out, n_in, k, k)
                bias = w[at + size:at + size + n_out]
                at += size + n_out
                h = F.conv2d(h, weight, bias, stride=layer["stride"], padding=layer["padding"])
            elif t == "avg_pool2d":
                h = F.avg_pool2d(h, layer["kernel"], layer["stride"])
            elif t == "max_pool2d":
                h = F.max_pool2d(h, layer["kernel"], layer["stride"])
            elif t == "flatten":
                h = h.reshape(h.shape[0], -1)
            elif t == "tanh":
                h = torch.tanh(h)
            elif t == "relu":
                h = torch.relu(h)
            elif t == "sigmoid":
                h = torch.sigmoid(h)
            elif t == "softplus":
                h = F.softplus(h)
            elif t == "gelu":
                h = F.gelu(h)
            elif t != "identity":
                raise SystemExit(f"run.json: unknown layer type {t}")
        assert at == w.numel(), "the layers do not use every parameter"
        return h

    return f


def loss_fn(name, y, targets):
    if name == "softmax_cross_entropy":
        return F.cross_entropy(y, targets[:, 0].long())
    if name == "mse":
        return 0.5 * ((y - targets) ** 2).sum(dim=1).mean()
    if name == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(y, targets, reduction="none").sum(dim=1).mean()
    raise SystemExit(f"run.json: loss {name} is not handled here")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("report")
    p.add_argument("--queries", help="the CSV file given to decompose --queries (raw inputs, one header row)")
    a = p.parse_args()
    run = json.load(open(os.path.join(a.run, "run.json")))
    if not run["batches"]["full_batch"] or run["optimizer"]["name"] not in ("gd", "gradient_descent"):
        raise SystemExit("this check replays full-batch gradient descent only")
    x = torch.from_numpy(np.load(os.path.join(a.run, "training_inputs.npy")))
    targets = torch.from_numpy(np.load(os.path.join(a.run, "training_targets.npy")))
    recorded = np.load(os.path.join(a.run, "weights.npy"))
    rates = np.load(os.path.join(a.run, "learning_rates.npy"))
    f = forward_fn(run["model"])
    if a.queries:
        q = torch.tensor(np.loadtxt(a.queries, delimiter=",", skiprows=1, ndmin=2))
        s = run["data"]["standardization"]
        if s:
            q = (q - torch.tensor(s["mean"])) / torch.tensor(s["std"])
    else:
        q = x

    # PyTorch's own trajectory from the recorded w_0 and learning rates.
    ws = [torch.from_numpy(recorded[0].copy())]
    for k in range(len(rates)):
        w = ws[-1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(run["loss"], f(w, x), targets), w)
        ws.append((ws[-1] - float(rates[k]) * g).detach())
    w_err = max(np.abs(ws[k].numpy() - recorded[k]).max() for k in range(len(ws))) / np.abs(recorded).max()

    df, f1, f2 = [], [], []
    fq = lambda w: f(w, q)
    for k in range(len(rates)):
        dw = ws[k + 1] - ws[k]
        df.append(fq(ws[k + 1]) - fq(ws[k]))
        f1.append(jvp(fq, (ws[k],), (dw,))[1])
        first = lambda w: jvp(fq, (w,), (dw,))[1]
        f2.append(0.5 * jvp(first, (ws[k],), (dw,))[1])
    ours = {"df": torch.stack(df), "first_order": torch.stack(f1), "second_order": torch.stack(f2)}

    theirs = {name: torch.zeros_like(ours["df"]) for name in ours}
    with open(os.path.join(a.report, "steps.csv")) as fh:
        for row in csv.DictReader(fh):
            k, i, c = int(row["step"]), int(row["query"]), int(row["output"])
            for name in theirs:
                theirs[name][k, i, c] = float(row[name])
    print(f"{len(rates)} steps, {q.shape[0]} query points, {ours['df'].shape[2]} outputs, D = {ws[0].numel()}")
    print(f"weights: largest difference to weights.npy {w_err:.3e} (relative to the largest weight)")
    worst = 0.0
    for name in ours:
        diff = (ours[name] - theirs[name]).abs().max().item() / theirs[name].abs().max().item()
        norm = ((ours[name] - theirs[name]).norm() / theirs[name].norm()).item()
        worst = max(worst, diff)
        print(f"{name:>13}: max |torch - pathkernel| / max |pathkernel| = {diff:.3e}; 2-norm relative {norm:.3e}")
    print("agreement to 1e-10 relative:", "yes" if worst <= 1e-10 else "NO")
    return 0 if worst <= 1e-10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
