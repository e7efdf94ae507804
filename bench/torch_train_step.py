#!/usr/bin/python3
"""Peer for bench/train_step.sh: one fp32 training step of the same ResNet-8 as lowbit's zoo
(16/32/64 channels, CIFAR-style BasicBlocks with 1x1 conv+BN projections) in PyTorch eager mode,
same batch, optimizer (SGD momentum 0.9, Nesterov, weight decay 5e-4) and thread count.
Run with Debian's interpreter: /usr/bin/python3 bench/torch_train_step.py [batch] [threads] [steps]
TORCH_PROFILE=1 also prints torch.profiler's per-op table over 10 more steps (the counterpart of
lowbit's LB_PROFILE=1)."""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class ResNet8(nn.Module):
    def __init__(self, cin=1, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(cin, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layers = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ResNet8().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    for i in range(3 + steps):
        if i == 3:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    per_step = (time.perf_counter() - t0) / steps
    print(f"pytorch {torch.__version__} resnet8 batch {batch} threads {threads}: {1e3 * per_step:.2f} ms/step")
    if os.environ.get("TORCH_PROFILE"):
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(10):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                opt.step()
        print("per-op self time over 10 steps:")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
