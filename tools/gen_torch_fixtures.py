#!/usr/bin/python3
# Generates tests/fixtures/torch_nn.bin: PyTorch reference values (forward outputs and
# gradients) for lowbit's nn kernels, read by tests/test_torch_parity.c. Covered: conv2d (stride,
# padding, dilation, groups, depthwise, 1x1, rectangular, with and without bias), linear, batch
# norm in training mode (output, saved mean/invstd, running stats after the step, dx/dgamma/dbeta)
# and evaluation mode, max pool and avg pool (padding, ceil_mode, count_include_pad both ways),
# global average pooling, relu/hardtanh, softmax cross-entropy (label_smoothing 0 and 0.1).
#
# Generated with torch 1.13.0a0 (Debian python3-torch) on CPU. It must run with Debian's
# interpreter: the first python3 on PATH may lack torch. Regenerate from the source tree root:
#     /usr/bin/python3 tools/gen_torch_fixtures.py
# (optional argument: output path; default tests/fixtures/torch_nn.bin).
#
# Inputs are closed-form (a 16-bit bijective integer hash of the element index, scaled by a power
# of two), so they are exact in float32 and identical on any machine; no RNG is involved. The
# references are computed by PyTorch in float64 from those float32 inputs, then rounded once to
# float32 for storage, so they are correct to float32 rounding. Scalar hyperparameters (eps,
# momentum, smoothing, ...) are rounded to float32 first, as the C kernels receive them.
#
# File format (every field a little-endian 4-byte word, so the file is a whole number of floats):
#   header:  "LBTF"  u32 version=1  u32 record_count  u32 payload_words  u32 crc32(payload bytes)
#   record:  str name  u32 tensor_count  tensor*
#   tensor:  str name  u32 ndim  u32 dims[ndim]  f32 data[prod(dims)]
#   str:     u32 byte_length  bytes, NUL-padded to a multiple of 4
# Records are named "<op>/<case>"; scalar parameters live in a float tensor named "cfg" whose
# layout per op is documented next to each generator function below (and in the C test).
import os
import struct
import sys
import zlib

import torch
import torch.nn.functional as F

VERSION = 1
F64 = torch.float64


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def hash16(i, key):
    """A bijection of 16-bit integers (odd multiplies and xor-shifts), keyed by `key`."""
    v = (i * 0x9E37 + key) & 0xFFFF
    v ^= v >> 7
    v = (v * 0xA5B5) & 0xFFFF
    v ^= v >> 9
    v = (v * 0x3C6B + (key >> 16)) & 0xFFFF
    v ^= v >> 8
    return v


def vals(shape, tag, lo=-1.0, span=2.0):
    """Distinct values lo + span*k/65536 (exact in float32 when lo and span are dyadic) as a
    float64 tensor. Distinct elements keep max-pool argmax choices free of ties."""
    n = 1
    for d in shape:
        n *= d
    assert n <= 65536
    key = zlib.crc32(tag.encode())
    data = [lo + span * hash16(i, key) / 65536.0 for i in range(n)]
    t = torch.tensor(data, dtype=torch.float32).to(F64)  # exact; the cast checks representability
    assert torch.equal(t, torch.tensor(data, dtype=F64))
    return t.reshape(shape)


def exact32(t):
    """Assert that a derived float64 input is exactly representable in float32 (the C test sees
    the stored float32 copy, so the reference must be computed from the same numbers)."""
    assert torch.equal(t.to(torch.float32).to(F64), t)
    return t


def leaf(t):
    return t.detach().clone().requires_grad_(True)


RECORDS = []


def record(name, tensors):
    RECORDS.append((name, tensors))


