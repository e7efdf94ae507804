/* Narrow-weight conv layouts kept at their width: 4- and 2-bit weights are laid out once at
 * prepare (ik_wlayout_build) and the layout's bytes packed to 4 or 2 bits, so the prepared
 * object holds half or a quarter of an 8-bit layout, and each run widens it again with a
 * linear SIMD unpack (64 bytes per few instructions) instead of rebuilding the layout from the
 * packed rows value by value. */
#include <immintrin.h>
#include <string.h>

#include "deploy/kernels/ik_nhwc.h"

size_t ik_wlayout_packed_bytes(size_t n, int bits) { return (n * (size_t)bits + 7) / 8; }

void ik_wlayout_pack(const int8_t *layout, size_t n, int bits, uint8_t *dst) {
  memset(dst, 0, ik_wlayout_packed_bytes(n, bits));
  const unsigned mask = (1u << bits) - 1u;
  for (size_t i = 0; i < n; i++) {
    size_t bit = i * (size_t)bits;
    dst[bit >> 3] |= (uint8_t)(((unsigned)(uint8_t)layout[i] & mask) << (bit & 7));
  }
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw")
void ik_wlayout_unpack(const uint8_t *src, size_t n, int bits, int sgn, int8_t *dst) {
  size_t i = 0;
  if (bits == 4) { /* 32 bytes -> 32 words (lo nibble, hi nibble << 8) -> 64 bytes in field order */
    const __m512i m0 = _mm512_set1_epi16(0x000f), m1 = _mm512_set1_epi16(0x0f00), h = _mm512_set1_epi8(8);
    for (; i + 64 <= n; i += 64) {
      __m512i w = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(src + i / 2)));
      __m512i v = _mm512_or_si512(_mm512_and_si512(w, m0), _mm512_and_si512(_mm512_slli_epi16(w, 4), m1));
      if (sgn) v = _mm512_sub_epi8(_mm512_xor_si512(v, h), h); /* sign-extend the 4-bit fields */
      _mm512_storeu_si512(dst + i, v);
    }
  } else if (bits == 2) { /* 16 bytes -> 16 dwords -> 64 bytes */
    const __m512i h = _mm512_set1_epi8(2);
    for (; i + 64 <= n; i += 64) {
      __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(src + i / 4)));
      __m512i v = _mm512_or_si512(
          _mm512_or_si512(_mm512_and_si512(d, _mm512_set1_epi32(0x3)), _mm512_and_si512(_mm512_slli_epi32(d, 6), _mm512_set1_epi32(0x300))),
          _mm512_or_si512(_mm512_and_si512(_mm512_slli_epi32(d, 12), _mm512_set1_epi32(0x30000)),
                          _mm512_and_si512(_mm512_slli_epi32(d, 18), _mm512_set1_epi32(0x3000000))));
      if (sgn) v = _mm512_sub_epi8(_mm512_xor_si512(v, h), h);
      _mm512_storeu_si512(dst + i, v);
    }
  }
  for (; i < n; i++) { /* the tail (layouts are whole 64-byte rows, so normally none) */
    size_t bit = i * (size_t)bits;
    int u = (src[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1), half = 1 << (bits - 1);
    dst[i] = (int8_t)(sgn ? (u ^ half) - half : u);
  }
}
#pragma GCC pop_options
