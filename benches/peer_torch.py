#!/usr/bin/env python3
"""PyTorch peer of `dbn bench`: the same work, timed in the same run.

Usage: peer_torch.py [--device cpu|cuda] WORKLOAD [ARGS...]; prints one JSON object
{"seconds": s, "threads": t}. On cuda every timing waits for the GPU to finish.

  cd1 N_VISIBLE N_HIDDEN BATCH EXAMPLES      one CD-1 epoch on random Bernoulli(0.2) data
  pretrain SIZES BATCH EXAMPLES              one CD-1 epoch of every layer of a DBN, greedily,
                                             each layer on P(h | v) of the one below
                                             (SIZES like 784-500-500-2000)
  peak                                       SGEMM throughput, 2048x2048 times 2048x2048
                                             (prints {"gflops": g, "threads": t})
  finetune SIZES BATCH EXAMPLES [PIXELS HIDDEN]
                                             one epoch of SGD with momentum and softmax
                                             cross-entropy on a sigmoid net (SIZES like
                                             784-500-500-2000-10), with dropout of the pixels
                                             and of the hidden units when given

Every CD-1 step does the work of dbn's step: five GEMMs, sigmoid, one Bernoulli draw, momentum
and weight decay. On the CPU denormal floats are flushed to zero, as dbn does. Exits with
status 3 and a message on stderr when PyTorch is not installed.
"""
import json
import sys
import time

try:
    import torch
except ImportError:
    print("PyTorch is not installed (pip install torch)", file=sys.stderr)
    sys.exit(3)


DEVICE = "cpu"


def sync():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def generator():
    return torch.Generator(device=DEVICE).manual_seed(0)


def bernoulli_data(n, nv, gen):
    return (torch.rand(n, nv, generator=gen, device=DEVICE) < 0.2).float()


class Rbm:
    def __init__(self, nv, nh, gen):
        self.w = torch.randn(nv, nh, generator=gen, device=DEVICE) * 0.01
        self.a = torch.zeros(nv, device=DEVICE)
        self.b = torch.zeros(nh, device=DEVICE)
        self.vw = torch.zeros_like(self.w)
        self.va = torch.zeros_like(self.a)
        self.vb = torch.zeros_like(self.b)

    def hidden(self, v):
        return torch.sigmoid(torch.addmm(self.b, v, self.w))

    def step(self, v0, gen, lr=0.1, momentum=0.5, decay=0.0002):
        # In-place updates and fused multiply-adds (addmm_): the fastest plain PyTorch form.
        c = lr / v0.shape[0]
        h0 = self.hidden(v0)
        hs = (torch.rand(h0.shape, generator=gen, device=DEVICE) < h0).float()
        v1 = torch.sigmoid(torch.addmm(self.a, hs, self.w.t()))
        h1 = self.hidden(v1)
        self.vw.mul_(momentum).addmm_(v0.t(), h0, alpha=c).addmm_(v1.t(), h1, alpha=-c)
        self.vw.add_(self.w, alpha=-lr * decay)
        self.va.mul_(momentum).add_((v0 - v1).sum(0), alpha=c)
        self.vb.mul_(momentum).add_((h0 - h1).sum(0), alpha=c)
        self.w.add_(self.vw)
        self.a.add_(self.va)
        self.b.add_(self.vb)

    def epoch(self, data, batch, gen):
        for i in range(data.shape[0] // batch):
            self.step(data[i * batch:(i + 1) * batch], gen)


def timed(f):
    sync()
    start = time.perf_counter()
    f()
    sync()
    return time.perf_counter() - start


def cd1(nv, nh, batch, n):
    gen = generator()
    data = bernoulli_data(n, nv, gen)
    rbm = Rbm(nv, nh, gen)
    rbm.epoch(data[: 5 * batch], batch, gen)  # warm-up
    return timed(lambda: rbm.epoch(data, batch, gen))


def pretrain(sizes, batch, n):
    gen = generator()
    data = bernoulli_data(n, sizes[0], gen)
    rbms = [Rbm(nv, nh, gen) for nv, nh in zip(sizes, sizes[1:])]

    def run():
        x = data
        for rbm in rbms[:-1]:
            rbm.epoch(x, batch, gen)
            x = rbm.hidden(x)
        rbms[-1].epoch(x, batch, gen)  # the top RBM's hidden layer feeds nothing

    return timed(run)


def finetune(sizes, batch, n, pixels=0.0, hidden=0.0):
    gen = generator()
    data = bernoulli_data(n, sizes[0], gen)
    labels = torch.randint(0, sizes[-1], (n,), generator=gen, device=DEVICE)
    layers = [torch.nn.Dropout(pixels)] if pixels > 0 else []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.Sigmoid())
            if hidden > 0:
                layers.append(torch.nn.Dropout(hidden))
    net = torch.nn.Sequential(*layers).to(DEVICE)
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        perm = torch.randperm(n, generator=gen, device=DEVICE)
        for i in range(n // batch):
            idx = perm[i * batch:(i + 1) * batch]
            opt.zero_grad()
            loss = loss_fn(net(data[idx]), labels[idx])
            loss.backward()
            opt.step()

    return timed(run)


def peak(n=2048, reps=20):
    a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
    for _ in range(3):
        a @ b
    return 2 * n**3 * reps / timed(lambda: [a @ b for _ in range(reps)]) / 1e9


def main(argv):
    global DEVICE
    if argv[:1] == ["--device"]:
        DEVICE, argv = argv[1], argv[2:]
    if DEVICE == "cpu":
        # dbn runs with denormal floats flushed to zero (docs/performance.md, attempt 29);
        # the peer too, so that both do the same arithmetic.
        torch.set_flush_denormal(True)
    sizes = lambda s: [int(x) for x in s.split("-")]
    work = argv[0]
    if work == "peak":
        print(json.dumps({"gflops": peak(), "threads": torch.get_num_threads()}))
        return 0
    if work == "cd1":
        nv, nh, batch, n = map(int, argv[1:5])
        seconds = cd1(nv, nh, batch, n)
    elif work == "pretrain":
        seconds = pretrain(sizes(argv[1]), int(argv[2]), int(argv[3]))
    elif work == "finetune":
        rates = [float(p) for p in argv[4:6]]
        seconds = finetune(sizes(argv[1]), int(argv[2]), int(argv[3]), *rates)
    else:
        print(f"unknown workload {work!r}", file=sys.stderr)
        return 2
    print(json.dumps({"seconds": seconds, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    with torch.enable_grad() if "finetune" in sys.argv else torch.no_grad():
        sys.exit(main(sys.argv[1:]))
