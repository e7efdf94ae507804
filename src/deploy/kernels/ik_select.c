/* Which kernel variant runs (CPU features, LOWBIT_KERNELS override) and the requantization
 * multiplier (one definition for the engine and the simulation). */
/* syscall() (the AMX permission request) is a GNU/BSD extension */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/kernels/ik_internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

/* AMX tiles need the CPU (CPUID.7.0:EDX AMX-TILE and AMX-INT8) and, on Linux, the process's
 * permission for the tile data state, which the kernel grants on request (arch_prctl
 * ARCH_REQ_XCOMP_PERM, Linux 5.16+). Asked once; a refusal means no AMX. */
static int amx_usable(void) {
  static int state = -1; /* -1 not asked yet */
  if (state >= 0) return state;
  unsigned a, b, c, d;
  int ok = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 24)) && (d & (1u << 25));
#if defined(__linux__)
  if (ok) ok = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
  ok = 0;
#endif
  __atomic_store_n(&state, ok, __ATOMIC_RELAXED);
  return ok;
}
#endif

static lb_ik_isa cpu_best(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt");
  if (!avx2) return LB_IK_REF;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
#if defined(__x86_64__)
    if (amx_usable()) return LB_IK_AMX;
#endif
    return LB_IK_AVX512VNNI;
  }
  return LB_IK_AVX2;
#else
  return LB_IK_REF;
#endif
}

int ik_cpu_has_vpopcntdq(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return cpu_best() >= LB_IK_AVX512VNNI && __builtin_cpu_supports("avx512vpopcntdq");
#else
  return 0;
#endif
}

lb_ik_isa ik_isa_clamp(lb_ik_isa isa) {
  lb_ik_isa best = cpu_best();
  if ((int)isa < 0) return LB_IK_REF;
  return isa > best ? best : isa;
}

lb_ik_isa lb_ik_select(void) {
  lb_ik_isa best = cpu_best();
  const char *e = getenv("LOWBIT_KERNELS");
  if (e && *e) {
    lb_ik_isa want = best;
    if (!strcmp(e, "ref")) want = LB_IK_REF;
    else if (!strcmp(e, "avx2")) want = LB_IK_AVX2;
    else if (!strcmp(e, "avx512vnni")) want = LB_IK_AVX512VNNI;
    else if (!strcmp(e, "amx")) want = LB_IK_AMX;
    return want > best ? best : want; /* never a variant the CPU cannot run */
  }
  return best;
}

const char *lb_ik_isa_name(lb_ik_isa isa) {
  switch (isa) {
  case LB_IK_REF: return "ref";
  case LB_IK_AVX2: return "avx2";
  case LB_IK_AVX512VNNI: return "avx512vnni";
  case LB_IK_AMX: return "amx";
  }
  return "unknown";
}

/* m = f * 2^e with f in [0.5, 1): M = round(f * 2^31) lands in [2^30, 2^31] with s = 31 - e;
 * the rounding can reach 2^31, which is then 2^30 with one shift less. Ties round to even
 * (nearbyint in the default rounding mode). */
lb_status lb_requant_multiplier(double m, int32_t *M, int *s) {
  if (!M || !s) return lb_fail(LB_ERR_ARG, "requant multiplier: NULL output");
  if (!(m > 0.0) || !isfinite(m)) return lb_fail(LB_ERR_ARG, "requant multiplier: m = %g must be positive and finite", m);
  int e = 0;
  double f = frexp(m, &e);
  double q = nearbyint(ldexp(f, 31));
  int shift = 31 - e;
  if (q >= 2147483648.0) {
    q = 1073741824.0;
    shift--;
  }
  if (shift < 0 || shift > 62)
    return lb_fail(LB_ERR_ARG, "requant multiplier: m = %g needs shift %d outside [0, 62]", m, shift);
  *M = (int32_t)q;
  *s = shift;
  return LB_OK;
}
