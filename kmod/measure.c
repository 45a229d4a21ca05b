// SPDX-License-Identifier: GPL-2.0
/*
 * Measured-state snapshots: kernel identity and state, TPM PCRs (SHA-256
 * bank) and IMA counters, read consistently.
 *
 * The generation counter moves whenever the module observes the IMA
 * measurement or violation count change: a verifier that saw generation G and
 * sees G again knows no new measurement was recorded in between.  It is
 * updated under gen_lock by whoever takes a snapshot.
 */
#include <linux/cc_platform.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/panic.h>
#include <linux/security.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <linux/tpm.h>
#include <linux/uuid.h>

#include "genl.h"
#include "ima.h"
#include "measure.h"

/* Retries of a snapshot whose IMA count moved while PCRs were read. */
#define SNAPSHOT_TRIES 8

static DEFINE_MUTEX(gen_lock);
static u64 generation = 1;
static u64 seen_count = U64_MAX, seen_violations = U64_MAX;
static u8 boot_id[KATLS_BOOT_ID_LEN];
static bool have_boot_id;

/* The boot id lives in a static of random.c; its sysctl is the only way in. */
static void read_boot_id(void)
{
	char buf[UUID_STRING_LEN + 2] = "";
	struct file *f;
	loff_t pos = 0;
	ssize_t n;

	f = filp_open("/proc/sys/kernel/random/boot_id", O_RDONLY, 0);
	if (IS_ERR(f)) {
		pr_warn("cannot read the boot id (%ld); STATE_GET will omit it\n", PTR_ERR(f));
		return;
	}
	n = kernel_read(f, buf, UUID_STRING_LEN, &pos);
	fput(f);
	if (n == UUID_STRING_LEN && !uuid_parse(buf, (uuid_t *)boot_id))
		have_boot_id = true;
}

int katls_measure_init(void)
{
	read_boot_id();
	return 0;
}

static u64 taint_mask(void)
{
	u64 mask = 0;
	unsigned int i;

	for (i = 0; i < TAINT_FLAGS_COUNT; i++)
		if (test_taint(i))
			mask |= BIT_ULL(i);
	return mask;
}

/*
 * The lockdown level is static in security/lockdown; probing is the only
 * in-kernel way to read it.  The probes are the last reason of each level
 * (the _MAX values themselves are invalid and WARN).  A locked-down kernel
 * logs a rate-limited notice for each refused probe.
 */
static u8 lockdown_level(void)
{
	if (security_locked_down(LOCKDOWN_CONFIDENTIALITY_MAX - 1))
		return KATLS_LOCKDOWN_CONFIDENTIALITY;
	if (security_locked_down(LOCKDOWN_INTEGRITY_MAX - 1))
		return KATLS_LOCKDOWN_INTEGRITY;
	return KATLS_LOCKDOWN_NONE;
}

static u32 cc_flags(void)
{
	static const struct { enum cc_attr attr; u32 flag; } map[] = {
		{ CC_ATTR_MEM_ENCRYPT,		KATLS_CC_MEM_ENCRYPT },
		{ CC_ATTR_HOST_MEM_ENCRYPT,	KATLS_CC_HOST_MEM_ENCRYPT },
		{ CC_ATTR_GUEST_MEM_ENCRYPT,	KATLS_CC_GUEST_MEM_ENCRYPT },
		{ CC_ATTR_GUEST_STATE_ENCRYPT,	KATLS_CC_GUEST_STATE_ENCRYPT },
		{ CC_ATTR_GUEST_SEV_SNP,	KATLS_CC_GUEST_SEV_SNP },
	};
	u32 flags = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (cc_platform_has(map[i].attr))
			flags |= map[i].flag;
	return flags;
}

static int read_pcrs(struct tpm_chip *chip, struct katls_snapshot *s, u32 mask,
		     struct netlink_ext_ack *extack)
{
	struct tpm_digest d;
	unsigned int i;
	int ret;

	for (i = 0; i < KATLS_NUM_PCRS; i++) {
		if (!(mask & BIT(i)))
			continue;
		memset(&d, 0, sizeof(d));
		d.alg_id = TPM_ALG_SHA256;
		ret = tpm_pcr_read(chip, i, &d);
		if (ret) {
			NL_SET_ERR_MSG(extack, "reading a PCR from the TPM failed");
			return ret > 0 ? -EIO : ret;
		}
		memcpy(s->pcrs[i], d.digest, KATLS_SHA256_LEN);
	}
	s->pcr_mask = mask;
	return 0;
}

