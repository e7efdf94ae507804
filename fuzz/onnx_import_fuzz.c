/* Fuzz harness for the ONNX importer: any bytes must give a graph or a clear error, never a
 * crash, leak or undefined behaviour. libFuzzer entry point; with -DLB_FUZZ_MAIN it is a plain
 * program that imports the files named on the command line (for AFL++ or replaying crashes).
 * Build and run: see docs/onnx-import.md ("Fuzzing"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lowbit/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lb_graph *g = NULL;
  if (lb_onnx_import_bytes(data, size, "fuzz", &g, NULL) == LB_OK) lb_graph_free(g);
  return 0;
}

#ifdef LB_FUZZ_MAIN
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) continue;
    static uint8_t buf[1 << 24];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
  }
  return 0;
}
#endif
