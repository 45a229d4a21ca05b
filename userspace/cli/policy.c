// SPDX-License-Identifier: MIT
/* katls policy: the operator's gate rules (see docs/gate.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "kernel/gate.h"

/* As in gate.c: the gate commands' exit codes beyond cli.h's. */
/* At most: two families (any) x two directions (both). */
#define MAX_EXPANSION 4

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls policy add PREFIX [port PORT] [require|exempt|attest] [--attest]\n"
		"                        [--role server|client|mutual] [--policy NAME]\n"
		"                        [--max-age AGE] [--direction in|out|both] [--replace]\n"
		"       katls policy del PREFIX [port PORT] [--direction in|out|both]\n"
		"       katls policy list [--json]\n\n"
		"Rules of the BPF gate ('katls gate load' first).  A TCP connection that\n"
		"matches a require rule carries no application byte until katlsd attests it.\n\n"
		"  PREFIX            remote address prefix: 10.0.0.0/8, 2001:db8::/32, a host\n"
		"                    address (192.0.2.7 = /32), 'any' (0.0.0.0/0 and ::/0) or\n"
		"                    'loopback' (127.0.0.0/8 and ::1).  An IPv4 prefix also\n"
		"                    covers IPv4 peers of dual-stack sockets (::ffff:a.b.c.d);\n"
		"                    an IPv4-mapped prefix is taken as its IPv4 form\n"
		"  port PORT         out: the remote port; in: the local (listening) port;\n"
		"                    default any port.  A rule for the exact port beats an\n"
		"                    any-port rule; otherwise the longest prefix wins.\n"
		"  require|exempt    require attestation (default), or leave such connections\n"
		"                    alone (carve-outs from a broader require rule)\n"
		"  attest, --attest  like require, and katls.ko attests the connection itself:\n"
		"                    programs need no setsockopt (docs/transparent.md); needs\n"
		"                    katls.ko with BTF loaded before 'katls gate load'\n"
		"  --role R          attest rules: who attests: server (default: the server\n"
		"                    attests, the client verifies it), client, or mutual\n"
		"  --policy NAME     verification policy katlsd applies (require rules)\n"
		"  --max-age AGE     cap on a verdict's age: seconds or 30s/15m/12h/7d; 0 = none\n"
		"  --direction D     out: connections this host makes; in: connections it\n"
		"                    accepts; both (default)\n"
		"  --replace         overwrite an existing rule for the same prefix and port\n\n"
		"Rules also apply to connections that exist already: from their next read\n"
		"or write (add prints how many established connections a new rule covers).\n"
		"Adding is all or nothing (no partial rule); so is deleting.\n\n"
		"Exit status: 0 ok, 1 failure, 2 usage or bad input, 5 gate not loaded.\n");
}

struct spec {
	uint8_t family[2], addr[2][16], prefix_len[2];
	unsigned int num_families;
	uint8_t dirs;			/* bit KATLS_DIR_* */
	uint16_t port;
	uint8_t action;
	uint8_t attest_role;
	bool have_role;
	const char *policy;
	const char *prefix;		/* as given */
	uint32_t max_age_s;
	bool have_max_age;
	bool replace;
};

static int bad_input(const char *msg)
{
	fprintf(stderr, "katls policy: %s\n", msg);
	return KATLS_EXIT_USAGE;
}

static void two_families(struct spec *s, const char *v4, uint8_t len4, const char *v6,
			 uint8_t len6)
{
	s->num_families = 2;
	s->family[0] = KATLS_FAM_V4;
	inet_pton(AF_INET, v4, s->addr[0]);
	s->prefix_len[0] = len4;
	s->family[1] = KATLS_FAM_V6;
	inet_pton(AF_INET6, v6, s->addr[1]);
	s->prefix_len[1] = len6;
}

