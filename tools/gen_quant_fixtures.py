#!/usr/bin/python3
# Generates tests/fixtures/quant_fixtures.h: PyTorch reference values for lowbit's fake-quant
# kernels (src/quant/fake_quant.c), read by tests/test_quant_fq.c. Covered:
#   torch.fake_quantize_per_tensor_affine            forward y, STE dx          (kind 0)
#   torch.fake_quantize_per_channel_affine           forward y, STE dx, axis 0/1/last  (kind 1)
#   torch._fake_quantize_learnable_per_tensor_affine forward y, dx, dscale, dzero      (kind 2)
#   torch._fake_quantize_learnable_per_channel_affine forward y, dx, dscale, dzero     (kind 3)
# Inputs are built in quantization units u = x/scale: exact half-integer ties (including
# qmin - zp - 0.5 and qmax - zp + 0.5), exact clamp boundaries, values far outside the range, and
# uniform random values; x = float32(u * scale). Power-of-two scales make the ties exact; other
# scales exercise inv = 1/scale. Learnable zero points include exact halves (2.5, 1.5) and
# negative non-integers, where PyTorch's per-tensor backward rounds the zero point differently
# from its forward (see src/quant/fake_quant.c).
#
# Generated with torch 1.13.0a0 (Debian python3-torch) on CPU. It must run with Debian's
# interpreter: the first python3 on PATH may lack torch. Regenerate from the source tree root:
#     /usr/bin/python3 tools/gen_quant_fixtures.py
# (optional argument: output path; default tests/fixtures/quant_fixtures.h).
#
# Every float is stored as its IEEE-754 bit pattern (uint32) so the C test can compare bit for
# bit. grad_factor is 1/sqrt(N * qmax) computed in double, as MQBench does, and rounded to
# float32 by PyTorch's kernel; the file stores that float32.
import math
import struct
import sys

import torch

torch.manual_seed(1234)


def bits(v):
    return struct.unpack("<I", struct.pack("<f", float(v)))[0]


def rnd(v):
    return struct.unpack("<f", struct.pack("<f", float(v)))[0]


