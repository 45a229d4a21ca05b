// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: katlsd.json, the parse step only (config_parse(): JSON
 * to struct katlsd_config, no file access).  config.c belongs to katlsd, not
 * to libkatls, so it is included (it needs only libkatls).  Byte 0 odd:
 * relative paths are resolved against a base directory; even: kept relative.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../userspace/daemon/config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[700];
	struct jctx j = JCTX_INIT("katlsd.json", err, sizeof(err));
	struct katlsd_config *c;

	if (!size)
		return 0;
	err[0] = '\0';
	if (data[0] & 1)
		j.base_dir = "/etc/katls";
	if (!config_parse(&j, (const char *)data + 1, size - 1, &c)) {
		if (!c->cert_file || !c->key_file || !*c->cert_file || !*c->key_file ||
		    !c->max_workers || c->max_workers > 4096)
			__builtin_trap();	/* required keys and ranges hold */
		if (c->metrics.listen && (!c->metrics.addr_len ||
					  (!c->metrics.allow_remote && !loopback(&c->metrics.addr))))
			__builtin_trap();	/* a metrics address: parsed, loopback unless allowed */
		if (c->metrics.unix_mode > 0777)
			__builtin_trap();
		katlsd_config_free(c);
	} else if (strncmp(err, "katlsd.json: $", 14)) {
		__builtin_trap();	/* every rejection names the file and the JSON path */
	}
	return 0;
}