/* Say what a prefix covers where operators have been surprised. */
static void prefix_notes(const struct spec *s)
{
	static const uint8_t lo6[16] = { [15] = 1 };
	const char *arg = s->prefix;

	if (s->num_families != 1 || !arg)
		return;
	if (s->family[0] == KATLS_FAM_V4 && strchr(arg, ':'))
		fprintf(stderr, "katls policy: note: %s is taken as an IPv4 prefix: the gate sees "
			"IPv4-mapped peers as IPv4\n", arg);
	if (!s->prefix_len[0])
		fprintf(stderr, "katls policy: note: %s covers %s peers only%s; 'any' covers both "
			"families\n", arg, s->family[0] == KATLS_FAM_V4 ? "IPv4" : "IPv6",
			s->family[0] == KATLS_FAM_V4 ? " (also on dual-stack sockets)" : "");
	if ((s->family[0] == KATLS_FAM_V4 && s->addr[0][0] == 127 && s->prefix_len[0] > 8) ||
	    (s->family[0] == KATLS_FAM_V6 && !memcmp(s->addr[0], lo6, 16)))
		fprintf(stderr, "katls policy: note: %s does not cover the other loopback "
			"addresses; 'loopback' covers 127.0.0.0/8 and ::1\n", arg);
}

/* PREFIX [port N] [require|exempt] plus options; "del" accepts no action/policy. */
static int parse_spec(int argc, char **argv, bool add, struct spec *s)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "max-age", required_argument, NULL, 'a' },
		{ "direction", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'P' },
		{ "replace", no_argument, NULL, 'r' },
		{ "attest", no_argument, NULL, 'A' },
		{ "role", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool have_port = false;
	int c;

	memset(s, 0, sizeof(*s));
	s->action = KATLS_ACT_REQUIRE;
	s->dirs = 1 << KATLS_DIR_OUT | 1 << KATLS_DIR_IN;
	while ((c = getopt_long(argc, argv, "+p:a:d:P:rh", opts, NULL)) != -1 ||
	       optind < argc) {
		const char *arg = c == -1 ? argv[optind++] : optarg;

		switch (c) {
		case -1:	/* positional words */
			if (!s->num_families) {
				if (!strcmp(arg, "any")) {
					two_families(s, "0.0.0.0", 0, "::", 0);
				} else if (!strcmp(arg, "loopback")) {
					two_families(s, "127.0.0.0", 8, "::1", 128);
				} else if (katls_gate_parse_cidr(arg, &s->family[0], s->addr[0],
								 &s->prefix_len[0])) {
					return bad_input(katls_gate_errmsg());
				} else {
					s->num_families = 1;
					s->prefix = arg;
				}
			} else if (!strcmp(arg, "port")) {
				if (optind >= argc)
					return bad_input("'port' needs a number");
				arg = argv[optind++];
				goto port;
			} else if (add && (!strcmp(arg, "require") || !strcmp(arg, "exempt") ||
					   !strcmp(arg, "attest"))) {
				s->action = arg[0] == 'r' ? KATLS_ACT_REQUIRE : arg[0] == 'e' ?
					    KATLS_ACT_EXEMPT : KATLS_ACT_ATTEST;
			} else {
				fprintf(stderr, "katls policy: unexpected '%s' "
					"(see 'katls policy --help')\n", arg);
				return KATLS_EXIT_USAGE;
			}
			break;
		case 'P':
port:
			if (have_port)
				return bad_input("port given twice");
			if (katls_gate_parse_port(arg, &s->port))
				return bad_input(katls_gate_errmsg());
			have_port = true;
			break;
		case 'p':
			if (!add)
				return bad_input("--policy only applies to 'add'");
			if (!katls_gate_policy_name_valid(arg)) {
				fprintf(stderr, "katls policy: '%s' is not a policy name (1-%d of "
					"A-Z a-z 0-9 . _ -, starting with a letter or digit)\n",
					arg, KATLS_POLICY_NAME_LEN - 1);
				return KATLS_EXIT_USAGE;
			}
			s->policy = arg;
			break;
		case 'a':
			if (!add)
				return bad_input("--max-age only applies to 'add'");
			if (katls_gate_parse_age(arg, &s->max_age_s))
				return bad_input(katls_gate_errmsg());
			s->have_max_age = true;
			break;
		case 'd':
			if (!strcmp(arg, "in"))
				s->dirs = 1 << KATLS_DIR_IN;
			else if (!strcmp(arg, "out"))
				s->dirs = 1 << KATLS_DIR_OUT;
			else if (!strcmp(arg, "both"))
				s->dirs = 1 << KATLS_DIR_OUT | 1 << KATLS_DIR_IN;
			else
				return bad_input("--direction is in, out or both");
			break;
		case 'r':
			if (!add)
				return bad_input("--replace only applies to 'add'");
			s->replace = true;
			break;
		case 'A':
			if (!add)
				return bad_input("--attest only applies to 'add'");
			s->action = KATLS_ACT_ATTEST;
			break;
		case 'R':
			if (!add)
				return bad_input("--role only applies to 'add'");
			if (!strcmp(arg, "server"))
				s->attest_role = KATLS_AROLE_SERVER;
			else if (!strcmp(arg, "client"))
				s->attest_role = KATLS_AROLE_CLIENT;
			else if (!strcmp(arg, "mutual"))
				s->attest_role = KATLS_AROLE_MUTUAL;
			else
				return bad_input("--role is server, client or mutual");
			s->have_role = true;
			break;
		default:
			return katls_usage(usage, c);
		}
	}
	if (!s->num_families)
		return bad_input("which prefix? (e.g. 10.0.0.0/8, 2001:db8::/32, any or loopback)");
	if (s->action == KATLS_ACT_EXEMPT && (s->policy || s->have_max_age))
		return bad_input("--policy and --max-age apply to require and attest rules only");
	if (s->have_role && s->action != KATLS_ACT_ATTEST)
		return bad_input("--role applies to attest rules only");
	return -1;
}

