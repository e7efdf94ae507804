/* lowbit deploy: lowering a quantized graph to an integer program, the program file (.lbp),
 * the engine that runs it, the deploy-exact simulation and verify (docs/deploy.md).
 *
 * The promise: the integer program computes exactly what the deploy-exact simulation of the
 * fake-quant graph computes (0 LSB), and verify proves it unit by unit. The simulation is the
 * fake-quant graph evaluated in eval mode with exact integer accumulation and the integer
 * requantization of lowbit/ikernel.h at every quantizer (the plain float fake-quant graph cannot
 * be matched bit for bit by any integer arithmetic: its sums and requantization are float).
 *
 * A program is a list of steps over tensors. A tensor holds 8-bit codes (one per byte, int8 or
 * uint8, one zero point and scale), int32 accumulators or floats (the logits, and the tensors a
 * profile leaves unquantized: the academic profile's residual adds); a step produces one
 * tensor. Every tensor lives at a fixed offset of one arena, planned by liveness at lowering:
 * offsets and sizes are per image (a batch of n uses n times as much, same layout scaled). */
#ifndef LOWBIT_DEPLOY_H
#define LOWBIT_DEPLOY_H

#include "lowbit/data.h"
#include "lowbit/graph.h"
#include "lowbit/nn.h"
#include "lowbit/qgraph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: data-movement steps (SLICE, PAD, CONCAT) and four step inputs. 3: the bias in product
 * units (bfrac_off) and in output units for the float output (fbias_off). 4: float tensors in
 * the arena, FADD/FGAP steps and float clamps (flo, fhi); version 3 files still load. */
#define LB_LBP_VERSION 4
#define LB_STEP_MAX_IN 4 /* inputs of one step (CONCAT reads up to four) */

typedef enum lb_tensor_kind { LB_PT_CODES = 0, LB_PT_ACC32, LB_PT_FLOAT } lb_tensor_kind;

typedef struct lb_prog_tensor {
  char name[LB_NAME_MAX]; /* the graph node whose output this is (a fakequant for codes) */
  int kind;               /* lb_tensor_kind */
  int c, h, w;            /* per image; vectors are (c, 1, 1) */
  int bits, is_signed;    /* codes: 1..8 bits, int8 or uint8 storage */
  int32_t zp, qmin, qmax; /* codes */
  float scale;            /* codes: real = (q - zp) * scale */
  int64_t offset, bytes;  /* in the arena, per image (64-byte multiples); the graph output (a float
                             tensor with bytes 0) has none */
} lb_prog_tensor;

/* A float tensor held in the arena (an unquantized intermediate), not the graph output. */
static inline int lb_prog_tensor_float_map(const lb_prog_tensor *t) { return t->kind == LB_PT_FLOAT && t->bytes > 0; }

/* Codes on a binary grid: -1/+1 (bits 1, signed, range [-1, 1], zero point 0); the step writing
 * them takes a sign instead of requantizing (lowbit/ikernel.h, lb_binarize). */
static inline int lb_prog_tensor_binary(const lb_prog_tensor *t) {
  return t->kind == LB_PT_CODES && t->bits == 1 && t->is_signed && t->qmin == -1 && t->qmax == 1;
}

typedef enum lb_step_kind {
  LB_PS_QUANTIZE = 0, /* float input (in[0] -1) or float tensor -> codes: q = clamp(rint(x*inv)+zp, lo, hi) */
  LB_PS_CONV,         /* codes -> codes: conv + requant (+ clamp): lb_requant_acc(acc, bias_p, ...) */
  LB_PS_LINEAR,       /* codes -> codes: linear + requant, the same */
  LB_PS_CONV_OUT,     /* codes -> float (output or tensor): conv, fmaf((float)acc, scale[k], fbias[k]),
                         clamped to [flo, fhi] */
  LB_PS_LINEAR_OUT,   /* codes -> float: linear, the same */
  LB_PS_ADD,          /* codes, codes -> codes: residual add with rescale */
  LB_PS_GAP,          /* codes -> codes: global average pool */
  LB_PS_AVGPOOL,      /* codes -> codes: average pool, one (M, s) per window count */
  LB_PS_MAXPOOL,      /* codes -> codes on the same grid */
  LB_PS_RESCALE,      /* codes -> codes on another grid: requant(x - zx, M, s) */
  LB_PS_DEQUANTIZE,   /* codes -> float output */
  LB_PS_SLICE,        /* codes -> codes on the same grid: every step-th cell along one axis */
  LB_PS_PAD,          /* codes -> codes on the same grid: mv_fill codes before/after along one axis */
  LB_PS_CONCAT,       /* 2..4 codes tensors on one grid -> codes, joined along one axis */
  LB_PS_FADD,         /* float, float -> float: x1 + x2 clamped to [flo, fhi] */
  LB_PS_FGAP,         /* float -> float: per channel mean, summed in double (as the graph's gap) */
  LB_PS_KIND_COUNT
} lb_step_kind;