def units(n, qlo, qhi, gen):
    """n values in quantization units relative to the zero point: ties, boundaries, outside."""
    special = [qlo - 0.5, qlo, qlo + 0.5, qhi - 0.5, qhi, qhi + 0.5, qlo - 3.0, qhi + 7.25,
               0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.0, 3.5]
    out = []
    for k in range(n):
        if k % 3 == 0:
            out.append(special[(k // 3) % len(special)])
        elif k % 3 == 1:
            out.append(float(torch.randint(int(qlo) - 2, int(qhi) + 2, (1,), generator=gen)) + 0.5)
        else:
            out.append(float(torch.empty(1).uniform_(qlo - 4.0, qhi + 4.0, generator=gen)))
    return out


GEN = torch.Generator().manual_seed(42)
cases = []   # dicts
data = []    # uint32 words


def put(values):
    off = len(data)
    data.extend(bits(v) for v in values)
    return off


def make_x(shape, axis, scales, zr, qmin, qmax):
    """x with per-parameter units; axis None = per tensor."""
    n = math.prod(shape)
    x = torch.empty(n, dtype=torch.float32)
    idx = torch.arange(n).reshape(shape)
    if axis is None:
        u = units(n, qmin - zr[0], qmax - zr[0], GEN)
        for k in range(n):
            x[k] = rnd(u[k] * scales[0])
    else:
        for c in range(shape[axis]):
            flat = idx.select(axis, c).reshape(-1)
            u = units(len(flat), qmin - zr[c], qmax - zr[c], GEN)
            for k, e in enumerate(flat.tolist()):
                x[e] = rnd(u[k] * scales[c])
    return x.reshape(shape)


def add_case(name, kind, shape, axis, bits_, signed, narrow, sym, scales, zeros):
    if signed:
        qmin, qmax = -(1 << (bits_ - 1)) + (1 if narrow else 0), (1 << (bits_ - 1)) - 1
    else:
        qmin, qmax = 0, (1 << bits_) - 1
    scales = [rnd(s) for s in scales]
    zeros = [rnd(z) for z in zeros]
    zr = [min(max(round(z), qmin), qmax) for z in zeros]  # Python round is half-to-even
    x = make_x(shape, axis if kind in (1, 3) else None, scales, zr, qmin, qmax)
    dy = torch.randn(shape, generator=GEN, dtype=torch.float32)
    xg = x.clone().requires_grad_(True)
    n = x.numel()
    nparam = len(scales)
    per = n // nparam
    gf = rnd(1.0 / math.sqrt(per * max(qmax, 1)))
    ds = dz = None
    if kind == 0:
        y = torch.fake_quantize_per_tensor_affine(xg, scales[0], int(zeros[0]), qmin, qmax)
    elif kind == 1:
        y = torch.fake_quantize_per_channel_affine(xg, torch.tensor(scales), torch.tensor([int(z) for z in zeros],
                                                   dtype=torch.int32), axis, qmin, qmax)
    else:
        s = torch.tensor(scales, requires_grad=True)
        z = torch.tensor(zeros, requires_grad=True)
        if kind == 2:
            y = torch._fake_quantize_learnable_per_tensor_affine(xg, s, z, qmin, qmax, gf)
        else:
            y = torch._fake_quantize_learnable_per_channel_affine(xg, s, z, axis, qmin, qmax, gf)
    y.backward(dy)
    if kind >= 2:
        ds, dz = s.grad.tolist(), z.grad.tolist()
        # PyTorch sums the per-element terms in float, in its own order; a sum with cancellation
        # can be off from the exact sum by far more than 1e-6 of the result. So also record the
        # per-element terms' exact (float64) sum and the sum of their magnitudes: one backward per
        # element with a one-hot dy yields exactly that element's term.
        ds64, dz64, dsabs, dzabs = [0.0] * len(scales), [0.0] * len(scales), [0.0] * len(scales), [0.0] * len(scales)
        flat_dy = dy.reshape(-1)
        for e in range(n):
            one = torch.zeros(n, dtype=torch.float32)
            one[e] = flat_dy[e]
            s1 = torch.tensor(scales, requires_grad=True)
            z1 = torch.tensor(zeros, requires_grad=True)
            if kind == 2:
                y1 = torch._fake_quantize_learnable_per_tensor_affine(x, s1, z1, qmin, qmax, gf)
            else:
                y1 = torch._fake_quantize_learnable_per_channel_affine(x, s1, z1, axis, qmin, qmax, gf)
            y1.backward(one.reshape(shape))
            for c, (ts, tz) in enumerate(zip(s1.grad.tolist(), z1.grad.tolist())):
                ds64[c] += ts
                dz64[c] += tz
                dsabs[c] += abs(ts)
                dzabs[c] += abs(tz)
    c = dict(name=name, kind=kind, shape=list(shape), axis=axis if axis is not None else 0, bits=bits_,
             signed=int(signed), narrow=int(narrow), sym=int(sym), qmin=qmin, qmax=qmax, gf=bits(gf), n=n,
             np=nparam)
    c["x"] = put(x.reshape(-1).tolist())
    c["s"] = put(scales)
    c["z"] = put(zeros)
    c["dy"] = put(dy.reshape(-1).tolist())
    c["y"] = put(y.detach().reshape(-1).tolist())
    c["dx"] = put(xg.grad.reshape(-1).tolist())
    c["ds"] = put(ds) if ds else -1
    c["dz"] = put(dz) if dz else -1
    c["ds64"] = put(ds64 + dsabs) if ds else -1
    c["dz64"] = put(dz64 + dzabs) if dz else -1
    cases.append(c)


# kind 0: fake_quantize_per_tensor_affine
add_case("pt_u8_pow2", 0, (5, 7, 3), None, 8, False, False, False, [0.25], [3])
add_case("pt_i8_sym", 0, (97,), None, 8, True, False, True, [0.1], [0])
add_case("pt_i8_restricted", 0, (64,), None, 8, True, True, True, [0.0371], [0])
add_case("pt_i4_affine", 0, (6, 9), None, 4, True, False, False, [0.5], [-2])
add_case("pt_u16", 0, (48,), None, 16, False, False, False, [2.0 ** -8], [1000])
add_case("pt_u1", 0, (24,), None, 1, False, False, False, [1.0], [0])
add_case("pt_i2_oddscale", 0, (40,), None, 2, True, False, False, [0.3], [1])
# kind 1: fake_quantize_per_channel_affine
add_case("pc_i8_axis0", 1, (4, 3, 5), 0, 8, True, False, True, [0.5, 0.1, 0.03125, 0.07], [0, 0, 0, 0])
add_case("pc_u8_axis1", 1, (2, 4, 3, 3), 1, 8, False, False, False, [0.25, 0.2, 0.125, 0.013], [0, 3, 128, 255])
add_case("pc_i4_axis1_2d", 1, (3, 6), 1, 4, True, False, False, [0.5, 0.3, 1.0, 0.25, 0.11, 2.0], [0, 1, -1, 2, -3, 7])
add_case("pc_i8r_axis2", 1, (2, 3, 4), 2, 8, True, True, True, [0.5, 0.015625, 0.9, 0.0625], [0, 0, 0, 0])
# kind 2: _fake_quantize_learnable_per_tensor_affine
add_case("lpt_u8_z3", 2, (5, 7, 3), None, 8, False, False, False, [0.25], [3.0])
add_case("lpt_u8_zhalf", 2, (64,), None, 8, False, False, False, [0.125], [2.5])
add_case("lpt_u8_zneg", 2, (50,), None, 8, False, False, False, [0.1], [-0.7])
add_case("lpt_i8_zneg13", 2, (60,), None, 8, True, False, False, [0.5], [-1.3])
add_case("lpt_i8_zneg17", 2, (60,), None, 8, True, False, False, [0.0625], [-1.7])
add_case("lpt_i4_z15", 2, (6, 8), None, 4, True, False, False, [0.37], [1.5])
add_case("lpt_i8_sym", 2, (72,), None, 8, True, False, True, [0.05], [0.0])
add_case("lpt_u4_z7p2", 2, (33,), None, 4, False, False, False, [0.2], [7.2])
# kind 3: _fake_quantize_learnable_per_channel_affine
add_case("lpc_u8_axis0", 3, (4, 3, 5), 0, 8, False, False, False, [0.25, 0.1, 0.5, 0.0625], [0.0, 2.5, 3.3, -1.0])
add_case("lpc_i8_axis1", 3, (2, 4, 3, 3), 1, 8, True, False, False, [0.25, 0.2, 0.125, 0.013], [-1.3, 1.5, -2.5, 0.0])
add_case("lpc_i4_axis1_2d", 3, (3, 6), 1, 4, True, False, False, [0.5, 0.3, 1.0, 0.25, 0.11, 2.0],
         [0.0, 1.5, -1.7, 2.0, -3.0, 6.6])
add_case("lpc_u4_axis2", 3, (2, 3, 4), 2, 4, False, False, False, [0.5, 0.125, 0.3, 1.0], [0.0, 4.5, 15.7, 8.0])

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/quant_fixtures.h"
with open(out, "w") as f:
    f.write("/* Generated by tools/gen_quant_fixtures.py with torch %s; do not edit.\n" % torch.__version__)
    f.write(" * Regenerate from the source tree root: /usr/bin/python3 tools/gen_quant_fixtures.py */\n")
    f.write("#ifndef LOWBIT_QUANT_FIXTURES_H\n#define LOWBIT_QUANT_FIXTURES_H\n#include <stdint.h>\n\n")
    f.write("/* kind: 0 per-tensor STE, 1 per-channel STE, 2 learnable per-tensor, 3 learnable per-channel.\n"
            " * x..dz64: offsets into qfx_data (float bit patterns); ds..dz64 are -1 for kinds 0 and 1.\n"
            " * ds/dz: PyTorch's gradients; ds64/dz64: np exact (float64) sums of PyTorch's per-element\n"
            " * terms, then np sums of their magnitudes (for a tolerance that allows for cancellation). */\n")
    f.write("typedef struct qfx_case {\n  const char *name;\n  int kind, ndim;\n  int64_t dims[4];\n"
            "  int axis, bits, is_signed, narrow, symmetric, qmin, qmax;\n  uint32_t grad_factor;\n"
            "  int n, np, x, s, z, dy, y, dx, ds, dz, ds64, dz64;\n} qfx_case;\n\n")
    f.write("static const qfx_case qfx_cases[] = {\n")
    for c in cases:
        dims = c["shape"] + [0] * (4 - len(c["shape"]))
        f.write('  {"%s", %d, %d, {%s}, %d, %d, %d, %d, %d, %d, %d, 0x%08xu, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d},\n'
                % (c["name"], c["kind"], len(c["shape"]), ", ".join(str(d) for d in dims), c["axis"], c["bits"],
                   c["signed"], c["narrow"], c["sym"], c["qmin"], c["qmax"], c["gf"], c["n"], c["np"], c["x"],
                   c["s"], c["z"], c["dy"], c["y"], c["dx"], c["ds"], c["dz"], c["ds64"], c["dz64"]))
    f.write("};\n\nstatic const uint32_t qfx_data[] = {\n")
    for i in range(0, len(data), 8):
        f.write("  " + ", ".join("0x%08xu" % w for w in data[i:i + 8]) + ",\n")
    f.write("};\n\n#endif\n")
print("wrote %s: %d cases, %d words" % (out, len(cases), len(data)))
