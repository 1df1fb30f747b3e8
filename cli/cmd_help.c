// SPDX-License-Identifier: MIT
/* The command table (with each command's man-style help) and `lfp help layers`. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static void print_fields(FILE *f, uint32_t fields)
{
	bool first = true;

	for (int i = 0; i < LFP_F_COUNT; i++) {
		if (!(fields & (1u << i)))
			continue;
		fprintf(f, "%s%s", first ? "" : ", ", lfp_field_info(i)->name);
		first = false;
	}
}

static int help_layers(struct cli *cli)
{
	if (cli->json) {
		json_t *arr = json_array();

		for (int l = 0; l < LFP_LAYER_COUNT; l++) {
			const struct lfp_layer_info *li = lfp_layer_info(l);
			json_t *fields = json_array(), *acts = json_array();

			for (int i = 0; i < LFP_F_COUNT; i++)
				if (li->fields & (1u << i))
					json_array_append_new(fields,
							      json_string(lfp_field_info(i)->name));
			for (int a = 0; a <= LFP_ACT_REDIRECT; a++)
				if (li->actions & (1u << a))
					json_array_append_new(acts,
							      json_string(lfp_action_name(a)));
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b}",
							     "name", li->name, "wfp", li->wfp,
							     "hook", li->hook, "help", li->help,
							     "fields", fields, "actions", acts,
							     "can_pend", li->can_pend));
		}
		cli_print_json(arr);
		json_decref(arr);
		return 0;
	}
	for (int l = 0; l < LFP_LAYER_COUNT; l++) {
		const struct lfp_layer_info *li = lfp_layer_info(l);
		bool first = true;

		printf("%s (WFP %s): %s\n", li->name, li->wfp, li->help);
		printf("  hook:    %s\n", li->hook);
		printf("  fields:  ");
		print_fields(stdout, li->fields);
		printf("\n  actions: ");
		for (int a = 0; a <= LFP_ACT_REDIRECT; a++) {
			if (!(li->actions & (1u << a)))
				continue;
			printf("%s%s", first ? "" : ", ", lfp_action_name(a));
			first = false;
		}
		printf("%s\n\n", li->can_pend ? " (can pend)" : "");
	}
	printf("Which layers this lfpd enforces, and by which mechanism on this kernel: lfp "
	       "status\n");
	return 0;
}

int cmd_help(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "layers"))
		return help_layers(cli);
	if (argc >= 2) {
		for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
			if (!strcmp(c->name, argv[1])) {
				fputs(c->help, stdout);
				return 0;
			}
		}
		fprintf(stderr, "error: no help on '%s' (try: lfp help layers)\n", argv[1]);
		return EXIT_REQUEST;
	}
	fputs("lfp help layers   each layer, its hook, fields and actions\n"
	      "lfp COMMAND --help\n",
	      stdout);
	return 0;
}

const char cli_apply_help[] =
	"Usage: lfp -f FILE [--runtime | --boot-time] [--provider NAME] [--confirm SECONDS]\n"
	"       lfp -c -f FILE\n"
	"\n"
	"Apply FILE as one transaction: afterwards FILE's provider (its `provider NAME`\n"
	"line, else --provider, else the file's name without its extension) holds exactly\n"
	"what FILE says; other providers' objects are left alone. Filters FILE keeps\n"
	"unchanged keep their ids and hit counts, so applying the same file twice changes\n"
	"nothing. All or nothing: on any error (reported as FILE:LINE:COL) nothing\n"
	"changes, and the kernel sees either the whole old or the whole new policy.\n"
	"\n"
	"  -c          only check FILE (parse and validate); no daemon needed; prints\n"
	"              nothing on success\n"
	"  --runtime   the objects end when lfpd stops (default: persistent)\n"
	"  --boot-time FILE is the provider's boot-time set, a set apart: enforced by\n"
	"              `lfpd --boot` from boot until lfpd starts, not by lfpd itself;\n"
	"              the provider's other objects are left alone (and vice versa)\n"
	"  --confirm SECONDS\n"
	"              roll the change back after SECONDS (1-86400) unless `lfp confirm`\n"
	"              comes first: the provider's objects return as they were, with\n"
	"              their ids, in one transaction. For remote changes that might cut\n"
	"              you off. One change waits at a time; until then the provider's\n"
	"              objects cannot change. The rollback is saved in the state dir: a\n"
	"              killed lfpd rolls back when it starts again (at once if the\n"
	"              deadline passed); a stopping lfpd rolls back before it exits.\n"
	"  FILE = -    read standard input\n"
	"\n"
	"Exit: 0 applied, 1 FILE is wrong or refused, 2 lfpd unreachable or the kernel failed.\n";

const struct cli_cmd cli_cmds[] = {
	{ "status", cmd_status, "daemon, scope, each layer's mechanism, counters",
	  "Usage: lfp status [--json]\n"
	  "\n"
	  "Shows lfpd's version, the cgroup and network namespace it filters, whether it\n"
	  "adopted pinned programs, the policy generation, every kernel hook with its state\n"
	  "(and why it is not active), each layer's enforcement on this kernel, filter and\n"
	  "sublayer counts, and counters: classifications, events, event drops (never\n"
	  "silent), generation retries, UDP cache hits, errors.\n" },
	{ "pending", cmd_pending, "connections held for an answer (ask); answer them",
	  "Usage: lfp pending [--json]\n"
	  "       lfp pending answer ID permit|block [once|until-restart|always]\n"
	  "                          [scope app|app+remote|app+remote+port]\n"
	  "\n"
	  "A filter with the action `ask` (auth-connect, auth-recv-accept) holds each\n"
	  "connection it decides until someone answers: the connect() returns, its first\n"
	  "packet waits in lfpd.\n"
	  "`lfp pending` lists them: id, pid, user, protocol, remote, age, executable.\n"
	  "`answer` completes one: once (this connection only, the default), until-restart\n"
	  "(a runtime filter) or always (a persistent filter); both are hard filters of\n"
	  "provider `ask` in the ask filter's sublayer, just above it, for the executable\n"
	  "(scope app, the default), also the remote address (app+remote), also protocol\n"
	  "and port (app+remote+port). A blocked TCP connection fails at once\n"
	  "(ECONNABORTED). Inbound, the client's first SYN or datagram is what waits; a\n"
	  "block answers it with a reset or ICMP port unreachable (ECONNREFUSED).\n"
	  "Without an answer the filter's timeout (default 30 s) applies its default\n"
	  "(default block) to that connection only.\n"
	  "Unconnected UDP: sendto() cannot wait, so the first datagram to a remote is\n"
	  "accepted by sendto() and held (later ones too, up to 8); a block drops them\n"
	  "unsent with no error, and only later sendto() calls to that remote fail\n"
	  "(EPERM). A permit sends them. (docs/callouts.md; WFP's asynchronous model.)\n"
	  "Root and group lfp may answer every connection; other users their own.\n" },
	{ "prompt", cmd_prompt, "answer held connections interactively, one key each",
	  "Usage: lfp prompt\n"
	  "\n"
	  "Shows each held connection (executable, pid, user, protocol, remote, time left)\n"
	  "and takes one key: a allow once, d deny once, A allow always, D deny always,\n"
	  "r / R allow / deny until lfpd restarts, s skip, q quit. Reads keys from stdin\n"
	  "(no Enter needed on a terminal; a pipe works too).\n" },
	{ "filter", cmd_filter, "add, delete or list filters",
	  "Usage: lfp filter add [--runtime | --boot-time] [--provider NAME] STATEMENT\n"
	  "       lfp filter delete ID|NAME\n"
	  "       lfp filter list [--layer LAYER] [--json]\n"
	  "\n"
	  "STATEMENT: [name NAME] [desc TEXT] layer LAYER [sublayer NAME] [weight N|class N]\n"
	  "           CONDITION... ACTION [FLAG...]\n"
	  "  CONDITION  FIELD [OP] VALUE | FIELD [OP] {VALUE, ...}   (OP: == != < <= > >=)\n"
	  "  ACTION     permit | block | callout NAME\n"
	  "  FLAG       hard | soft | log | nolog | permit-if-callout-unregistered\n"
	  "\n"
	  "add prints the new filter's id. Conditions on different fields AND, values in a\n"
	  "set and conditions on the same field OR. `app PATH` matches the executable by\n"
	  "identity (a renamed or copied binary is another app). Without `sublayer` the\n"
	  "filter goes to `default` (weight 0x8000); without weight/class the engine\n"
	  "generates one from the conditions' specificity.\n"
	  "list shows id, effective weight, hit count, provider and canonical rule text,\n"
	  "marking filters that are not persistent: (runtime), (dynamic), (boot-time).\n"
	  "--runtime: gone when lfpd stops. --boot-time: in the boot-time set, enforced\n"
	  "by `lfpd --boot` from boot until lfpd starts (lfpd itself does not enforce it);\n"
	  "it may use only boot-time sublayers and default.\n"
	  "\n"
	  "Examples:\n"
	  "  lfp filter add name no-curl layer auth-connect app /usr/bin/curl block\n"
	  "  lfp filter add layer auth-connect remote.addr 10.0.0.0/8 proto tcp permit hard\n"
	  "  lfp filter add layer auth-connect user 1000 remote.port {80, 443} block\n"
	  "  lfp filter delete no-curl\n"
	  "\n"
	  "Changing policy needs root or group lfp. Rule language: docs/rule-language.md.\n" },
	{ "sublayer", cmd_sublayer, "add, delete or list sublayers",
	  "Usage: lfp sublayer add [--runtime | --boot-time] [--provider NAME] NAME weight N\n"
	  "       lfp sublayer delete NAME\n"
	  "       lfp sublayer list [--json]\n"
	  "\n"
	  "Sublayers are priority buckets present in every layer (16-bit weight, higher\n"
	  "first). Every sublayer is evaluated; their answers fold by WFP's rules (a hard\n"
	  "answer cannot be overridden by a later sublayer). A sublayer that holds filters\n"
	  "cannot be deleted. Built-in: default (weight 0x8000). A boot-time sublayer\n"
	  "takes only boot-time filters.\n" },
	{ "export", cmd_export, "print the persistent policy as a file -f accepts",
	  "Usage: lfp export [--boot-time] [--provider NAME]\n"
	  "\n"
	  "Prints the persistent policy (of one provider) as rule text; with --boot-time\n"
	  "the boot-time set instead (apply it again with lfp -f FILE --boot-time).\n"
	  "Credentials in redirect URLs are shown as user:***.\n" },
	{ "flush", cmd_flush, "delete the persistent policy (of one provider)",
	  "Usage: lfp flush [--boot-time] [--provider NAME]\n"
	  "\n"
	  "Deletes every persistent filter (of one provider) and the provider's sublayers\n"
	  "that are then empty, in one transaction; with --boot-time the boot-time set\n"
	  "instead.\n" },
	{ "confirm", cmd_confirm, "keep a change applied with -f FILE --confirm SECONDS",
	  "Usage: lfp confirm\n"
	  "\n"
	  "Keeps the change that `lfp -f FILE --confirm SECONDS` applied: without it, lfpd\n"
	  "rolls the change back when SECONDS pass (the provider's objects return as they\n"
	  "were, ids included, in one transaction, with a line in lfpd's log). `lfp\n"
	  "status` shows the pending change and its deadline.\n"
	  "\n"
	  "Exit: 0 confirmed, 1 nothing is waiting for confirmation (or permission denied),\n"
	  "2 lfpd unreachable.\n" },
	{ "monitor", cmd_monitor, "live connection events",
	  "Usage: lfp monitor [--json] [--count N]\n"
	  "\n"
	  "One line per event until interrupted (or N events): time, verdict, layer,\n"
	  "deciding filter id and name, pid, executable path, uid, protocol, local and\n"
	  "remote address:port. The local address is the real one, taken when the flow\n"
	  "is established. --json prints one JSON object per line with the same fields.\n"
	  "Datagram-data and stream events add the direction (dir=in|out); where an\n"
	  "inspection callout (callout count) saw data, its length and first 128 bytes\n"
	  "(len=N data=\"...\", --json: length, data_hex).\n"
	  "Root and group lfp see every process; other users see their own.\n"
	  "Events lost on the way are counted and said on stderr (\"N events lost in\n"
	  "the kernel\", \"N events dropped by lfpd for this monitor\"), never silently.\n" },
	{ "explain", cmd_explain, "evaluate a described connection against the policy",
	  "Usage: lfp explain [-f FILE] [--json] CONNECTION\n"
	  "\n"
	  "CONNECTION: layer LAYER followed by FIELD VALUE pairs, e.g.\n"
	  "  lfp explain layer auth-connect app /usr/bin/curl proto tcp \\\n"
	  "      remote.addr 93.184.216.34 remote.port 443\n"
	  "\n"
	  "Prints the verdict (permit, block, veto, pend, redirect), the deciding filter\n"
	  "and each sublayer's answer with its hardness, and which layer acts: at\n"
	  "auth-connect (resource-assignment) the redirect layer that runs first,\n"
	  "connect-redirect (bind-redirect), is evaluated too, and a redirect there is\n"
	  "named first (the layer asked about then sees the rewritten operation).\n"
	  "Online it uses lfpd's policy;\n"
	  "with -f FILE it works offline on FILE, matching `app` by the path given.\n"
	  "At the packet layers an ICMP message neighbor or path MTU discovery needs\n"
	  "is permitted when the deciding filter names no icmp.type (the hooks'\n"
	  "exemption): explain says so and names the filter it overrides; icmp.type\n"
	  "and icmp.code may be given at the IP packet layers for this.\n"
	  "At datagram-data and stream it names the inspection callout filter that\n"
	  "sees the payload (inspected by), as the kernel picks it.\n"
	  "Exit 0 whatever the verdict.\n" },
	{ "icmp", cmd_icmp, "the ICMPv4/ICMPv6 type and code table",
	  "Usage: lfp icmp [v4|v6] [--json]\n"
	  "\n"
	  "Prints the ICMP types and codes lfp knows (both families, or one): type, code,\n"
	  "name, class, whether neighbor or path MTU discovery needs it, and a description.\n"
	  "A row with code * names a whole type; the rows under it name single codes.\n"
	  "Classes: query (echo, timestamp, ...: own flow keyed by type, code and\n"
	  "identifier), error (belongs to the flow of the packet it quotes), info\n"
	  "(no identifier: router discovery, MLD), nd (ICMPv6 neighbor discovery).\n"
	  "`icmp.type NAME` in rules takes the ICMPv4 type names; use numbers for ICMPv6.\n"
	  "--json prints an array of {family, type, code (null: every code), name, class,\n"
	  "description, names (\"type\" or \"code\"), nd_pmtu}. No daemon needed.\n"
	  "Sources and corrections: docs/icmp.md.\n" },
	{ "help", cmd_help, "lfp help layers: layers, hooks, fields, actions",
	  "Usage: lfp help layers [--json]\n"
	  "\n"
	  "Each layer with the WFP layer it mirrors, its Linux hook, the fields its\n"
	  "filters may use and the actions it takes (from the same table the parser uses).\n" },
	{ 0 },
};