/* The map entries a spec stands for. */
static size_t expand(const struct spec *s, uint16_t policy_id, struct katls_gate_rule *r)
{
	size_t n = 0;

	for (uint8_t dir = KATLS_DIR_OUT; dir <= KATLS_DIR_IN; dir++) {
		if (!(s->dirs & (1 << dir)))
			continue;
		for (unsigned int f = 0; f < s->num_families; f++) {
			memset(&r[n], 0, sizeof(r[n]));
			r[n].dir = dir;
			r[n].family = s->family[f];
			r[n].prefix_len = s->prefix_len[f];
			memcpy(r[n].addr, s->addr[f], 16);
			r[n].port = s->port;
			r[n].action = s->action;
			r[n].attest_role = s->attest_role;
			r[n].policy_id = policy_id;
			r[n].max_age_s = s->max_age_s;
			n++;
		}
	}
	return n;
}

static int open_gate(struct katls_gate **g)
{
	int ret = katls_gate_open_pinned(NULL, g);

	if (!ret)
		return -1;
	fprintf(stderr, "katls policy: %s\n", *katls_gate_errmsg() ? katls_gate_errmsg() :
								      strerror(-ret));
	return ret == -ENOENT ? KATLS_EXIT_NOGATE : KATLS_EXIT_FAIL;
}

/* A /proc/net/tcp{,6} address "0100007F:1F90" (32-bit words in host order). */
static bool proc_addr(const char *hex, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	size_t n = strcspn(hex, ":");
	uint32_t w[4];
	unsigned int port;

	memset(ss, 0, sizeof(*ss));
	if (n != 8 && n != 32)
		return false;
	for (size_t i = 0; i < n / 8; i++)
		if (sscanf(hex + 8 * i, "%8x", &w[i]) != 1)
			return false;
	if (sscanf(hex + n, ":%4x", &port) != 1)
		return false;
	if (n == 8) {
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, w, 4);
		s4->sin_port = htons((uint16_t)port);
	} else {
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, w, 16);
		s6->sin6_port = htons((uint16_t)port);
	}
	return true;
}

/*
 * How many connections of this network namespace a require rule covers now:
 * they are refused from their next read or write.  The direction is guessed
 * as the gate would for a connection it has not met (a listener on the local
 * port: accepted), so this is the operator's warning, not the gate's decision.
 */
