// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/diag.h>

static void test_diag_print_caret(void **state)
{
	struct lfp_diags d = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(lfp_diags_set_file(&d, "rules.lfp"), 0);
	assert_int_equal(lfp_diags_add(&d, LFP_DIAG_ERROR, (struct lfp_loc){ 3, 7 },
				       "filter add bogus", "unknown word '%s'", "bogus"),
			 0);
	assert_int_equal(lfp_diags_errors(&d), 1);
	lfp_diags_print(&d, f);
	fclose(f);
	assert_string_equal(buf, "rules.lfp:3:7: error: unknown word 'bogus'\n"
				 "  filter add bogus\n"
				 "        ^\n");
	free(buf);
	lfp_diags_fini(&d);
}

static void test_diag_no_location(void **state)
{
	struct lfp_diags d = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(lfp_diags_add(&d, LFP_DIAG_ERROR, (struct lfp_loc){ 0, 0 }, NULL, "x"), 0);
	lfp_diags_print(&d, f);
	fclose(f);
	assert_string_equal(buf, "error: x\n");
	free(buf);
	lfp_diags_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diag_print_caret),
		cmocka_unit_test(test_diag_no_location),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
