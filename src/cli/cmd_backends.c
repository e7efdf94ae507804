/* lowbit backends: the deployment targets and the quantization rules each imposes. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lowbit/qgraph.h"

static void describe(const lb_qspec *q, char *buf, size_t cap) {
  int32_t lo, hi;
  char s[96];
  lb_qspec_range(q, &lo, &hi);
  snprintf(buf, cap, "%s [%d,%d]", lb_qspec_str(q, s, sizeof s), lo, hi);
}

int lb_cmd_backends(int argc, char **argv) {
  lb_args_spec spec = {"backends", "lowbit backends",
                       "List the backend profiles: weight and activation specs (shown at 8 bits, or at the backend's "
                       "fixed width; nnie's log grid as its levels) and where quantizers go.",
                       NULL, 0, NULL, 0, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  printf("%-10s %-38s %-38s %s\n", "backend", "weights (8-bit)", "activations (8-bit)", "rules");
  for (const lb_backend *const *b = lb_backends(); *b; b++) {
    lb_qspec w = (*b)->weight, a = (*b)->act;
    if (!(*b)->fixed_bits) w.bits = a.bits = 8;
    char ws[96], as[96];
    if ((*b)->log_grid) { /* no uniform range: the log levels */
      snprintf(ws, sizeof ws, "log8: 0, +-2^((k+z)/16), k<=127");
      snprintf(as, sizeof as, "%s", ws);
    } else {
      describe(&w, ws, sizeof ws);
      describe(&a, as, sizeof as);
    }
    printf("%-10s %-38s %-38s %s%s%s%s%s\n", (*b)->name, ws, as,
           (*b)->log_grid ? "log grid (z = rint(16 log2 c) - 127, c = running max|x|); " : "",
           (*b)->fixed_bits ? "fixed bits; " : "any bits; ",
           (*b)->first_last_8bit ? "first/last 8-bit; " : "", (*b)->act_unsigned_after_relu ? "unsigned after ReLU; " : "",
           (*b)->quantize_add_inputs ? "add/pool inputs quantized" : "conv/linear inputs only");
  }
  return LB_EXIT_OK;
}
