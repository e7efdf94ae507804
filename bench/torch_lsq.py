#!/usr/bin/python3
"""Peer for bench/qat_vs_torch.sh: the recipe of `lowbit qat --method lsq --backend academic` in
PyTorch, started from the same lowbit float model file, on the same data.

What it does, step by step (each mirrors a file of lowbit):
  * reads the .lbm file (docs/model-file.md): magic, version, sections, CRC-32; the graph
    section's node list, which must be lowbit's resnet8 (src/graph/zoo.c); the params section;
    the train.config section (src/train/checkpoint.c) for data, batch, optimizer, label
    smoothing, normalisation and augmentation;
  * builds the same network in PyTorch and loads every parameter by its lowbit name;
  * evaluates it in float: this must equal `lowbit eval` of the same file (the check that the
    parse and the network are right);
  * places LSQ quantizers as src/quant/plan.c does for the academic backend: per-tensor
    symmetric signed weights; one quantizer on the input of every conv/linear (shared when two
    convs read one tensor, as src/quant/apply.c does for a block's conv1 and its projection),
    unsigned after ReLU, signed on the network input; the first conv and the fc at 8 bits;
    BN stays an unfolded float op; residual adds are not quantized;
  * initialises every scale as LSQ does (src/quant/calibrate.c): weights 2*mean|w|/sqrt(qmax),
    activations 2*mean|x|/sqrt(qmax) over the first --calib training images run in float,
    evaluation mode, without augmentation;
  * fine-tunes with src/cli/cmd_qat.c's recipe: SGD (momentum and Nesterov from the float
    recipe), lr --lr cosine to 0 per step, weight decay --wd on conv/linear weights only, the
    float recipe's batch (last partial batch dropped), random crop with zero-pixel padding and
    horizontal flip, label smoothing;
  * prints one JSON line with the float and the final QAT test accuracy.
The LSQ gradient uses PyTorch's own learnable fake-quant op with grad factor 1/sqrt(N*qmax)
(N = elements of the quantized tensor, the whole batch for activations), as lowbit's kernels.
The data order and augmentation draws are PyTorch's (torch.manual_seed(--seed)), not lowbit's.

Run with Debian's interpreter (torch 1.13, numpy; no torchvision needed):
  /usr/bin/python3 bench/torch_lsq.py --model fp32.lbm [--w 4 --a 4 --epochs 5] [--limit-train N]
      [--limit-test N] [--threads T] [--seed S] [--calib 256] [--lr 0.01] [--wd 1e-4]"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FLT_EPSILON = float(np.finfo(np.float32).eps)
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # LB_FASHION_MNIST_DIR
MAX_DIMS = 6


def die(msg):
    print(f"torch_lsq.py: {msg}", file=sys.stderr)
    sys.exit(2)


# ---- the .lbm file ----------------------------------------------------------------------------
class Reader:
    def __init__(self, data, what):
        self.data, self.pos, self.what = data, 0, what

    def take(self, n):
        if self.pos + n > len(self.data):
            die(f"{self.what}: truncated")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt):
        v = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))
        return v if len(v) > 1 else v[0]

    def str(self, width):
        raw = self.take(width)
        if b"\0" not in raw:
            die(f"{self.what}: a name is not NUL-terminated")
        return raw.split(b"\0", 1)[0].decode()

    def shape(self):
        nd = self.unpack("I")
        dims = self.unpack(f"{MAX_DIMS}q")
        if nd > MAX_DIMS:
            die(f"{self.what}: shape with {nd} dimensions")
        return tuple(dims[:nd])

    def left(self):
        return len(self.data) - self.pos


def read_lbm(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        die(f"{path}: {e.strerror}")
    if len(data) < 20 or data[:8] != b"LOWBITM\n":
        die(f"{path}: not a lowbit model file")
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != crc:
        die(f"{path}: checksum mismatch")
    r = Reader(data[:-4], path)
    r.take(8)
    version, count = r.unpack("II")
    if version != 1:
        die(f"{path}: model file version {version}, this script reads version 1")
    sections = {}
    for _ in range(count):
        tag = r.str(16)
        length = r.unpack("Q")
        sections[tag] = r.take(length)
    if r.left():
        die(f"{path}: {r.left()} stray bytes after the sections")
    for need in ("graph", "params", "train.config"):
        if need not in sections:
            die(f"{path}: no '{need}' section")

    g = Reader(sections["graph"], f"{path}: graph section")
    model = g.str(64)
    n_nodes, output = g.unpack("II")
    in_shape = g.shape()
    nodes = []
    for _ in range(n_nodes - 1):
        op, name = g.str(32), g.str(64)
        n_in = g.unpack("I")
        inputs = g.unpack("4i")[:n_in]
        ia = g.unpack("16i")
        fa = g.unpack("8f")
        nodes.append({"op": op, "name": name, "inputs": inputs, "ia": ia, "fa": fa})
    if g.left():
        die(f"{path}: graph section has {g.left()} stray bytes")

    p = Reader(sections["params"], f"{path}: params section")
    n = p.unpack("I")
    table = [(p.str(96), p.shape()) for _ in range(n)]
    params = {}
    for name, shape in table:
        numel = int(np.prod(shape)) if shape else 1
        params[name] = np.frombuffer(p.take(4 * numel), dtype="<f4").reshape(shape).copy()
    if p.left():
        die(f"{path}: params section has {p.left()} stray bytes")

    cfg = read_config(Reader(sections["train.config"], f"{path}: train.config section"))
    return {"model": model, "output": output, "input_shape": in_shape, "nodes": nodes, "params": params,
            "config": cfg}


def read_config(c):
    """train.config as lb_train_config_write lays it out (char model[64], char data[256], ...)."""
    if c.unpack("I") != 1:
        die(f"{c.what}: unknown version")
    cfg = {"model": c.str(64), "data": c.str(256)}
    cfg["epochs"], cfg["batch"], cfg["eval_batch"] = c.unpack("3i")
    cfg["optim"] = c.unpack("i")  # 0 = SGD
    cfg["momentum"] = c.unpack("f")
    cfg["nesterov"] = c.unpack("i")
    cfg["weight_decay"], cfg["beta1"], cfg["beta2"], cfg["eps"] = c.unpack("4f")
    cfg["sched"] = c.unpack("i")
    cfg["lr"], cfg["min_lr"], cfg["warmup_epochs"] = c.unpack("3f")
    cfg["step_epochs"] = c.unpack("i")
    cfg["gamma"], cfg["label_smoothing"] = c.unpack("2f")
    cfg["seed"] = c.unpack("Q")
    cfg["mean"] = list(c.unpack("4f"))
    cfg["std"] = list(c.unpack("4f"))
    cfg["crop_pad"], cfg["hflip"] = c.unpack("2i")
    if c.left():
        die(f"{c.what}: {c.left()} stray bytes")
    return cfg


# ---- the network --------------------------------------------------------------------------------
class LSQ(nn.Module):
    """A per-tensor symmetric LSQ quantizer on the grid [qmin, qmax] (signed: -2^(b-1)..2^(b-1)-1,
    unsigned: 0..2^b-1, lowbit's academic spec: not narrow). Off (the identity) until calibrated.
    In calibration mode it accumulates sum |x| and the element count (float activations)."""

    def __init__(self, bits, signed):
        super().__init__()
        self.bits, self.signed = bits, signed
        self.qmin, self.qmax = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        self.scale = nn.Parameter(torch.ones(1))
        self.register_buffer("zero", torch.zeros(1))
        self.enabled = False
        self.observing = False
        self.abs_sum, self.count = 0.0, 0

    def init_scale(self, mean_abs):
        s = 2.0 * mean_abs / math.sqrt(max(self.qmax, 1))
        s = float(np.float32(s))
        if not s >= FLT_EPSILON:
            s = FLT_EPSILON
        with torch.no_grad():
            self.scale.fill_(s)

    def forward(self, x):
        if self.observing:
            self.abs_sum += float(x.detach().double().abs().sum())
            self.count += x.numel()
        if not self.enabled:
            return x
        s = self.scale.abs().clamp_min(FLT_EPSILON)  # the scale as lowbit uses it: max(|s|, FLT_EPSILON)
        grad_factor = 1.0 / math.sqrt(x.numel() * max(self.qmax, 1))
        return torch._fake_quantize_learnable_per_tensor_affine(x, s, self.zero, self.qmin, self.qmax, grad_factor)


class QConvBN(nn.Module):
    """conv (no bias, its weight through an LSQ quantizer) then BN (float, unfolded). The input
    quantizer lives with whoever owns the input tensor (it may be shared)."""

    def __init__(self, name, cin, cout, k, stride, wbits):
        super().__init__()
        self.lb_name, self.cin, self.cout, self.k, self.stride, self.pad = name, cin, cout, k, stride, k // 2
        self.conv = nn.Conv2d(cin, cout, k, stride, self.pad, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.wq = LSQ(wbits, True)

    def forward(self, xq):
        return self.bn(F.conv2d(xq, self.wq(self.conv.weight), None, self.stride, self.pad))

    def lb_nodes(self):
        ia = (self.cout, self.k, self.k, self.stride, self.stride, self.pad, self.pad, 1, 1, 1, 0)
        return [("conv2d", self.lb_name + ".conv", ia), ("batchnorm", self.lb_name + ".bn", None)]


class Block(nn.Module):
    """lowbit's BasicBlock (zoo.c): relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); the
    shortcut is a 1x1 conv+BN when the shape changes. conv1 and the projection read the same
    tensor with the same quantizer configuration, so they share one input quantizer."""

    def __init__(self, name, cin, cout, stride, abits, wbits):
        super().__init__()
        self.lb_name = name
        self.c1 = QConvBN(name + ".1", cin, cout, 3, stride, wbits)
        self.c2 = QConvBN(name + ".2", cout, cout, 3, 1, wbits)
        self.down = QConvBN(name + ".down", cin, cout, 1, stride, wbits) if stride != 1 or cin != cout else None
        self.q_in = LSQ(abits, False)  # the block input is a ReLU output: unsigned
        self.q_mid = LSQ(abits, False)

    def forward(self, x):
        xq = self.q_in(x)
        y = self.c2(self.q_mid(F.relu(self.c1(xq))))
        return F.relu(y + (self.down(xq) if self.down is not None else x))


class ResNet8(nn.Module):
    def __init__(self, cin, classes, wbits, abits):
        super().__init__()
        self.q_in = LSQ(8, True)  # the network input: signed, first layer at 8 bits
        self.stem = QConvBN("stem", cin, 16, 3, 1, 8)
        self.blocks = nn.ModuleList([Block("layer1.0", 16, 16, 1, abits, wbits), Block("layer2.0", 16, 32, 2, abits, wbits),
                                     Block("layer3.0", 32, 64, 2, abits, wbits)])
        self.q_fc = LSQ(8, False)  # the last layer at 8 bits; its input (pooled ReLU output) unsigned
        self.fc = nn.Linear(64, classes)
        self.fc_wq = LSQ(8, True)

    def forward(self, x):
        x = F.relu(self.stem(self.q_in(x)))
        for b in self.blocks:
            x = b(x)
        x = self.q_fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return F.linear(x, self.fc_wq(self.fc.weight), self.fc.bias)

    def conv_bns(self):
        out = [self.stem]
        for b in self.blocks:
            out += [b.c1, b.c2] + ([b.down] if b.down is not None else [])
        return out

    def act_quantizers(self):
        return [self.q_in, self.q_fc] + [q for b in self.blocks for q in (b.q_in, b.q_mid)]

    def weight_quantizers(self):
        return [(c.wq, c.conv.weight) for c in self.conv_bns()] + [(self.fc_wq, self.fc.weight)]

    def lb_nodes(self, classes):
        """The node list lowbit's zoo writes for resnet8: (op, name, inputs, integer attributes)."""
        nodes = []  # index i+1 in the file (node 0 is the input)

        def add(op, name, inputs, ia=None):
            nodes.append((op, name, tuple(inputs), ia))
            return len(nodes)

        def conv_bn(c, x, act):
            (op1, n1, ia1), (op2, n2, _) = c.lb_nodes()
            y = add(op2, n2, [add(op1, n1, [x], ia1)])
            return add("relu", c.lb_name + ".relu", [y]) if act else y

        x = conv_bn(self.stem, 0, True)
        for b in self.blocks:
            y = conv_bn(b.c2, conv_bn(b.c1, x, True), False)
            sc = conv_bn(b.down, x, False) if b.down is not None else x
            x = add("relu", b.lb_name + ".relu", [add("add", b.lb_name + ".add", [y, sc])])
        add("linear", "fc", [add("gap", "pool", [x])], (classes, 1))
        return nodes


def build_model(m, wbits, abits):
    if m["model"] != "resnet8":
        die(f"the model is '{m['model']}'; this script knows lowbit's resnet8 only")
    kinds = {n["op"] for n in m["nodes"]}
    if kinds & {"fakequant", "qconv2d", "qlinear"}:
        die("the model already holds quantizers; give the float model")
    cin = m["input_shape"][0]
    fcw = m["params"].get("fc.weight")
    if len(m["input_shape"]) != 3 or fcw is None:
        die("not lowbit's resnet8 layout")
    classes = fcw.shape[0]
    net = ResNet8(cin, classes, wbits, abits)
    want = net.lb_nodes(classes)
    got = m["nodes"]
    if len(want) != len(got) or m["output"] != len(want):
        die(f"the graph has {len(got)} nodes, lowbit's resnet8 has {len(want)}")
    for i, ((op, name, inputs, ia), n) in enumerate(zip(want, got)):
        if (op, name, inputs) != (n["op"], n["name"], tuple(n["inputs"])) or (ia and tuple(n["ia"][:len(ia)]) != ia):
            die(f"node {i + 1} is {n['op']} '{n['name']}' {n['inputs']} {n['ia'][:11]}; "
                f"resnet8 has {op} '{name}' {inputs} {ia}")
    # parameters by lowbit name; BN eps/momentum from the graph's nodes
    by_node = {n["name"]: n for n in m["nodes"]}
    mine = {}
    for c in net.conv_bns():
        p = c.lb_name
        mine[p + ".conv.weight"] = c.conv.weight
        for f in ("weight", "bias", "running_mean", "running_var"):
            mine[f"{p}.bn.{f}"] = getattr(c.bn, f)
        c.bn.eps, c.bn.momentum = by_node[p + ".bn"]["fa"][0], by_node[p + ".bn"]["fa"][1]
    mine["fc.weight"], mine["fc.bias"] = net.fc.weight, net.fc.bias
    if set(mine) != set(m["params"]):
        die(f"parameter names differ from resnet8: file only {sorted(set(m['params']) - set(mine))}, "
            f"resnet8 only {sorted(set(mine) - set(m['params']))}")
    with torch.no_grad():
        for name, t in mine.items():
            v = torch.from_numpy(m["params"][name])
            if tuple(v.shape) != tuple(t.shape):
                die(f"{name}: shape {tuple(v.shape)} in the file, {tuple(t.shape)} in resnet8")
            t.copy_(v)
    return net


# ---- data ---------------------------------------------------------------------------------------
def read_idx(path, magic):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if struct.unpack(">I", raw[:4])[0] != magic:
        die(f"{path}: not an IDX file of the expected kind")
    nd = raw[3]
    dims = struct.unpack(f">{nd}I", raw[4:4 + 4 * nd])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def find(d, name):
    for p in (os.path.join(d, name), os.path.join(d, name + ".gz")):
        if os.path.exists(p):
            return p
    die(f"{os.path.join(d, name)}: cannot open (nor .gz)")


def load_split(spec, train, limit):
    if spec == "fashion-mnist":
        d = FASHION_MNIST_DIR
    elif spec.startswith("fashion-mnist:"):
        d = spec[len("fashion-mnist:"):]
    else:
        die(f"the model was trained on '{spec}'; this script reads fashion-mnist only")
    pre = "train" if train else "t10k"
    x = read_idx(find(d, f"{pre}-images-idx3-ubyte"), 0x803)
    y = read_idx(find(d, f"{pre}-labels-idx1-ubyte"), 0x801)
    if limit and limit < len(y):
        x, y = x[:limit], y[:limit]
    return torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


class Normalise:
    """Byte -> float exactly as lowbit's batch.c: ((float)p/255 - mean)/std in float32, by table."""

    def __init__(self, cfg):
        v = np.arange(256, dtype=np.float32) / np.float32(255.0)
        self.lut = torch.from_numpy((v - np.float32(cfg["mean"][0])) / np.float32(cfg["std"][0]))
        self.pad, self.hflip = cfg["crop_pad"], cfg["hflip"]

    def __call__(self, xb, gen=None):
        """xb: (B,1,H,W) uint8. With gen: random crop (zero-pixel padding) and horizontal flip on
        the bytes before normalisation, as torchvision's RandomCrop(padding)+RandomHorizontalFlip."""
        if gen is not None and (self.pad > 0 or self.hflip):
            b, _, h, w = xb.shape
            p = self.pad
            padded = F.pad(xb, (p, p, p, p)) if p > 0 else xb
            oy = torch.randint(0, 2 * p + 1, (b,), generator=gen) if p > 0 else torch.zeros(b, dtype=torch.long)
            ox = torch.randint(0, 2 * p + 1, (b,), generator=gen) if p > 0 else torch.zeros(b, dtype=torch.long)
            flip = torch.randint(0, 2, (b,), generator=gen) if self.hflip else torch.zeros(b, dtype=torch.long)
            j = torch.arange(w)
            cols = torch.where(flip[:, None] == 1, w - 1 - j, j) + ox[:, None]  # (b, w)
            rows = torch.arange(h)[None, :] + oy[:, None]  # (b, h)
            xb = padded[torch.arange(b)[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)
        return self.lut[xb.long()]


def evaluate(net, norm, x, y, batch=256):
    net.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = net(norm(x[i:i + batch]))
            loss += float(F.cross_entropy(out, y[i:i + batch], reduction="sum"))
            correct += int((out.argmax(1) == y[i:i + batch]).sum())
    return correct / len(y), loss / len(y)


# ---- LSQ initialisation and fine-tuning ---------------------------------------------------------
def calibrate(net, norm, x, images, batch=128):
    for q, w in net.weight_quantizers():
        q.init_scale(float(w.detach().double().abs().mean()))
    acts = net.act_quantizers()
    for q in acts:
        q.observing, q.abs_sum, q.count = True, 0.0, 0
    net.eval()
    with torch.no_grad():
        for i in range(0, images, batch):
            net(norm(x[i:min(i + batch, images)]))
    for q in acts:
        q.observing = False
        q.init_scale(q.abs_sum / q.count)
    for q in acts + [q for q, _ in net.weight_quantizers()]:
        q.enabled = True


def main():
    ap = argparse.ArgumentParser(description="lowbit's LSQ QAT recipe in PyTorch (see the file's docstring)")
    ap.add_argument("--model", required=True, help="lowbit float model (.lbm), resnet8")
    ap.add_argument("--w", type=int, default=4, help="weight bits (default 4)")
    ap.add_argument("--a", type=int, default=4, help="activation bits (default 4)")
    ap.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (default 5; 0: report the initialised model)")
    ap.add_argument("--lr", type=float, default=0.01, help="peak learning rate, cosine to 0 (default 0.01)")
    ap.add_argument("--wd", type=float, default=1e-4, help="weight decay on conv/linear weights (default 1e-4)")
    ap.add_argument("--calib", type=int, default=256, help="training images for the LSQ scale init (default 256)")
    ap.add_argument("--limit-train", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--limit-test", type=int, default=0, help="use only the first N test images")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if not (1 <= a.w <= 16 and 1 <= a.a <= 16) or a.epochs < 0 or a.calib < 1:
        die("--w/--a must be 1..16, --epochs >= 0 (0: initialise only), --calib >= 1")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    m = read_lbm(a.model)
    cfg = m["config"]
    if cfg["optim"] != 0:
        die("the float recipe's optimizer is not SGD; lowbit qat keeps it, this script runs SGD only")
    net = build_model(m, a.w, a.a)
    norm = Normalise(cfg)
    xtr, ytr = load_split(cfg["data"], True, a.limit_train)
    xte, yte = load_split(cfg["data"], False, a.limit_test)
    batch = cfg["batch"]
    if len(ytr) < batch:
        die(f"{len(ytr)} training images is fewer than one batch of {batch}")

    t0 = time.time()
    float_acc, float_loss = evaluate(net, norm, xte, yte)
    print(f"float model: test accuracy {100 * float_acc:.2f}%, loss {float_loss:.4f} ({len(yte)} images)", file=sys.stderr)
    calibrate(net, norm, xtr, min(a.calib, len(ytr)))
    init_acc, _ = evaluate(net, norm, xte, yte)
    print(f"after LSQ initialisation: test accuracy {100 * init_acc:.2f}%", file=sys.stderr)

    decay = [c.conv.weight for c in net.conv_bns()] + [net.fc.weight]  # weights decay; BN, biases, scales do not
    ids = {id(p) for p in decay}
    rest = [p for p in net.parameters() if id(p) not in ids]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.wd}, {"params": rest, "weight_decay": 0.0}], lr=a.lr,
                          momentum=cfg["momentum"], nesterov=bool(cfg["nesterov"]))
    steps = len(ytr) // batch  # the last partial batch is dropped
    total = steps * a.epochs
    step, lr = 0, a.lr
    for epoch in range(a.epochs):
        net.train()
        order = torch.randperm(len(ytr), generator=gen)
        t1, loss_sum, correct = time.time(), 0.0, 0
        for k in range(steps):
            idx = order[k * batch:(k + 1) * batch]
            out = net(norm(xtr[idx], gen))
            loss = F.cross_entropy(out, ytr[idx], label_smoothing=cfg["label_smoothing"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            lr = 0.5 * a.lr * (1.0 + math.cos(math.pi * step / total))  # cosine to 0, per step, no warm-up
            for g in opt.param_groups:
                g["lr"] = lr
            opt.step()
            step += 1
            loss_sum += float(loss)
            correct += int((out.argmax(1) == ytr[idx]).sum())
        acc, _ = evaluate(net, norm, xte, yte)
        print(f"epoch {epoch + 1}/{a.epochs}  train loss {loss_sum / steps:.4f} acc {100 * correct / (steps * batch):.2f}%"
              f"  test acc {100 * acc:.2f}%  lr {lr:.4g}  {time.time() - t1:.1f} s", file=sys.stderr)
    acc, loss = evaluate(net, norm, xte, yte)
    print(json.dumps({"peer": "pytorch", "torch": torch.__version__, "method": "lsq", "backend": "academic", "w": a.w,
                      "a": a.a, "epochs": a.epochs, "seed": a.seed, "train_images": len(ytr), "test_images": len(yte),
                      "threads": torch.get_num_threads(), "float_accuracy": round(float_acc, 6),
                      "float_loss": round(float_loss, 6), "init_accuracy": round(init_acc, 6),
                      "accuracy": round(acc, 6), "loss": round(loss, 6), "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
