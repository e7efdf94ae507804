/* C-source export, private: formatting of constants, packed weights and names as C text
 * (export_c_emit.c), used by the program walk in export_c.c. Text goes to a FILE (a memory
 * stream there, written atomically at the end). */
#ifndef LOWBIT_EXPORT_C_H
#define LOWBIT_EXPORT_C_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum cx_type { CX_U8 = 0, CX_I32, CX_F32 } cx_type;
/* `static const TYPE name[n] = {...};` (n >= 1) of uint8_t, int32_t or float values. */
void cx_array(FILE *f, const char *name, cx_type type, const void *v, int64_t n);
/* One float as a C literal that reads back to the same bits (exact hex, "0x1.8p-3f"). */
void cx_float(FILE *f, float v);
/* One int32 as a C literal (INT32_MIN spelled so that it stays an int32 expression). */
void cx_int(FILE *f, int32_t v);
/* Pack n signed weight codes at `bits` (8, 4, 2) LSB first into out ((n * bits + 7) / 8 bytes). */
void cx_pack_weights(const int8_t *w, int64_t n, int bits, uint8_t *out);
/* A name safe inside a C comment (printable ASCII without '*'; others become '?'). */
void cx_comment_name(FILE *f, const char *name);
/* The C identifier for a file name: [A-Za-z0-9_] kept, others '_', "m_" before a leading digit;
 * 0 if the name is empty or does not fit cap. */
int cx_identifier(const char *base, char *out, size_t cap);

#endif