typedef struct lb_prog_step {
  int kind;                     /* lb_step_kind */
  char name[LB_NAME_MAX];       /* the graph node that computes (conv, add, pool, ...) */
  int in[LB_STEP_MAX_IN], out;  /* tensor indices (-1 past the step's inputs: add reads 2, concat 2..4) */
  /* conv/linear geometry: conv input (c,h,w) from the tensors; linear is k x c */
  int k, r, s, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  int wbits, w_signed;
  int64_t w_off, w_len;         /* weight codes in the int8 pool, (K, C/g, R, S) */
  /* offsets into the int32 pool, -1 = absent; each holds k values (or counts+1 for avgpool).
   * CONV/LINEAR: bias_p[k] = lb_bias_product(bias[k], mult[k], bfrac[k]), the bias in product
   * units (ikernel.h); bias alone is the bias on the accumulator grid (the *_OUT steps, ONNX) */
  int64_t wzp_off, bias_off, bfrac_off, mult_off, shift_off, neg_off;
  int64_t scale_off;            /* float pool: k dequantization scales (the *_OUT steps) */
  int64_t fbias_off;            /* float pool: k output biases in output units (the *_OUT steps) */
  int32_t lo, hi;               /* output clamp in codes (activation fused) */
  float flo, fhi;               /* output clamp of float steps (-inf, +inf: none) */
  int32_t add_m1, add_m2, add_shift;   /* ADD; RESCALE and GAP use add_m1/add_shift */
  float inv;                    /* QUANTIZE: 1/scale, as the fakequant computes it */
  int pool_kh, pool_kw, pool_sh, pool_sw, pool_ph, pool_pw, pool_count_pad, pool_ceil;
  int64_t macs;                 /* per image */
  /* SLICE, PAD, CONCAT: one image's tensor viewed as (mv_outer, dim, mv_inner) around the axis
   * (reshape and flatten are no steps: codes keep their order, readers take the shape they need) */
  int64_t mv_outer, mv_inner;
  int mv_dim[LB_STEP_MAX_IN];   /* each input's size along the axis */
  int mv_start, mv_step, mv_count; /* SLICE: out[i] = in[start + i * step], i < count (step may be < 0) */
  int mv_begin, mv_end;         /* PAD: cells added before / after along the axis */
  int32_t mv_fill;              /* PAD: the code written there (the zero point for a pad value of 0) */
} lb_prog_step;

typedef struct lb_program {
  char model[LB_NAME_MAX];   /* the source graph's model name */
  char backend[32];
  uint32_t source_crc;       /* CRC-32 of the source graph's parameter values */
  int in_c, in_h, in_w, classes;
  float norm_mean[4], norm_std[4]; /* input normalisation the source model was trained with */
  int n_tensors, n_steps;
  lb_prog_tensor *tensors;
  lb_prog_step *steps;
  int64_t n_w8, n_i32, n_f32; /* pools */
  int8_t *w8;
  int32_t *i32;
  float *f32;
  int64_t arena_per_image;    /* activation bytes per image (the liveness plan) */
  int64_t arena_naive;        /* the same without reuse (for the report) */
} lb_program;

/* ---- lowering -------------------------------------------------------------------------- */
/* Lower a calibrated quantized graph (every quantizer enabled, uniform grids) for a backend
 * profile (NULL: the graph's own; used for the report and checked by name only). Fails with
 * LB_ERR_UNSUPPORTED naming the node and the reason when part of the graph has no integer form.
 * Adds and global pools the profile leaves unquantized (academic) become float steps between
 * the integer ones, computed as the simulation computes them (lb_program_float_steps counts them).
 * norm (may be NULL) is the input normalisation stored in the program. */
lb_status lb_lower(const lb_graph *qg, const char *backend, const lb_augment *norm, lb_program **out);
void lb_program_free(lb_program *p);
/* Checks everything (indices, pools, geometry, ranges, arena): loaders call it. */
lb_status lb_program_validate(const lb_program *p);
/* The program file: "LOWBITP\n", u32 version, u32 sections, sections (tag[16], u64 len, bytes),
 * u32 CRC-32; written atomically. */