# ---- conv2d: cfg = [stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups] -------------------
def conv_case(tag, n, c, h, w, k, r, s, stride=(1, 1), pad=(0, 0), dil=(1, 1), groups=1, bias=True):
    p = "conv2d/" + tag
    x = vals((n, c, h, w), p + "/x")
    wt = vals((k, c // groups, r, s), p + "/w", -0.5, 1.0)
    b = vals((k,), p + "/b", -0.25, 0.5) if bias else None
    xl, wl = leaf(x), leaf(wt)
    bl = leaf(b) if bias else None
    y = F.conv2d(xl, wl, bl, stride=stride, padding=pad, dilation=dil, groups=groups)
    dy = vals(tuple(y.shape), p + "/dy")
    y.backward(dy)
    cfg = torch.tensor([stride[0], stride[1], pad[0], pad[1], dil[0], dil[1], groups], dtype=F64)
    t = [("cfg", cfg), ("x", x), ("w", wt)]
    if bias:
        t.append(("b", b))
    t += [("dy", dy), ("y", y), ("dx", xl.grad), ("dw", wl.grad)]
    if bias:
        t.append(("db", bl.grad))
    record(p, t)


# ---- linear: no cfg; shapes from x (N,IN) and w (OUT,IN) --------------------------------------
def linear_case(tag, n, fin, fout, bias=True):
    p = "linear/" + tag
    x = vals((n, fin), p + "/x")
    wt = vals((fout, fin), p + "/w", -0.5, 1.0)
    b = vals((fout,), p + "/b", -0.25, 0.5) if bias else None
    xl, wl = leaf(x), leaf(wt)
    bl = leaf(b) if bias else None
    y = F.linear(xl, wl, bl)
    dy = vals(tuple(y.shape), p + "/dy")
    y.backward(dy)
    t = [("x", x), ("w", wt)] + ([("b", b)] if bias else [])
    t += [("dy", dy), ("y", y), ("dx", xl.grad), ("dw", wl.grad)] + ([("db", bl.grad)] if bias else [])
    record(p, t)


# ---- batch norm, training mode: cfg = [eps, momentum]; x is (N,C,H,W) or (N,C) ----------------
def bn_train_case(tag, shape, offset, scale):
    p = "bn_train/" + tag
    c = shape[1]
    eps, mom = f32(1e-5), f32(0.1)
    # per-channel offset and scale (powers of two keep x exact) exercise the variance numerics
    bshape = (1, c) + (1,) * (len(shape) - 2)
    chan = torch.arange(c, dtype=F64).reshape(bshape)
    x = exact32(vals(shape, p + "/x") * (scale * 2.0 ** (chan % 3)) + offset * (chan - 1))
    gamma = vals((c,), p + "/gamma", 0.5, 1.0)
    beta = vals((c,), p + "/beta", -0.5, 1.0)
    rm0 = vals((c,), p + "/rm", -0.25, 0.5)
    rv0 = vals((c,), p + "/rv", 0.5, 1.0)
    # saved statistics straight from the ATen kernel
    _, save_mean, save_invstd = torch.native_batch_norm(x, gamma, beta, rm0.clone(), rv0.clone(), True, mom, eps)
    rm, rv = rm0.clone(), rv0.clone()
    xl, gl, bl = leaf(x), leaf(gamma), leaf(beta)
    y = F.batch_norm(xl, rm, rv, gl, bl, training=True, momentum=mom, eps=eps)
    dy = vals(tuple(y.shape), p + "/dy")
    y.backward(dy)
    record(p, [("cfg", torch.tensor([eps, mom], dtype=F64)), ("x", x), ("gamma", gamma), ("beta", beta),
               ("running_mean0", rm0), ("running_var0", rv0), ("dy", dy), ("y", y), ("save_mean", save_mean),
               ("save_invstd", save_invstd), ("running_mean", rm), ("running_var", rv), ("dx", xl.grad),
               ("dgamma", gl.grad), ("dbeta", bl.grad)])


# ---- batch norm, evaluation mode: cfg = [eps] -------------------------------------------------
def bn_eval_case(tag, shape):
    p = "bn_eval/" + tag
    c = shape[1]
    eps = f32(1e-5)
    x = vals(shape, p + "/x", -2.0, 4.0)
    gamma = vals((c,), p + "/gamma", 0.5, 1.0)
    beta = vals((c,), p + "/beta", -0.5, 1.0)
    rm = vals((c,), p + "/rm", -0.5, 1.0)
    rv = vals((c,), p + "/rv", 0.25, 2.0)
    y = F.batch_norm(x, rm.clone(), rv.clone(), gamma, beta, training=False, eps=eps)
    record(p, [("cfg", torch.tensor([eps], dtype=F64)), ("x", x), ("gamma", gamma), ("beta", beta),
               ("running_mean", rm), ("running_var", rv), ("y", y)])


# ---- pooling: cfg = [kh, kw, stride_h, stride_w, pad_h, pad_w, ceil_mode, count_include_pad] ----
def pool_case(kind, tag, shape, k, stride, pad, ceil_mode, cip=1):
    p = kind + "/" + tag
    x = vals(shape, p + "/x")
    xl = leaf(x)
    if kind == "maxpool":
        y = F.max_pool2d(xl, k, stride, pad, ceil_mode=ceil_mode)
    else:
        y = F.avg_pool2d(xl, k, stride, pad, ceil_mode=ceil_mode, count_include_pad=bool(cip))
    dy = vals(tuple(y.shape), p + "/dy")
    y.backward(dy)
    cfg = torch.tensor([k[0], k[1], stride[0], stride[1], pad[0], pad[1], int(ceil_mode), cip], dtype=F64)
    record(p, [("cfg", cfg), ("x", x), ("dy", dy), ("y", y), ("dx", xl.grad)])


def gap_case(tag, shape):
    p = "gap/" + tag
    x = vals(shape, p + "/x")
    xl = leaf(x)
    y = F.adaptive_avg_pool2d(xl, 1)
    dy = vals(tuple(y.shape), p + "/dy")
    y.backward(dy)
    record(p, [("x", x), ("dy", dy), ("y", y.reshape(shape[0], shape[1])), ("dx", xl.grad)])


# ---- activations: relu has no cfg; hardtanh cfg = [lo, hi] -----------------------------------
def act_case(kind, tag, n, lo, hi):
    p = kind + "/" + tag
    x = vals((n,), p + "/x", lo - 1.0, hi - lo + 2.0).clone()
    # exact kink and bound values: PyTorch passes no gradient there (strict inequalities)
    x[0], x[7], x[13] = 0.0, lo, hi
    xl = leaf(x)
    y = F.relu(xl) if kind == "relu" else F.hardtanh(xl, lo, hi)
    dy = vals((n,), p + "/dy")
    y.backward(dy)
    t = [("x", x), ("dy", dy), ("y", y), ("dx", xl.grad)]
    if kind == "hardtanh":
        t.insert(0, ("cfg", torch.tensor([lo, hi], dtype=F64)))
    record(p, t)


# ---- softmax cross-entropy: cfg = [label_smoothing, scale]; labels stored as floats -----------
def xent_case(tag, n, k, smoothing, logit_scale, scale=1.0):
    p = "xent/" + tag
    sm = f32(smoothing)
    z = exact32(vals((n, k), p + "/z") * logit_scale)
    labels = torch.tensor([hash16(i, zlib.crc32(p.encode())) % k for i in range(n)], dtype=torch.long)
    zl = leaf(z)
    loss = F.cross_entropy(zl, labels, label_smoothing=sm)
    (loss * scale).backward()
    record(p, [("cfg", torch.tensor([sm, scale], dtype=F64)), ("logits", z), ("labels", labels.to(F64)),
               ("loss", loss.reshape(1)), ("probs", torch.softmax(z, 1)), ("dlogits", zl.grad)])


def build():
    conv_case("s2_p1_bias", 2, 3, 9, 9, 4, 3, 3, stride=(2, 2), pad=(1, 1))
    conv_case("dil2_nobias", 2, 3, 9, 8, 3, 3, 3, pad=(2, 2), dil=(2, 2), bias=False)
    conv_case("groups2_bias", 2, 4, 7, 6, 6, 3, 3, pad=(1, 1), groups=2)
    conv_case("groups2_s2_nobias", 2, 6, 8, 8, 4, 3, 3, stride=(2, 2), groups=2, bias=False)
    conv_case("depthwise_bias", 2, 5, 6, 6, 5, 3, 3, pad=(1, 1), groups=5)
    conv_case("depthwise_rect_s2_nobias", 2, 4, 9, 8, 4, 3, 5, stride=(2, 1), pad=(1, 2), groups=4, bias=False)
    conv_case("depthwise_mult2_bias", 2, 3, 7, 7, 6, 3, 3, pad=(1, 1), groups=3)
    conv_case("pointwise_1x1_bias", 2, 4, 12, 12, 3, 1, 1)
    conv_case("pointwise_1x1_small_nobias", 3, 5, 5, 5, 4, 1, 1, bias=False)
    conv_case("1x1_s2_bias", 2, 4, 7, 7, 3, 1, 1, stride=(2, 2))
    conv_case("rect_mixed_bias", 2, 3, 8, 11, 4, 2, 3, stride=(1, 2), pad=(0, 1), dil=(2, 1))
    conv_case("batch1_5x5_bias", 1, 2, 9, 9, 3, 5, 5, stride=(2, 2), pad=(2, 2))

    linear_case("bias", 4, 13, 7)
    linear_case("nobias", 3, 32, 10, bias=False)
    linear_case("batch1_bias", 1, 9, 5)

    bn_train_case("2d", (3, 4, 5, 5), 0.0, 1.0)
    bn_train_case("2d_offset", (2, 3, 4, 6), 4.0, 0.5)
    bn_train_case("1d", (8, 6), 0.5, 2.0)
    bn_eval_case("2d", (2, 3, 4, 5))
    bn_eval_case("1d", (5, 7))

    pool_case("maxpool", "k3_s2_p1", (2, 3, 7, 7), (3, 3), (2, 2), (1, 1), False)
    pool_case("maxpool", "k2_s2_ceil", (2, 2, 7, 7), (2, 2), (2, 2), (0, 0), True)
    pool_case("maxpool", "k3_s2_p1_ceil", (1, 3, 8, 8), (3, 3), (2, 2), (1, 1), True)
    pool_case("maxpool", "k3_s1_overlap", (2, 2, 6, 6), (3, 3), (1, 1), (0, 0), False)
    pool_case("maxpool", "rect", (2, 2, 7, 9), (2, 3), (2, 1), (1, 1), True)
    for cip in (1, 0):
        sfx = "_cip%d" % cip
        pool_case("avgpool", "k3_s2_p1" + sfx, (2, 3, 7, 7), (3, 3), (2, 2), (1, 1), False, cip)
        pool_case("avgpool", "k3_s2_p1_ceil" + sfx, (1, 3, 8, 8), (3, 3), (2, 2), (1, 1), True, cip)
        pool_case("avgpool", "k2_s2_ceil" + sfx, (2, 2, 7, 7), (2, 2), (2, 2), (0, 0), True, cip)
        pool_case("avgpool", "rect" + sfx, (2, 2, 7, 9), (2, 3), (2, 1), (1, 1), True, cip)
    gap_case("4x4", (2, 3, 4, 4))
    gap_case("7x5", (3, 2, 7, 5))

    act_case("relu", "basic", 64, 0.0, 4.0)
    act_case("hardtanh", "pm1", 64, -1.0, 1.0)
    act_case("hardtanh", "relu6", 64, 0.0, 6.0)

    xent_case("plain", 5, 7, 0.0, 3.0)
    xent_case("smooth0.1", 5, 7, 0.1, 3.0)
    xent_case("smooth0.1_large_scale0.5", 4, 10, 0.1, 40.0, scale=0.5)


def s_bytes(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b + b"\0" * (-len(b) % 4)


def encode():
    out = []
    for name, tensors in RECORDS:
        out.append(s_bytes(name) + struct.pack("<I", len(tensors)))
        for tname, t in tensors:
            t = t.detach().to(torch.float32).contiguous()
            out.append(s_bytes(tname) + struct.pack("<I", t.dim()) + struct.pack("<%dI" % t.dim(), *t.shape))
            out.append(struct.pack("<%df" % t.numel(), *t.reshape(-1).tolist()))
    payload = b"".join(out)
    head = b"LBTF" + struct.pack("<IIII", VERSION, len(RECORDS), len(payload) // 4, zlib.crc32(payload))
    return head + payload


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "torch_nn.bin")
    torch.set_grad_enabled(True)
    build()
    data = encode()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    print("wrote %s: %d records, %d bytes (torch %s)" % (path, len(RECORDS), len(data), torch.__version__))


if __name__ == "__main__":
    main()
