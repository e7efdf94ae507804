/* The model zoo: small CNNs for 1- or 3-channel images, built node by node. */
#include <stdio.h>
#include <string.h>

#include "lowbit/graph.h"

/* A builder that latches the first error so recipes read as plain sequences of layers. */
typedef struct zb {
  lb_graph *g;
  lb_status st;
} zb;

static int zb_add(zb *b, const char *op, const char *name, const int *in, int n_in, const int *ia, int n_ia,
                  const float *fa, int n_fa) {
  if (b->st) return -1;
  int id = -1;
  b->st = lb_graph_add(b->g, op, name, in, n_in, ia, n_ia, fa, n_fa, &id);
  return id;
}

static int conv(zb *b, const char *name, int in, int k, int ksize, int stride, int groups, int bias) {
  int ia[] = {k, ksize, ksize, stride, stride, ksize / 2, ksize / 2, 1, 1, groups, bias};
  return zb_add(b, "conv2d", name, &in, 1, ia, 11, NULL, 0);
}

static int unary(zb *b, const char *op, const char *name, int in) { return zb_add(b, op, name, &in, 1, NULL, 0, NULL, 0); }

static int bn(zb *b, const char *name, int in) {
  float fa[] = {1e-5f, 0.1f};
  return zb_add(b, "batchnorm", name, &in, 1, NULL, 0, fa, 2);
}

static int linear(zb *b, const char *name, int in, int out) {
  int ia[] = {out, 1};
  return zb_add(b, "linear", name, &in, 1, ia, 2, NULL, 0);
}

static int maxpool2(zb *b, const char *name, int in) {
  int ia[] = {2, 2, 2, 2, 0, 0, 0, 0};
  return zb_add(b, "maxpool", name, &in, 1, ia, 8, NULL, 0);
}

static int add(zb *b, const char *name, int x, int y) {
  int in[] = {x, y};
  return zb_add(b, "add", name, in, 2, NULL, 0, NULL, 0);
}

/* conv -> BN -> activation (act NULL: none). Names: <p>.conv <p>.bn <p>.act */
static int conv_bn(zb *b, const char *p, int in, int k, int ksize, int stride, int groups, const char *act) {
  char n1[2 * LB_NAME_MAX], n2[2 * LB_NAME_MAX], n3[2 * LB_NAME_MAX];
  snprintf(n1, sizeof n1, "%s.conv", p);
  snprintf(n2, sizeof n2, "%s.bn", p);
  snprintf(n3, sizeof n3, "%s.%s", p, act ? act : "");
  int x = bn(b, n2, conv(b, n1, in, k, ksize, stride, groups, 0));
  return act ? unary(b, act, n3, x) : x;
}

static void build_mlp(zb *b, int classes) {
  int x = unary(b, "flatten", "flatten", 0);
  x = unary(b, "relu", "fc1.relu", linear(b, "fc1", x, 256));
  x = unary(b, "relu", "fc2.relu", linear(b, "fc2", x, 128));
  linear(b, "fc3", x, classes);
}

/* LeNet-5 with ReLU and max pooling (the common modern form); padding 2 on the first conv
 * keeps 28x28 inputs at the classic 32x32 geometry. */
static void build_lenet5(zb *b, int classes) {
  int ia1[] = {6, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1};
  int x = zb_add(b, "conv2d", "conv1", (int[]){0}, 1, ia1, 11, NULL, 0);
  x = maxpool2(b, "pool1", unary(b, "relu", "conv1.relu", x));
  int ia2[] = {16, 5, 5, 1, 1, 0, 0, 1, 1, 1, 1};
  x = zb_add(b, "conv2d", "conv2", &x, 1, ia2, 11, NULL, 0);
  x = maxpool2(b, "pool2", unary(b, "relu", "conv2.relu", x));
  x = unary(b, "flatten", "flatten", x);
  x = unary(b, "relu", "fc1.relu", linear(b, "fc1", x, 120));
  x = unary(b, "relu", "fc2.relu", linear(b, "fc2", x, 84));
  linear(b, "fc3", x, classes);
}

/* CIFAR-style BasicBlock: 3x3 conv-BN-ReLU, 3x3 conv-BN, plus the input (through a 1x1
 * conv-BN projection when the shape changes), then ReLU. The projection comes first in node
 * order, so in the backward (reverse order) the 3x3 conv writes the input's gradient and the
 * projection adds its share last, touching only the pixels it sampled (conv2d_subsample.c). */
static int basic_block(zb *b, const char *p, int in, int in_c, int out_c, int stride) {
  char n[4][2 * LB_NAME_MAX];
  snprintf(n[0], sizeof n[0], "%s.1", p);
  snprintf(n[1], sizeof n[1], "%s.2", p);
  snprintf(n[2], sizeof n[2], "%s.down", p);
  snprintf(n[3], sizeof n[3], "%s.add", p);
  int sc = (stride != 1 || in_c != out_c) ? conv_bn(b, n[2], in, out_c, 1, stride, 1, NULL) : in;
  int x = conv_bn(b, n[0], in, out_c, 3, stride, 1, "relu");
  x = conv_bn(b, n[1], x, out_c, 3, 1, 1, NULL);
  char r[2 * LB_NAME_MAX];
  snprintf(r, sizeof r, "%s.relu", p);
  return unary(b, "relu", r, add(b, n[3], x, sc));
}

