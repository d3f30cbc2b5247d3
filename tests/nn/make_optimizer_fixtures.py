#!/usr/bin/python3
"""Writes tests/nn/fixtures/optimizers/: 50 full-batch steps of torch.optim on a small MLP.

Run with a Python that has PyTorch (Debian's python3-torch 1.13, CPU), from the repository root:
    /usr/bin/python3 tests/nn/make_optimizer_fixtures.py
The GoogleTest in optimizer_fixture_test.cpp trains the same network here from the same weights
with the same constants and compares every w_k. The constants below must match that test.
"""
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optimizers")
STEPS = 50

# name -> (constructor, constants); the same table is in optimizer_fixture_test.cpp.
RUNS = {
    "gd_weight_decay": (torch.optim.SGD, dict(lr=0.1, weight_decay=0.01)),
    "momentum": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.001)),
    "nesterov": (torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True)),
    "adam": (torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.001)),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, betas=(0.85, 0.99), eps=1e-6, weight_decay=0.05)),
}


def network():
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8),
                               torch.nn.Tanh(), torch.nn.Linear(8, 1))


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20261204)
    x = torch.rand(16, 2, generator=gen) * 4 - 2
    y = torch.sin(x[:, :1] * 1.5) * torch.cos(x[:, 1:])
    torch.manual_seed(3)
    w0 = torch.nn.utils.parameters_to_vector(network().parameters()).detach().clone()
    np.save(os.path.join(OUT, "inputs.npy"), x.numpy())
    np.save(os.path.join(OUT, "targets.npy"), y.numpy())
    np.save(os.path.join(OUT, "w0.npy"), w0.numpy())
    for name, (make, constants) in RUNS.items():
        net = network()
        torch.nn.utils.vector_to_parameters(w0.clone(), net.parameters())
        opt = make(net.parameters(), **constants)
        path = [w0.numpy().copy()]
        for _ in range(STEPS):
            opt.zero_grad()
            # pathkernel's mse: 1/2 |f - y|^2 averaged over the batch.
            loss = 0.5 * ((net(x) - y) ** 2).sum() / x.shape[0]
            loss.backward()
            opt.step()
            path.append(torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy().copy())
        np.save(os.path.join(OUT, name + ".npy"), np.stack(path))


if __name__ == "__main__":
    main()
