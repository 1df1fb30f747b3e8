/* SPDX-License-Identifier: MIT */
/*
 * Phase timing for lfpd's debug log (LFP_DEBUG=1): where a commit's time goes,
 * which bench/run reads to explain commit times.
 */
#pragma once

#include <stdint.h>
#include <time.h>

/** Monotonic clock in microseconds. */
static inline uint64_t timing_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/** Milliseconds since @p t0 (from timing_us()), as a double for "%.1f". */
static inline double timing_ms_since(uint64_t t0)
{
	return (double)(timing_us() - t0) / 1000.0;
}
