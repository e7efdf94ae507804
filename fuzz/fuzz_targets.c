/* The loaders' fuzz targets (fuzz_targets.h). */
#include "fuzz_targets.h"

#include <stdlib.h>
#include <string.h>

#include "lowbit/deploy.h"
#include "lowbit/graph.h"
#include "lowbit/onnx.h"
#include "lowbit/qgraph.h"

int lb_fuzz_onnx(const uint8_t *data, size_t len) {
  lb_graph *g = NULL;
  if (lb_onnx_import_bytes(data, len, "fuzz", &g, NULL) != LB_OK) return 0;
  lb_graph_free(g);
  return 1;
}

/* A copy of the bytes whose last 4 hold the CRC-32 of the rest (files shorter than 12 bytes
 * are left as they are). */
static uint8_t *with_crc(const uint8_t *data, size_t len) {
  uint8_t *b = malloc(len ? len : 1);
  if (!b) return NULL;
  memcpy(b, data, len);
  if (len >= 12) {
    uint32_t crc = lb_crc32(0, b, len - 4);
    memcpy(b + len - 4, &crc, 4);
  }
  return b;
}

int lb_fuzz_lbm(const uint8_t *data, size_t len) {
  static int registered;
  if (!registered) registered = lb_quant_register_ops() == LB_OK; /* quantized models hold quant ops */
  uint8_t *b = with_crc(data, len);
  if (!b) return 0;
  lb_graph *g = NULL;
  lb_section *sec = NULL;
  int n = 0, ok = lb_lbm_load_bytes(b, len, "fuzz", &g, &sec, &n) == LB_OK;
  lb_graph_free(g);
  lb_sections_free(sec, n);
  free(b);
  return ok;
}

int lb_fuzz_lbp(const uint8_t *data, size_t len) {
  uint8_t *b = with_crc(data, len);
  if (!b) return 0;
  lb_program *p = NULL;
  int ok = lb_program_from_bytes(b, len, &p) == LB_OK;
  lb_program_free(p);
  free(b);
  return ok;
}