static unsigned int live_covered(struct katls_gate *g)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	static uint8_t listening[65536 / 8];
	unsigned int covered = 0;

	memset(listening, 0, sizeof(listening));
	for (int pass = 0; pass < 2; pass++) {
		for (size_t f = 0; f < 2; f++) {
			FILE *fp = fopen(files[f], "r");
			char line[512], la[64], ra[64];
			unsigned int st;

			if (!fp)
				continue;
			while (fgets(line, sizeof(line), fp)) {
				struct sockaddr_storage l, r;
				struct katls_rule_v v;
				uint16_t lport;
				bool in;

				if (sscanf(line, " %*u: %63s %63s %x", la, ra, &st) != 3 ||
				    !proc_addr(la, &l) || !proc_addr(ra, &r))
					continue;
				lport = ntohs(l.ss_family == AF_INET ?
					      ((struct sockaddr_in *)&l)->sin_port :
					      ((struct sockaddr_in6 *)&l)->sin6_port);
				if (pass == 0) {
					if (st == 0x0a)	/* LISTEN */
						listening[lport / 8] |= (uint8_t)(1 << (lport % 8));
					continue;
				}
				/* ESTABLISHED, SYN_SENT, SYN_RECV, CLOSE_WAIT */
				if (st != 0x01 && st != 0x02 && st != 0x03 && st != 0x08)
					continue;
				in = st != 0x02 && (listening[lport / 8] & (1 << (lport % 8)));
				if (katls_gate_rule_for(g, in ? KATLS_DIR_IN : KATLS_DIR_OUT,
							(struct sockaddr *)&r,
							in ? htons(lport) :
							r.ss_family == AF_INET ?
							((struct sockaddr_in *)&r)->sin_port :
							((struct sockaddr_in6 *)&r)->sin6_port, &v) &&
				    (v.action == KATLS_ACT_REQUIRE || v.action == KATLS_ACT_ATTEST))
					covered++;
			}
			fclose(fp);
		}
	}
	return covered;
}

static int cmd_add(int argc, char **argv)
{
	struct katls_gate_rule r[MAX_EXPANSION];
	struct katls_gate *g;
	uint16_t id = 0;
	bool created = false;
	struct spec s;
	int ret = parse_spec(argc, argv, true, &s);

	if (ret >= 0)
		return ret;
	ret = open_gate(&g);
	if (ret >= 0)
		return ret;
	if (s.policy && katls_gate_policy_id(g, s.policy, true, &id, &created)) {
		fprintf(stderr, "katls policy add: %s\n", katls_gate_errmsg());
		katls_gate_free(g);
		return KATLS_EXIT_FAIL;
	}
	ret = katls_gate_rules_add(g, r, expand(&s, id, r), s.replace);
	if (ret) {
		fprintf(stderr, "katls policy add: %s\n", katls_gate_errmsg());
		if (created)
			katls_gate_policy_forget(g, id);	/* nothing refers to it */
	} else {
		unsigned int n = s.action != KATLS_ACT_EXEMPT ? live_covered(g) : 0;
		struct katls_gate_info info;

		prefix_notes(&s);
		if (s.action == KATLS_ACT_ATTEST && !katls_gate_info(g, &info) && !info.attest)
			fprintf(stderr, "katls policy add: note: the loaded gate has no attest support "
				"(katls.ko with BTF was not loaded at 'katls gate load'): connections "
				"this rule covers are refused like under a require rule\n");
		if (n)
			fprintf(stderr, "katls policy add: %u established connection%s covered by "
				"require rules now: refused from the next read or write until "
				"attested\n", n, n == 1 ? " is" : "s are");
	}
	katls_gate_free(g);
	return ret ? KATLS_EXIT_FAIL : KATLS_EXIT_OK;
}

