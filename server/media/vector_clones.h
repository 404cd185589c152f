// STYLIZER_VECTOR_CLONES marks a function whose loops the compiler vectorises
// well only with AVX2 (byte shuffles, 8-wide square roots). GCC then builds
// an AVX2 clone next to the baseline x86-64 one and picks it at load time
// where the CPU has AVX2 (function multiversioning); elsewhere the mark is
// empty.
#ifndef STYLIZER_SERVER_MEDIA_VECTOR_CLONES_H_
#define STYLIZER_SERVER_MEDIA_VECTOR_CLONES_H_

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define STYLIZER_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define STYLIZER_VECTOR_CLONES
#endif

#endif  // STYLIZER_SERVER_MEDIA_VECTOR_CLONES_H_
