/* nn loss: softmax cross-entropy with label smoothing against hand-computed values (worked out
 * in double from the definition -sum_j t_j log softmax(z)_j), stability on huge logits, the
 * gradient by formula and finite differences, scale/accumulate/NULL, and top-1 counting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

static void test_hand(void) {
  /* rows [1,2,3] label 0 and [-1,.5,.5] label 2, smoothing 0.1 */
  const float z[6] = {1, 2, 3, -1, 0.5f, 0.5f};
  const int32_t lab[2] = {0, 2};
  float p[6], g[6];
  float loss = lb_softmax_xent_forward(2, 3, z, lab, 0.1f, p);
  CHECK_NEAR(loss, (2.307605964444381 + 0.8489161848417257) / 2, 1e-6);
  static const double want_p[6] = {0.09003057317038043, 0.24472847105479759, 0.6652409557748217,
                                   0.10036756468345168, 0.4498162176582742,  0.4498162176582742};
  for (int i = 0; i < 6; i++) CHECK_NEAR(p[i], want_p[i], 1e-7);
  /* without smoothing: plain -log p_label */
  CHECK_NEAR(lb_softmax_xent_forward(1, 3, z, lab, 0.0f, p), 2.4076059644443806, 1e-6);
  /* probs may be NULL when only the loss is wanted */
  CHECK_NEAR(lb_softmax_xent_forward(2, 3, z, lab, 0.1f, NULL), loss, 0.0);

  /* gradient: (p - t)/N, t = 0.9*onehot + 0.1/3 */
  lb_softmax_xent_forward(2, 3, z, lab, 0.1f, p);
  static const double want_g[6] = {-0.42165138008147646, 0.10569756886073213, 0.3159538112207442,
                                   0.033517115675059175, 0.20824144216247042, -0.2417585578375296};
  memset(g, 0, sizeof g);
  lb_softmax_xent_backward(2, 3, p, lab, 0.1f, 1.0f, g);
  for (int i = 0; i < 6; i++) CHECK_NEAR(g[i], want_g[i], 1e-7);
  /* scale and accumulate: a pre-filled buffer gets scale * (p - t)/N added */
  for (int i = 0; i < 6; i++) g[i] = 1.0f;
  lb_softmax_xent_backward(2, 3, p, lab, 0.1f, 2.5f, g);
  for (int i = 0; i < 6; i++) CHECK_NEAR(g[i], 1.0 + 2.5 * want_g[i], 1e-6);
  lb_softmax_xent_backward(2, 3, p, lab, 0.1f, 1.0f, NULL); /* skipped */
  /* each gradient row sums to 0 (probs and target both sum to 1) */
  memset(g, 0, sizeof g);
  lb_softmax_xent_backward(2, 3, p, lab, 0.1f, 1.0f, g);
  CHECK_NEAR(g[0] + g[1] + g[2], 0.0, 1e-7);
  CHECK_NEAR(g[3] + g[4] + g[5], 0.0, 1e-7);
}

static void test_stable(void) {
  /* exp(1000) overflows float and double: the log-sum-exp must not */
  const float z[3] = {1000.0f, 0.0f, -1000.0f};
  int32_t lab = 0;
  float p[3];
  float loss = lb_softmax_xent_forward(1, 3, z, &lab, 0.0f, p);
  CHECK(isfinite(loss));
  CHECK_NEAR(loss, 0.0, 1e-6);
  CHECK(p[0] == 1.0f && p[1] == 0.0f && p[2] == 0.0f);
  lab = 1;
  CHECK_NEAR(lb_softmax_xent_forward(1, 3, z, &lab, 0.0f, p), 1000.0, 1e-3);
  /* smoothing spreads s/K on the -1000 logit too: loss = 1000*(1-s+s/3) + s/3*2000 at label 1 */
  CHECK_NEAR(lb_softmax_xent_forward(1, 3, z, &lab, 0.3f, p), 1000.0 * (0.7 + 0.1) + 0.1 * 2000.0, 1e-2);
  const float big[2] = {-1e4f, -1e4f}; /* exp underflows to 0 without the max shift */
  lab = 0;
  CHECK_NEAR(lb_softmax_xent_forward(1, 2, big, &lab, 0.0f, p), log(2.0), 1e-6);
}

typedef struct xent_ctx {
  int n, k;
  float s;
  float *z, *p;
  int32_t *lab;
} xent_ctx;

static double xent_loss(void *pv) {
  xent_ctx *t = pv;
  return lb_softmax_xent_forward(t->n, t->k, t->z, t->lab, t->s, t->p);
}

static void test_fd(lb_rng *rng) {
  enum { NN = 6, K = 7 };
  float z[NN * K], p[NN * K], g[NN * K];
  int32_t lab[NN];
  for (float s = 0.0f; s < 0.5f; s += 0.25f) {
    xent_ctx t = {.n = NN, .k = K, .s = s, .z = z, .p = p, .lab = lab};
    lbt_fill_uniform(z, NN * K, rng, -3.0f, 3.0f);
    for (int i = 0; i < NN; i++) lab[i] = (int32_t)lb_rng_below(rng, K);
    xent_loss(&t);
    memset(g, 0, sizeof g);
    lb_softmax_xent_backward(NN, K, p, lab, s, 1.0f, g);
    /* the forward returns a float: a wide step keeps its rounding out of the difference */
    double e = lbt_grad_check(xent_loss, &t, z, g, NN * K, 0, 1e-2, 1e-2, rng);
    CHECK_MSG(e < 5e-3, "xent FD err %g (smoothing %g)", e, (double)s);
  }
}

static void test_count(void) {
  const float z[4 * 3] = {1, 3, 3, /* tie: index 1 wins */
                          0, 0, 0, /* all equal: index 0 */
                          -5, -4, -6, 2, 1, 0};
  const int32_t a[4] = {1, 0, 1, 0}, b[4] = {2, 1, 0, 2};
  CHECK(lb_count_correct(4, 3, z, a) == 4);
  CHECK(lb_count_correct(4, 3, z, b) == 0);
  const int32_t c[4] = {1, 2, 1, 1};
  CHECK(lb_count_correct(4, 3, z, c) == 2);
}

int main(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 17);
  test_hand();
  test_stable();
  test_fd(&rng);
  test_count();
  return lbt_finish("test_nn_loss");
}
