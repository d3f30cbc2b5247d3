#!/usr/bin/env python3
"""PyTorch float64 timings of what conv_bench.cpp computes, for the ratio: the conv net of
conv_bench.cpp on 256 8x8 images, the loss 1/(2B) sum ||f(x) - y||^2 (its value, its gradient and
a Hessian-vector product by double backward), the 256 x 256 x C x C tangent kernel (functorch:
vmap of jacrev per sample, then the contraction), one step's F1 and F2 at 32 query points (jvp
for F1, jvp of jvp for F2, batched over the queries: PyTorch's fastest route), and those at
every step of a 60-step full-batch gradient-descent run (BM_ConvDecomposition60Steps32Queries).

    /usr/bin/python3 bench/conv_bench_torch.py [--threads N]
"""
import argparse
import time

import torch
import torch.nn.functional as F

try:
    from torch.func import jacrev, jvp, vmap
except ImportError:  # PyTorch 1.13
    from functorch import jacrev, jvp, vmap

torch.set_default_dtype(torch.float64)
p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)

D = 4 * 9 + 4 + 8 * 36 + 8 + 32 * 10 + 10


def f(w, x):
    h = x.reshape(-1, 1, 8, 8)
    at = 0
    for (cin, cout) in ((1, 4), (4, 8)):
        k = cout * cin * 9
        h = F.conv2d(h, w[at:at + k].reshape(cout, cin, 3, 3), w[at + k:at + k + cout], padding=1)
        at += k + cout
        h = F.avg_pool2d(torch.tanh(h), 2)
    h = h.reshape(h.shape[0], -1)
    return F.linear(h, w[at:at + 320].reshape(10, 32), w[at + 320:at + 330])


torch.manual_seed(0)
x = torch.rand(256, 64) * 2 - 1
w = (torch.rand(D) * 2 - 1) * 0.3
dw = 1e-3 * torch.randn(D)
q = x[:32]
y = 0.5 * (torch.rand(256, 10) * 2 - 1)
v = torch.sin(1.0 + 0.37 * torch.arange(D, dtype=torch.float64))


def loss(w):
    return 0.5 * ((f(w, x) - y) ** 2).sum() / x.shape[0]


def forward():
    with torch.no_grad():
        return loss(w)


def gradient():
    wg = w.detach().requires_grad_(True)
    return torch.autograd.grad(loss(wg), wg)[0]


def hvp():
    wg = w.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(wg), wg, create_graph=True)
    return torch.autograd.grad(g @ v, wg)[0]


def best(fn, repeat):
    """The fastest of `repeat` calls, in CPU time (as the C++ benchmarks' CPU column): the
    machines these run on are shared, and time spent preempted is nobody's cost."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def kernel():
    j = vmap(jacrev(lambda w, xi: f(w, xi[None])[0]), in_dims=(None, 0))(w, x)  # 256 x C x D
    return torch.einsum("acd,bed->abce", j, j)


def step_terms():
    fq = lambda w: f(w, q)
    f1 = jvp(fq, (w,), (dw,))[1]
    f2 = 0.5 * jvp(lambda w: jvp(fq, (w,), (dw,))[1], (w,), (dw,))[1]
    return f1, f2


# The 60-step run: full-batch gradient descent on the loss above, its weights kept.
path = [w.clone()]
for _ in range(60):
    wg = path[-1].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(wg), wg)
    path.append((path[-1] - 0.5 * g).detach())


def decomposition():
    out = []
    for k in range(60):
        wk, dwk = path[k], path[k + 1] - path[k]
        fq = lambda w: f(w, q)
        f1 = jvp(fq, (wk,), (dwk,))[1]
        f2 = 0.5 * jvp(lambda w: jvp(fq, (w,), (dwk,))[1], (wk,), (dwk,))[1]
        out.append((f1, f2))
    return out


print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s), float64")
print(f"forward: {best(forward, 200) * 1e6:.0f} us")
print(f"gradient: {best(gradient, 100) * 1e6:.0f} us")
print(f"hvp (double backward): {best(hvp, 100) * 1e6:.0f} us")
print(f"tangent kernel 256 x 256 x 10 x 10: {best(kernel, 5) * 1e3:.1f} ms")
print(f"one step, F1 and F2 at 32 queries: {best(step_terms, 50) * 1e6:.0f} us")
print(f"60 steps, F1 and F2 at 32 queries every step: {best(decomposition, 5) * 1e3:.1f} ms")
