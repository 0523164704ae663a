/* Run-time CPU feature detection for SIMD kernels (x86-64: cpuid + xgetbv). */
#ifndef FERRY_CPU_H
#define FERRY_CPU_H

struct ferry_cpu {
    int avx, avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni;
};

/* Detected once; thread-safe after the first call (idempotent writes). */
const struct ferry_cpu *ferry_cpu_detect(void);

#endif
