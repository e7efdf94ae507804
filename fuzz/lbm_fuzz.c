/* Fuzz harness for the .lbm loader (libFuzzer entry point; fuzz/README.md builds it for
 * libFuzzer, AFL++ or replay). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lb_fuzz_lbm(data, size);
  return 0;
}
