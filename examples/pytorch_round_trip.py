#!/usr/bin/env python3
"""PyTorch round trip: does PyTorch, given pathkernel's run directory, take the same steps and
find the same per-step decomposition?

    pathkernel train --data data/iris.csv --targets species --arch 4-16-3 --loss cross_entropy \\
        --standardize --lr 0.1 --steps 300 --out iris-run
    pathkernel decompose --run iris-run --second-order complex
    python3 examples/pytorch_round_trip.py --run iris-run

1. Trajectory: starting from the same w_0 (row 0 of weights.npy), PyTorch trains the same network
   in float64 on the same data, batches and learning rates, with the losses written as pathkernel
   defines them (docs/conventions.md), and its weights after every step are compared with
   weights.npy.
2. Decomposition: at pathkernel's own w_k and dw_k = w_{k+1} - w_k (so that step k's comparison
   is not blurred by differences accumulated over earlier steps), PyTorch computes
   df = f(w_{k+1}) - f(w_k), F1 = J dw (a forward-mode jvp) and F2 = 1/2 d^2/dt^2 f(w_k + t dw)
   at t = 0 (a jvp of a jvp) at the report's query points, and compares them with steps.csv.

Disagreements are relative to the largest |df| of the run (trajectory: to the largest |w|). The
exit status is 1 when one exceeds --tolerance, 2 when the run cannot be reproduced here.
Uses only torch and numpy (torch >= 1.13: torch.func, or functorch on 1.13).
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import torch

try:
    from torch.func import jvp
except ImportError:  # torch 1.13 ships the same transforms as functorch
    from functorch import jvp

torch.set_default_dtype(torch.float64)


def fail(message):
    print("pytorch_round_trip: " + message, file=sys.stderr)
    sys.exit(2)


def activation(name):
    table = {
        "tanh": torch.tanh,
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "softplus": torch.nn.functional.softplus,
        "gelu": torch.nn.functional.gelu,  # exact (erf) form, as pathkernel's
        "identity": lambda x: x,
    }
    if name not in table:
        fail("activation '%s' is not one this script knows" % name)
    return table[name]


def make_network(widths, act):
    """nn.Linear layers with the activation between them: pathkernel's 'mlp' models."""
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(_Activation(act))
    return torch.nn.Sequential(*layers)


