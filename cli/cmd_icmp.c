// SPDX-License-Identifier: MIT
/* lfp icmp: the ICMP tables of liblfp (lib/icmp.c) as text or JSON. No daemon involved. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <lfp/icmp.h>
#include "cli.h"

static json_t *entry_json(const struct lfp_icmp_entry *e)
{
	return json_pack("{s:s, s:i, s:o, s:s, s:s, s:s, s:s, s:b}", "family",
			 lfp_icmp_family_name(e->family), "type", e->type, "code",
			 e->code == LFP_ICMP_CODE_ANY ? json_null() : json_integer(e->code), "name",
			 e->name, "class", lfp_icmp_class_name(e->cls), "description",
			 e->description, "names", (e->flags & LFP_ICMP_F_TYPE) ? "type" : "code",
			 "nd_pmtu", (e->flags & LFP_ICMP_F_ND_PMTU) != 0);
}

static void print_family(int family)
{
	const struct lfp_icmp_entry *t;
	size_t n;

	if (lfp_icmp_table(family, &t, &n))
		return;
	printf("ICMP%s\n", family == AF_INET ? "v4" : "v6");
	printf("%4s %4s  %-32s %-5s  %-7s  %s\n", "TYPE", "CODE", "NAME", "CLASS", "ND/PMTU",
	       "DESCRIPTION");
	for (size_t i = 0; i < n; i++) {
		const struct lfp_icmp_entry *e = &t[i];
		char code[8];
		bool type_row = e->flags & LFP_ICMP_F_TYPE;

		if (e->code == LFP_ICMP_CODE_ANY)
			snprintf(code, sizeof(code), "*");
		else
			snprintf(code, sizeof(code), "%d", e->code);
		/* code names are indented under their type's row */
		printf("%4u %4s  %s%-*s %-5s  %-7s  %s\n", e->type, code, type_row ? "" : "  ",
		       type_row ? 32 : 30, e->name, lfp_icmp_class_name(e->cls),
		       (e->flags & LFP_ICMP_F_ND_PMTU) ? "yes" : "", e->description);
	}
}

int cmd_icmp(struct cli *cli, int argc, char **argv)
{
	static const int both[] = { AF_INET, AF_INET6 };
	const int *fams = both;
	size_t nfams = 2;

	if (argc > 2) {
		fprintf(stderr, "error: icmp takes at most one argument, v4 or v6\n");
		return EXIT_REQUEST;
	}
	if (argc == 2) {
		if (!strcmp(argv[1], "v4") || !strcmp(argv[1], "4")) {
			fams = &both[0];
		} else if (!strcmp(argv[1], "v6") || !strcmp(argv[1], "6")) {
			fams = &both[1];
		} else {
			fprintf(stderr, "error: unknown family '%s' (v4 or v6)\n", argv[1]);
			return EXIT_REQUEST;
		}
		nfams = 1;
	}
	if (cli->json) {
		json_t *arr = json_array();

		if (!arr)
			return EXIT_SYSTEM;
		for (size_t f = 0; f < nfams; f++) {
			const struct lfp_icmp_entry *t;
			size_t n;

			if (lfp_icmp_table(fams[f], &t, &n))
				continue;
			for (size_t i = 0; i < n; i++) {
				if (json_array_append_new(arr, entry_json(&t[i]))) {
					json_decref(arr);
					fprintf(stderr, "error: out of memory\n");
					return EXIT_SYSTEM;
				}
			}
		}
		cli_print_json(arr);
		json_decref(arr);
		return 0;
	}
	for (size_t f = 0; f < nfams; f++) {
		if (f)
			printf("\n");
		print_family(fams[f]);
	}
	printf("\nCODE *: the row names the whole type; indented names are single codes.\n"
	       "ND/PMTU yes: neighbor or path MTU discovery needs it, so a default-deny policy\n"
	       "at the packet layers does not block it unless a filter names it (docs/icmp.md).\n");
	return 0;
}