/*
 * Reads the IMA counters and advances the generation if they moved; the
 * events group hears of every advance (STATE_CHANGED).
 */
static void read_ima(struct katls_snapshot *s)
{
	bool moved = false;

	s->have_ima = !katls_ima_counts(&s->ima_count, &s->ima_violations);
	mutex_lock(&gen_lock);
	if (s->have_ima && (s->ima_count != seen_count ||
			    s->ima_violations != seen_violations)) {
		if (seen_count != U64_MAX) {
			generation++;
			moved = true;
		}
		seen_count = s->ima_count;
		seen_violations = s->ima_violations;
	}
	s->generation = generation;
	mutex_unlock(&gen_lock);
	if (moved)
		katls_genl_state_changed(s->generation, s->ima_count);
}

/**
 * katls_measure_generation - current generation and IMA count
 * @gen: out
 * @ima_count: out
 *
 * Return: 0, or -ENOENT when the kernel has no IMA list.
 */
int katls_measure_generation(u64 *gen, u64 *ima_count)
{
	struct katls_snapshot *s;
	int ret;

	s = kmalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	read_ima(s);
	*gen = s->generation;
	*ima_count = s->ima_count;
	ret = s->have_ima ? 0 : -ENOENT;
	kfree(s);
	return ret;
}

/*
 * IMA has no notifier: while someone listens on the events group, poll the
 * list (only new records are parsed, see ima.c) once a second.
 */
#define WATCH_PERIOD HZ

static void watch_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(watch_work, watch_fn);

static void watch_fn(struct work_struct *work)
{
	u64 gen, count;

	if (katls_genl_has_listeners())
		katls_measure_generation(&gen, &count);
	schedule_delayed_work(&watch_work, WATCH_PERIOD);
}

void katls_measure_watch_start(void)
{
	schedule_delayed_work(&watch_work, WATCH_PERIOD);
}

void katls_measure_watch_stop(void)
{
	cancel_delayed_work_sync(&watch_work);
}

/**
 * katls_measure_snapshot - take a consistent measured-state snapshot
 * @s: out
 * @pcr_mask: PCRs to read (SHA-256 bank); 0 reads none
 * @extack: where to explain a failure
 *
 * The IMA counters are read before and after the PCRs and the snapshot is
 * retried while they move, so the PCR values and the IMA count belong together
 * (a TPM extend happens after the list append, so PCR 10 may still lag the
 * count by the entries being measured at that moment: verifiers replay until
 * they match, PROTOCOL.md §5.4).
 *
 * Return: 0, -ENODEV if PCRs were asked for and there is no TPM 2.0 chip,
 * -EAGAIN if the IMA list kept growing, or another -errno.
 */
int katls_measure_snapshot(struct katls_snapshot *s, u32 pcr_mask,
			   struct netlink_ext_ack *extack)
{
	struct tpm_chip *chip;
	u64 count;
	int tries, ret = 0;

	memset(s, 0, sizeof(*s));
	s->taint = taint_mask();
	s->cc_flags = cc_flags();
	s->lockdown = lockdown_level();
	s->have_boot_id = have_boot_id;
	memcpy(s->boot_id, boot_id, sizeof(boot_id));

	chip = tpm_default_chip();
	if (chip && !tpm_is_tpm2(chip)) {
		put_device(&chip->dev);
		chip = NULL;
	}
	s->tpm_present = chip != NULL;
	if (pcr_mask && !chip) {
		NL_SET_ERR_MSG(extack, "no TPM 2.0 chip: cannot read PCRs");
		return -ENODEV;
	}

	for (tries = 0; tries < SNAPSHOT_TRIES; tries++) {
		read_ima(s);
		count = s->ima_count;
		if (pcr_mask) {
			ret = read_pcrs(chip, s, pcr_mask, extack);
			if (ret)
				break;
		}
		read_ima(s);
		if (s->ima_count == count)
			break;
	}
	if (!ret && tries == SNAPSHOT_TRIES) {
		NL_SET_ERR_MSG(extack, "IMA list kept growing while PCRs were read");
		ret = -EAGAIN;
	}
	if (chip)
		put_device(&chip->dev);
	return ret;
}