class _Activation(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def functional_forward(widths, act):
    """f(x; w) with w the flat vector laid out as parameters_to_vector of the nn.Linear layers:
    per layer W (out x in, row-major), then b."""

    def f(w, x):
        h, at = x, 0
        for i in range(len(widths) - 1):
            n_in, n_out = widths[i], widths[i + 1]
            W = w[at:at + n_out * n_in].reshape(n_out, n_in)
            at += n_out * n_in
            b = w[at:at + n_out]
            at += n_out
            h = h @ W.T + b
            if i + 2 < len(widths):
                h = act(h)
        return h

    return f


def loss_function(name):
    """The batch loss L = (1/|B|) sum_m l(y*_m, y_m) with pathkernel's per-sample l."""
    if name == "mse":  # 1/2 |y - t|^2 summed over outputs (MSELoss has no 1/2 and averages outputs)
        return lambda y, t: 0.5 * ((y - t) ** 2).sum(dim=1).mean()
    if name == "binary_cross_entropy":  # with logits, summed over outputs
        return lambda y, t: torch.nn.functional.binary_cross_entropy_with_logits(
            y, t, reduction="none").sum(dim=1).mean()
    if name == "softmax_cross_entropy":  # targets are class indices in one column
        return lambda y, t: torch.nn.functional.cross_entropy(y, t[:, 0].long())
    fail("loss '%s' is not one this script knows" % name)


def read_steps_csv(path):
    """steps.csv as a dict of float arrays (NaN for empty cells), in file order."""
    columns = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [[float(cell) if cell != "" else np.nan for cell in row] for row in reader]
    data = np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    for i, name in enumerate(header):
        columns[name] = data[:, i]
    return columns


def read_query_points(report, run):
    path = os.path.join(report, "query_points.csv")
    if os.path.exists(path):
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        return table[:, 1:]
    # Reports written without query_points.csv were decomposed at the training inputs.
    return np.load(os.path.join(run, "training_inputs.npy"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a run directory written by `pathkernel train`")
    parser.add_argument("--report", help="its report from `pathkernel decompose` [default: RUN/report]")
    parser.add_argument("--tolerance", type=float, default=1e-9,
                        help="largest relative disagreement accepted [default: 1e-9]")
    args = parser.parse_args()
    run, report = args.run, args.report or os.path.join(args.run, "report")

    with open(os.path.join(run, "run.json")) as f:
        meta = json.load(f)
    if meta.get("format") != "pathkernel-run" or meta.get("version") != 2:
        fail("%s: not a version 2 run directory" % run)
    # The model from its layer list: linear layers with one activation between each pair.
    layers = meta["model"]["layers"] or []
    linear = [layer for layer in layers if layer["type"] == "linear"]
    others = [layer["type"] for layer in layers if layer["type"] != "linear"]
    if not linear or len(linear) + len(others) != len(layers) or len(set(others)) > 1:
        fail("model '%s' is not an MLP this script rebuilds" % meta["model"]["name"])
    widths = [linear[0]["in"]] + [layer["out"] for layer in linear]
    act = activation(others[0] if others else "identity")
    if meta["optimizer"]["name"] != "gradient_descent":
        fail("optimizer '%s': this script reproduces plain gradient descent only" % meta["optimizer"]["name"])

    weights = np.load(os.path.join(run, "weights.npy"))            # (N+1, D)
    rates = np.load(os.path.join(run, "learning_rates.npy"))       # (N,)
    batches = np.load(os.path.join(run, "batches.npy"))            # (N, Bmax), -1 padded
    X = torch.from_numpy(np.load(os.path.join(run, "training_inputs.npy")))
    T = torch.from_numpy(np.load(os.path.join(run, "training_targets.npy")))
    steps = len(rates)
    loss = loss_function(meta["loss"])
    print("run %s: %s, loss %s, %d steps, D = %d, torch %s"
          % (run, meta["model"]["name"], meta["loss"], steps, weights.shape[1], torch.__version__))

    # 1. The trajectory, trained by PyTorch from the same w_0.
    net = make_network(widths, act)
    torch.nn.utils.vector_to_parameters(torch.from_numpy(weights[0].copy()), net.parameters())
    worst_w, worst_w_step = 0.0, -1
    w_scale = max(np.abs(weights).max(), 1e-300)
    for k in range(steps):
        rows = batches[k][batches[k] >= 0]
        net.zero_grad()
        loss(net(X[rows]), T[rows]).backward()
        with torch.no_grad():
            for p in net.parameters():
                p -= rates[k] * p.grad
        w = torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy()
        gap = np.abs(w - weights[k + 1]).max() / w_scale
        if gap > worst_w:
            worst_w, worst_w_step = gap, k + 1
    print("trajectory: max |w_torch - w_pathkernel| / max |w| = %.3g (at w_%d)" % (worst_w, worst_w_step))

    # 2. The decomposition at the report's query points.
    s = read_steps_csv(os.path.join(report, "steps.csv"))
    Q = torch.from_numpy(read_query_points(report, run))
    P, C = Q.shape[0], widths[-1]
    if len(s["df"]) != steps * P * C:
        fail("steps.csv has %d rows, expected %d steps x %d queries x %d outputs" % (len(s["df"]), steps, P, C))
    shape = (steps, P, C)
    pk = {name: s[name].reshape(shape) for name in ("df", "first_order", "second_order", "remainder1")}
    f = functional_forward(widths, act)
    mine = {name: np.zeros(shape) for name in pk}
    for k in range(steps):
        wk = torch.from_numpy(weights[k].copy())
        dw = torch.from_numpy(weights[k + 1] - weights[k])
        f_k, F1 = jvp(lambda w: f(w, Q), (wk,), (dw,))
        df = f(torch.from_numpy(weights[k + 1].copy()), Q) - f_k
        # d^2/dt^2 f(w + t dw) at t = 0 = dw^T H dw, the jvp of the jvp along dw.
        _, dHd = jvp(lambda w: jvp(lambda v: f(v, Q), (w,), (dw,))[1], (wk,), (dw,))
        mine["df"][k] = df.numpy()
        mine["first_order"][k] = F1.numpy()
        mine["second_order"][k] = 0.5 * dHd.numpy()
        mine["remainder1"][k] = (df - F1).numpy()

    scale = max(np.nanmax(np.abs(pk["df"])), 1e-300)
    print("decomposition at %d query points x %d outputs, relative to max |df| = %.3g:" % (P, C, scale))
    worst = worst_w
    for name in ("df", "first_order", "second_order", "remainder1"):
        computed = ~np.isnan(pk[name])
        if not computed.any():
            print("  %-13s not computed by pathkernel in this report" % name)
            continue
        gap = np.abs(mine[name][computed] - pk[name][computed]).max() / scale
        worst = max(worst, gap)
        print("  %-13s max |torch - pathkernel| / max |df| = %.3g over %d values"
              % (name, gap, int(computed.sum())))
    ok = worst <= args.tolerance
    print("largest relative disagreement %.3g: %s (tolerance %g)" % (worst, "agree" if ok else "DISAGREE", args.tolerance))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
