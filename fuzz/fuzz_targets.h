/* What each loader's fuzz harness does with one input: load it, free what loaded, never crash.
 * Shared by the libFuzzer entry points (fuzz/<loader>_fuzz.c) and the mutation smoke run that CI
 * executes under ASan/UBSan (tests/test_fuzz_smoke.c). Each returns 1 if the input loaded. */
#ifndef LOWBIT_FUZZ_TARGETS_H
#define LOWBIT_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

/* ONNX model bytes through lb_onnx_import_bytes. */
int lb_fuzz_onnx(const uint8_t *data, size_t len);
/* .lbm bytes through lb_lbm_load_bytes, after setting the trailing CRC-32 to match the bytes so
 * mutations reach the parser behind the checksum (the checksum itself is tested elsewhere). */
int lb_fuzz_lbm(const uint8_t *data, size_t len);
/* .lbp bytes through lb_program_from_bytes, CRC fixed up the same way. */
int lb_fuzz_lbp(const uint8_t *data, size_t len);

#endif