static int cmd_del(int argc, char **argv)
{
	struct katls_gate_rule r[MAX_EXPANSION];
	struct katls_gate *g;
	struct spec s;
	int ret = parse_spec(argc, argv, false, &s);

	if (ret >= 0)
		return ret;
	ret = open_gate(&g);
	if (ret >= 0)
		return ret;
	ret = katls_gate_rules_del(g, r, expand(&s, 0, r));
	if (ret)
		fprintf(stderr, "katls policy del: %s\n", katls_gate_errmsg());
	katls_gate_free(g);
	return ret ? KATLS_EXIT_FAIL : KATLS_EXIT_OK;
}

static const char *dir_name(uint8_t dir)
{
	return dir == KATLS_DIR_IN ? "in" : dir == KATLS_DIR_OUT ? "out" : "?";
}

static int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct katls_gate_rule *rules;
	json_object *arr = NULL;
	struct katls_gate *g;
	bool json = false;
	size_t n;
	int c, ret;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		default:
			return katls_usage(usage, c);
		}
	}
	if (optind != argc)
		return katls_usage(usage, '?');
	ret = open_gate(&g);
	if (ret >= 0)
		return ret;
	ret = katls_gate_rules_get(g, &rules, &n);
	if (ret) {
		fprintf(stderr, "katls policy list: %s\n", katls_gate_errmsg());
		katls_gate_free(g);
		return KATLS_EXIT_FAIL;
	}
	if (json)
		arr = json_object_new_array();
	else
		printf("%-4s %-44s %-5s %-8s %-16s %s\n", "DIR", "PREFIX", "PORT", "ACTION",
		       "POLICY", "MAX-AGE");
	for (size_t i = 0; i < n; i++) {
		char prefix[INET6_ADDRSTRLEN + 8], port[8] = "any", name[KATLS_POLICY_NAME_LEN] = "";
		static const char *const roles[] = { "server", "client", "mutual" };
		const char *action = rules[i].action == KATLS_ACT_EXEMPT ? "exempt" :
				     rules[i].action == KATLS_ACT_ATTEST ? "attest" : "require";

		katls_gate_format_prefix(&rules[i], prefix, sizeof(prefix));
		if (rules[i].port)
			snprintf(port, sizeof(port), "%u", rules[i].port);
		if (rules[i].policy_id && katls_gate_policy_name(g, rules[i].policy_id, name))
			snprintf(name, sizeof(name), "#%u", rules[i].policy_id);
		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "direction",
					       json_object_new_string(dir_name(rules[i].dir)));
			json_object_object_add(o, "prefix", json_object_new_string(prefix));
			json_object_object_add(o, "port", json_object_new_int(rules[i].port));
			json_object_object_add(o, "action", json_object_new_string(action));
			if (rules[i].action == KATLS_ACT_ATTEST && rules[i].attest_role < 3)
				json_object_object_add(o, "role", json_object_new_string(
						       roles[rules[i].attest_role]));
			json_object_object_add(o, "policy", json_object_new_string(name));
			json_object_object_add(o, "policy_id",
					       json_object_new_int(rules[i].policy_id));
			json_object_object_add(o, "max_age_s",
					       json_object_new_int64(rules[i].max_age_s));
			json_object_array_add(arr, o);
			continue;
		}
		if (rules[i].action == KATLS_ACT_ATTEST && rules[i].attest_role)
			printf("%-4s %-44s %-5s %-8s %-16s ", dir_name(rules[i].dir), prefix, port,
			       rules[i].attest_role == KATLS_AROLE_CLIENT ? "attest/c" : "attest/m",
			       *name ? name : "-");
		else
			printf("%-4s %-44s %-5s %-8s %-16s ", dir_name(rules[i].dir), prefix, port,
			       action, *name ? name : "-");
		if (rules[i].max_age_s)
			printf("%us\n", rules[i].max_age_s);
		else
			printf("-\n");
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	}
	free(rules);
	katls_gate_free(g);
	return KATLS_EXIT_OK;
}

int policy_main(int argc, char **argv)
{
	static const struct katls_subcmd sub[] = {
		{ "add", cmd_add, NULL },
		{ "del", cmd_del, NULL },
		{ "list", cmd_list, NULL },
	};

	return katls_dispatch("policy", sub, sizeof(sub) / sizeof(sub[0]), usage, argc, argv);
}
