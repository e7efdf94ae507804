/* Fuzz harness for the ONNX importer: any bytes must give a graph or a clear error, never a
 * crash, leak or undefined behaviour (libFuzzer entry point; fuzz/README.md builds it for
 * libFuzzer, AFL++ or replay). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lb_fuzz_onnx(data, size);
  return 0;
}
