// SPDX-License-Identifier: MIT
/* The library's only way to speak: a replaceable print callback. */
#include <stdio.h>
#include <lfp/common.h>

static int print_default(enum lfp_print_level level, const char *fmt, va_list ap)
{
	if (level > LFP_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static lfp_print_fn_t print_fn = print_default;

lfp_print_fn_t lfp_set_print(lfp_print_fn_t fn)
{
	lfp_print_fn_t old = print_fn;

	print_fn = fn;
	return old;
}

void lfp_print(enum lfp_print_level level, const char *fmt, ...)
{
	va_list ap;

	if (!print_fn)
		return;
	va_start(ap, fmt);
	print_fn(level, fmt, ap);
	va_end(ap);
}

const char *lfp_version(void)
{
	return LFP_VERSION;
}