lb_status lb_program_save(const char *path, const lb_program *p);
lb_status lb_program_load(const char *path, lb_program **out);
lb_status lb_program_from_bytes(const uint8_t *data, size_t len, lb_program **out);
lb_status lb_program_to_bytes(const lb_program *p, uint8_t **data, size_t *len);
/* Total weight bytes packed at their widths (for the report). */
int64_t lb_program_weight_bytes(const lb_program *p);
/* Steps that write a float tensor other than the output (a profile's unquantized adds): 0 for an
 * integer-only program. */
int lb_program_float_steps(const lb_program *p);

/* ---- engine ----------------------------------------------------------------------------- */
typedef struct lb_engine lb_engine;
enum { LB_ENGINE_KEEP_ALL = 1 }; /* flags: every tensor its own memory (verify reads them all) */
/* Prepare once (pack weights, size the arena for max_batch images); program must stay alive. */
lb_status lb_engine_create(const lb_program *p, int max_batch, int flags, lb_engine **out);
/* x: (n, in_c, in_h, in_w) normalised floats; logits: (n, classes). n may exceed max_batch
 * (run in pieces). Integer math only between the input quantization and the output, except in
 * the float steps of a profile that leaves adds unquantized. */
lb_status lb_engine_run(lb_engine *e, int n, const float *x, float *logits);
/* After a run of at most max_batch images with LB_ENGINE_KEEP_ALL: tensor t's contents for the
 * last run (codes: int8/uint8 per the tensor; NULL for the float output). */
const void *lb_engine_tensor(const lb_engine *e, int t);
size_t lb_engine_arena_bytes(const lb_engine *e);
/* Conv steps running on the XNOR-popcount kernels: binary weights (-1/+1) reading binary codes
 * with no padded zeros (chosen at create; the accumulators are the same as the int2 kernels'). */
int lb_engine_xnor_steps(const lb_engine *e);
const char *lb_engine_isa(const lb_engine *e);
/* Tensors the engine keeps channels-last between steps (0 with LB_ENGINE_KEEP_ALL or without the
 * SIMD kernels): an internal layout, the codes are the same. */
int lb_engine_nhwc_tensors(const lb_engine *e);
void lb_engine_free(lb_engine *e);

/* Top-1 correct count of p on every image of d, normalised by norm, through an engine of the
 * given batch size (data and program must agree on the image size). */
lb_status lb_program_evaluate(const lb_program *p, const lb_dataset *d, const lb_augment *norm, int batch,
                              int64_t *correct);

/* ---- deploy-exact simulation -------------------------------------------------------------- */
typedef struct lb_sim lb_sim;
/* Evaluates qg node by node in eval mode (independent of any program), for batches up to max_batch. */
lb_status lb_sim_create(const lb_graph *qg, int max_batch, lb_sim **out);
/* logits: (n, classes), n <= max_batch. */
lb_status lb_sim_run(lb_sim *s, int n, const float *x, float *logits);
/* The codes of fakequant node `node` after the last run (int32 per element, (n, numel)); NULL if
 * the node is not a quantizer. */
const int32_t *lb_sim_codes(const lb_sim *s, int node);
void lb_sim_free(lb_sim *s);

/* ---- verify ------------------------------------------------------------------------------- */
typedef struct lb_verify_unit {
  char name[LB_NAME_MAX];  /* the quantized tensor (fakequant node) */
  char core[LB_NAME_MAX];  /* the node that computes it */
  int64_t elements;
  int64_t diff_sim;        /* elements where the engine differs from the deploy-exact simulation */
  int32_t worst_sim;       /* worst |difference| in LSB */
  int64_t diff_fq;         /* the same against the plain fake-quant graph (lb_exec, float) */
  int32_t worst_fq;
} lb_verify_unit;

typedef struct lb_verify_report {
  int n_units;
  lb_verify_unit *units;
  int images;
  int correct_engine, correct_sim, correct_fq;
  int64_t logits_diff_sim;   /* output elements where engine and simulation logits differ (bits) */
  int64_t pred_diff_fq;      /* images whose top-1 differs between engine and fake-quant graph */
} lb_verify_report;

/* Run qg's simulation, its fake-quant graph and p's engine on images [0, images) of d. */
lb_status lb_verify(lb_graph *qg, const lb_program *p, const lb_dataset *d, const lb_augment *norm, int images,
                    int batch, lb_verify_report *r);
void lb_verify_report_free(lb_verify_report *r);

#ifdef __cplusplus
}
#endif
#endif
