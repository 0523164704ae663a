/* CPU feature detection: cpuid leaves 1 and 7, and xgetbv so that AVX registers are only used
 * when the OS saves them. Other architectures report no x86 features. */
#include "ferry/cpu.h"

#include <pthread.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static struct ferry_cpu detect(void)
{
    struct ferry_cpu c = {0};
    unsigned int a, b, cx, d;
    if (!__get_cpuid(1, &a, &b, &cx, &d)) return c;
    int osxsave = (cx >> 27) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    int ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6;
    c.avx = ymm && ((cx >> 28) & 1);
    c.fma = c.avx && ((cx >> 12) & 1);
    c.f16c = c.avx && ((cx >> 29) & 1);
    if (__get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
        c.avx2 = c.avx && ((b >> 5) & 1);
        c.avx512f = zmm && ((b >> 16) & 1);
        c.avx512bw = c.avx512f && ((b >> 30) & 1);
        c.avx512vl = c.avx512f && ((b >> 31) & 1);
        c.avx512vnni = c.avx512vl && ((cx >> 11) & 1);
    }
    return c;
}
#else
static struct ferry_cpu detect(void)
{
    struct ferry_cpu c = {0};
    return c;
}
#endif

/* The only process-wide state of the library: a read-only fact about the machine, filled once. */
static struct ferry_cpu features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static void fill(void)
{
    features = detect();
}

const struct ferry_cpu *ferry_cpu_detect(void)
{
    pthread_once(&features_once, fill);
    return &features;
}
