// SPDX-License-Identifier: MIT
/* katls status: the module's measured-state snapshot (KATLS_CMD_STATE_GET). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "kernel/nl.h"

static const char *const lockdown_names[] = { "none", "integrity", "confidentiality" };
static const char *const cc_names[] = {
	"mem-encrypt", "host-mem-encrypt", "guest-mem-encrypt", "guest-state-encrypt",
	"guest-sev-snp",
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls status [--json] [--pcrs LIST]\n\n"
		"Show the measured-state snapshot of katls.ko: kernel release, boot id,\n"
		"taint, lockdown, confidential-computing flags, TPM presence, and (as root)\n"
		"the IMA measurement count and PCR values of the SHA-256 bank, whether a\n"
		"daemon is registered and the attestation requests pending.\n\n"
		"  --json        machine-readable output\n"
		"  --pcrs LIST   PCRs to read, e.g. 0-7,10, 'all' or 'none'\n"
		"                (default: 0-10 as root, none otherwise)\n\n"
		"Exit status: 0 ok, 1 failure, 2 usage, 3 katls.ko not loaded.\n");
}

static const char *lockdown_name(const struct katls_state *s)
{
	if (!s->have_lockdown)
		return "unknown";
	return s->lockdown < 3 ? lockdown_names[s->lockdown] : "unknown";
}

static void boot_id_str(char out[37], const uint8_t id[16])
{
	char hex[33];

	katls_hex_str(hex, id, 16);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static void print_text(const struct katls_state *s)
{
	char id[37] = "unknown";

	if (s->have_boot_id)
		boot_id_str(id, s->boot_id);
	printf("katls.ko loaded, measured-state generation %llu\n",
	       (unsigned long long)s->generation);
	printf("  kernel     %s\n  boot id    %s\n", s->release, id);
	printf("  taint      %llu%s\n", (unsigned long long)s->taint, s->taint ? "" : " (untainted)");
	printf("  lockdown   %s\n  cc         ", lockdown_name(s));
	if (!s->cc_flags)
		printf("none");
	for (unsigned int i = 0; i < sizeof(cc_names) / sizeof(cc_names[0]); i++)
		if (s->cc_flags & (1U << i))
			printf("%s ", cc_names[i]);
	printf("\n  tpm        %s\n", s->tpm_present ? "TPM 2.0 present" : "none");
	if (s->have_ima)
		printf("  ima        %llu measurements, %llu violations\n",
		       (unsigned long long)s->ima_count, (unsigned long long)s->ima_violations);
	else
		printf("  ima        (root only)\n");
	if (s->have_requests)
		printf("  daemon     %s\n  requests   %u queued, %u accepted by the daemon, "
		       "%llu refused by limits\n  sockets    %u with katls state, %u attested\n",
		       s->daemon ? "registered" : "none", s->req_queued, s->req_accepted,
		       (unsigned long long)s->req_limited, s->socks, s->socks_attested);
	else
		printf("  requests   (CAP_NET_ADMIN only)\n");
	for (unsigned int i = 0; i < KATLS_NUM_PCRS; i++) {
		if (!(s->pcr_mask & (1U << i)))
			continue;
		printf("  pcr %-2u     sha256:", i);
		katls_hex(stdout, s->pcrs[i], KATLS_SHA256_LEN);
		printf("\n");
	}
}

static void print_json(const struct katls_state *s)
{
	json_object *o = json_object_new_object(), *cc = json_object_new_array();
	char buf[2 * KATLS_SHA256_LEN + 1];

	json_object_object_add(o, "generation", json_object_new_uint64(s->generation));
	json_object_object_add(o, "kernel_release", json_object_new_string(s->release));
	if (s->have_boot_id) {
		boot_id_str(buf, s->boot_id);
		json_object_object_add(o, "boot_id", json_object_new_string(buf));
	}
	json_object_object_add(o, "taint", json_object_new_uint64(s->taint));
	json_object_object_add(o, "lockdown", json_object_new_string(lockdown_name(s)));
	for (unsigned int i = 0; i < sizeof(cc_names) / sizeof(cc_names[0]); i++)
		if (s->cc_flags & (1U << i))
			json_object_array_add(cc, json_object_new_string(cc_names[i]));
	json_object_object_add(o, "cc", cc);
	json_object_object_add(o, "tpm_present", json_object_new_boolean(s->tpm_present));
	if (s->have_ima) {
		json_object *ima = json_object_new_object();

		json_object_object_add(ima, "count", json_object_new_uint64(s->ima_count));
		json_object_object_add(ima, "violations", json_object_new_uint64(s->ima_violations));
		json_object_object_add(o, "ima", ima);
	}
	if (s->have_requests) {
		json_object *req = json_object_new_object();

		json_object_object_add(req, "daemon", json_object_new_boolean(s->daemon));
		json_object_object_add(req, "queued", json_object_new_uint64(s->req_queued));
		json_object_object_add(req, "accepted", json_object_new_uint64(s->req_accepted));
		json_object_object_add(req, "sockets", json_object_new_uint64(s->socks));
		json_object_object_add(req, "limited", json_object_new_uint64(s->req_limited));
		if (s->have_socks_attested)
			json_object_object_add(req, "sockets_attested",
					       json_object_new_uint64(s->socks_attested));
		json_object_object_add(o, "requests", req);
	}
	if (s->pcr_mask) {
		json_object *bank = json_object_new_object(), *pcrs = json_object_new_object();

		for (unsigned int i = 0; i < KATLS_NUM_PCRS; i++) {
			char idx[4];

			if (!(s->pcr_mask & (1U << i)))
				continue;
			snprintf(idx, sizeof(idx), "%u", i);
			katls_hex_str(buf, s->pcrs[i], KATLS_SHA256_LEN);
			json_object_object_add(bank, idx, json_object_new_string(buf));
		}
		json_object_object_add(pcrs, "sha256", bank);
		json_object_object_add(o, "pcrs", pcrs);
	}
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

int status_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pcrs", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint32_t mask = geteuid() == 0 ? 0x7ff : 0;
	struct katls_state s;
	struct katls_nl *nl;
	bool json = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "jp:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'p':
			if (katls_parse_pcr_list(optarg, &mask)) {
				fprintf(stderr, "katls status: bad PCR list '%s' (e.g. 0-7,10; PCRs 0-23)\n",
					optarg);
				return KATLS_EXIT_USAGE;
			}
			break;
		default:
			return katls_usage(usage, c);
		}
	}
	if (optind != argc)
		return katls_usage(usage, '?');
	ret = katls_nl_open(&nl);
	if (ret == -ENOENT) {
		fprintf(stderr, "katls: kernel module not loaded (no generic netlink family '%s'); "
			"load it with 'modprobe katls'\n", KATLS_GENL_NAME);
		return KATLS_EXIT_NOMOD;
	}
	if (ret) {
		katls_err("netlink", ret, NULL);
		return KATLS_EXIT_FAIL;
	}
	ret = katls_nl_state_get(nl, mask, &s);
	if (ret) {
		katls_err("STATE_GET", ret, katls_nl_errmsg(nl));
		katls_nl_close(nl);
		return KATLS_EXIT_FAIL;
	}
	katls_nl_close(nl);
	if (json)
		print_json(&s);
	else
		print_text(&s);
	return KATLS_EXIT_OK;
}