static void build_resnet(zb *b, int classes, int blocks_per_stage) {
  int x = conv_bn(b, "stem", 0, 16, 3, 1, 1, "relu");
  int in_c = 16;
  for (int s = 0; s < 3; s++) {
    int out_c = 16 << s;
    for (int i = 0; i < blocks_per_stage; i++) {
      char p[LB_NAME_MAX];
      snprintf(p, sizeof p, "layer%d.%d", s + 1, i);
      x = basic_block(b, p, x, in_c, out_c, (s > 0 && i == 0) ? 2 : 1);
      in_c = out_c;
    }
  }
  x = unary(b, "gap", "pool", x);
  linear(b, "fc", x, classes);
}

/* MobileNetV2 inverted residual: 1x1 expand (ReLU6), 3x3 depthwise (ReLU6), 1x1 project
 * (linear); identity shortcut when stride 1 and channels match. */
static int inverted_residual(zb *b, const char *p, int in, int in_c, int out_c, int stride, int expand) {
  char n[4][2 * LB_NAME_MAX];
  snprintf(n[0], sizeof n[0], "%s.expand", p);
  snprintf(n[1], sizeof n[1], "%s.dw", p);
  snprintf(n[2], sizeof n[2], "%s.project", p);
  snprintf(n[3], sizeof n[3], "%s.add", p);
  int hidden = in_c * expand;
  int x = expand != 1 ? conv_bn(b, n[0], in, hidden, 1, 1, 1, "relu6") : in;
  x = conv_bn(b, n[1], x, hidden, 3, stride, hidden, "relu6");
  x = conv_bn(b, n[2], x, out_c, 1, 1, 1, NULL);
  return (stride == 1 && in_c == out_c) ? add(b, n[3], x, in) : x;
}

/* A small MobileNetV2 for 28x28/32x32 inputs: (expansion, channels, repeats, stride) stages. */
static void build_mobilenetv2_tiny(zb *b, int classes) {
  static const int cfg[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 2, 2}, {6, 64, 2, 2}};
  int x = conv_bn(b, "stem", 0, 16, 3, 1, 1, "relu6");
  int in_c = 16;
  for (int s = 0; s < 4; s++)
    for (int i = 0; i < cfg[s][2]; i++) {
      char p[LB_NAME_MAX];
      snprintf(p, sizeof p, "block%d.%d", s + 1, i);
      x = inverted_residual(b, p, x, in_c, cfg[s][1], i == 0 ? cfg[s][3] : 1, cfg[s][0]);
      in_c = cfg[s][1];
    }
  x = conv_bn(b, "head", x, 256, 1, 1, 1, "relu6");
  x = unary(b, "gap", "pool", x);
  float p = 0.2f;
  x = zb_add(b, "dropout", "dropout", &x, 1, NULL, 0, &p, 1);
  linear(b, "fc", x, classes);
}

static const char *const zoo_names[] = {"mlp", "lenet5", "resnet8", "resnet20", "mobilenetv2-tiny", NULL};

const char *const *lb_zoo_names(void) { return zoo_names; }

lb_status lb_zoo_build(const char *name, int c, int h, int w, int classes, lb_graph **out) {
  *out = NULL;
  if (c != 1 && c != 3) return lb_fail(LB_ERR_ARG, "zoo: input must have 1 or 3 channels, got %d", c);
  if (h < 8 || w < 8 || h > 4096 || w > 4096) return lb_fail(LB_ERR_ARG, "zoo: input size %dx%d out of range (8..4096)", h, w);
  if (classes < 2 || classes > 100000) return lb_fail(LB_ERR_ARG, "zoo: class count %d out of range", classes);
  int known = 0;
  for (int i = 0; zoo_names[i]; i++) known |= !strcmp(name, zoo_names[i]);
  if (!known) return lb_fail(LB_ERR_NOT_FOUND, "unknown model '%s' (known: mlp, lenet5, resnet8, resnet20, mobilenetv2-tiny)", name);
  zb b = {NULL, LB_OK};
  b.st = lb_graph_create(&b.g, name, lb_shape3(c, h, w));
  if (b.st) return b.st;
  if (!strcmp(name, "mlp")) build_mlp(&b, classes);
  else if (!strcmp(name, "lenet5")) build_lenet5(&b, classes);
  else if (!strcmp(name, "resnet8")) build_resnet(&b, classes, 1);
  else if (!strcmp(name, "resnet20")) build_resnet(&b, classes, 3);
  else build_mobilenetv2_tiny(&b, classes);
  if (!b.st) b.st = lb_graph_alloc_values(b.g);
  if (b.st) {
    lb_graph_free(b.g);
    return b.st;
  }
  *out = b.g;
  return LB_OK;
}
