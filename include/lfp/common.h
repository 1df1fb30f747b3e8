/* SPDX-License-Identifier: MIT */
/**
 * @file common.h
 * @brief Conventions shared by every liblfp call.
 *
 * - Functions returning `int` return 0 on success or a negative errno.
 * - Functions returning a pointer return NULL only for "absent" or on
 *   allocation failure (then errno is ENOMEM).
 * - The library never prints and never exits: it reports through the print
 *   callback set with lfp_set_print() and through struct lfp_diag lists.
 * - Extensible calls take an options struct whose first field is its size;
 *   declare one with LFP_OPTS(type, name, .field = value).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Declare and zero an options struct, setting its sz field. */
#define LFP_OPTS(TYPE, NAME, ...) struct TYPE NAME = { .sz = sizeof(struct TYPE), __VA_ARGS__ }

/** Cleanup attribute: `LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;` */
#define LFP_CLEANUP(fn) __attribute__((cleanup(fn)))

/** Hand ownership of *p to the caller and leave NULL behind. */
#define LFP_TAKE_PTR(p)                                                                            \
	({                                                                                         \
		__typeof__(p) tmp_take_ = (p);                                                     \
		(p) = NULL;                                                                        \
		tmp_take_;                                                                         \
	})

enum lfp_print_level {
	LFP_WARN,
	LFP_INFO,
	LFP_DEBUG,
};

typedef int (*lfp_print_fn_t)(enum lfp_print_level level, const char *fmt, va_list ap);

/**
 * Set the print callback for library messages.
 * @param fn callback, or NULL to silence the library.
 * @return the previous callback.
 * Default: warnings to stderr.
 */
lfp_print_fn_t lfp_set_print(lfp_print_fn_t fn);

/** Library-internal printing through the callback (also usable by lfpd and lfp). */
void lfp_print(enum lfp_print_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** liblfp version string, "MAJOR.MINOR.PATCH". */
const char *lfp_version(void);

#ifdef __cplusplus
}
#endif
