/* bench/bench-util.h: small helpers every benchmark uses.
 *
 * Header-only on purpose: the benchmarks are separate programs that link no
 * common object. */
#ifndef SMK_BENCH_UTIL_H
#define SMK_BENCH_UTIL_H

#include <stdint.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds of CPU time this process used (all its threads).  For a
 * single-threaded benchmark whose work all runs in-process, this measures
 * the work itself and not the neighbours on a shared machine. */
static inline double
bench_cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Marsaglia's xorshift: cheap, reproducible filler, not for secrets. */
static inline uint32_t
bench_xorshift32(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

#endif
