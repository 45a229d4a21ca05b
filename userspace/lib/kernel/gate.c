// SPDX-License-Identifier: MIT
/*
 * The BPF gate from userspace; see gate.h and docs/gate.md.
 *
 * Lifetimes: everything the gate needs to keep enforcing lives in bpffs pins
 * under the pin directory (maps by their names, links as link_<program>), so
 * no process has to stay alive.  A struct katls_gate only holds fds of the
 * pinned maps.  Mutations of the pins and of the rule and policy tables take
 * an exclusive flock() on the pin directory, so two CLIs cannot interleave a
 * load with an unload or allocate the same policy id.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "katls_gate.skel.h"
#include "katls_gate_attest.skel.h"
#include "kernel/gate.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

enum { M_SK_STATE, M_RULES, M_POLICIES, M_DAEMON, M_COUNTERS, M_EVENTS, M_CONFIG, NUM_MAPS };

static const char *const map_names[NUM_MAPS] = {
	"katls_sk_state", "katls_rules", "katls_policies",
	"katls_daemon", "katls_counters", "katls_events", "katls_config",
};

struct katls_gate {
	int fd[NUM_MAPS];
	int dir_fd;
	int num_cpus;
	struct ring_buffer *rb;
	katls_gate_event_fn event_fn;
	void *event_arg;
	bool events_stopped;
	char pin_dir[PATH_MAX];
};

/* ---- error messages and the libbpf log ------------------------------------------ */

static __thread char errmsg[512];
static __thread char bpf_log[8192];
static __thread size_t bpf_log_len;
static __thread bool no_enforce;	/* the failure is "this kernel cannot enforce" */
static bool log_verbose;

const char *katls_gate_errmsg(void)
{
	return errmsg;
}

__attribute__((format(printf, 2, 3)))
static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* libbpf's log is kept (for --verbose and for classifying failures), not printed. */
static int capture_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	if (level == LIBBPF_DEBUG && !log_verbose)
		return 0;
	if (log_verbose) {
		va_copy(copy, ap);
		vfprintf(stderr, fmt, copy);
		va_end(copy);
	}
	if (bpf_log_len < sizeof(bpf_log) - 1) {
		n = vsnprintf(bpf_log + bpf_log_len, sizeof(bpf_log) - bpf_log_len, fmt, ap);
		if (n > 0)
			bpf_log_len += (size_t)n;
		if (bpf_log_len >= sizeof(bpf_log))
			bpf_log_len = sizeof(bpf_log) - 1;
	}
	return 0;
}

uint64_t katls_gate_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- pins ------------------------------------------------------------------------- */

static const char *pin_dir_or_default(const char *dir)
{
	return dir && *dir ? dir : KATLS_GATE_PIN_DIR;
}

static int pin_path(char *buf, size_t len, const char *dir, const char *prefix, const char *name)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, prefix, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The directory that will hold the pins must be on a BPF filesystem. */
static int check_bpffs(const char *dir)
{
	char parent[PATH_MAX];
	struct statfs sf;
	char *slash;

	snprintf(parent, sizeof(parent), "%s", dir);
	if (statfs(parent, &sf)) {
		slash = strrchr(parent, '/');
		if (!slash || slash == parent)
			return fail(-ENOENT, "%s does not exist", dir);
		*slash = '\0';
		if (statfs(parent, &sf))
			return fail(-errno, "%s: %s", parent, strerror(errno));
	}
	if ((unsigned long)sf.f_type != BPF_FS_MAGIC)
		return fail(-ENODEV, "%s is not on a BPF filesystem "
			    "(mount it: mount -t bpf bpf /sys/fs/bpf)", parent);
	return 0;
}

static int lock_dir(const char *dir, bool create)
{
	int fd;

	if (create && mkdir(dir, 0700) && errno != EEXIST)
		return fail(-errno, "cannot create %s: %s", dir, strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? fail(-ENOENT, "the gate is not loaded (no %s)", dir) :
					 fail(-errno, "%s: %s", dir, strerror(errno));
	if (flock(fd, LOCK_EX)) {
		int err = -errno;

		close(fd);
		return fail(err, "flock %s: %s", dir, strerror(-err));
	}
	return fd;
}

/* The first cgroup v2 mount, from /proc/self/mountinfo. */
static int find_cgroup2(char *out, size_t len)
{
	char line[4096], mnt[PATH_MAX], fstype[64];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int ret = -ENOENT;

	if (!f)
		return fail(-errno, "/proc/self/mountinfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		snprintf(out, len, "%s", mnt);
		ret = 0;
		break;
	}
	fclose(f);
	return ret ? fail(ret, "no cgroup v2 mount found (mount -t cgroup2 none /sys/fs/cgroup)") : 0;
}

/* -EPERM if securityfs says the BPF LSM is not active; 0 if it is or cannot tell. */
static int check_lsm_list(void)
{
	char buf[512] = "";
	FILE *f = fopen("/sys/kernel/security/lsm", "re");
	size_t n;

	if (!f)
		return 0;	/* securityfs not mounted: the self-test decides */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *tok = strtok(buf, ",\n"); tok; tok = strtok(NULL, ",\n"))
		if (!strcmp(tok, "bpf"))
			return 0;
	no_enforce = true;
	return fail(-EPERM, "katls: the BPF LSM is not active (LSM list: %s; add 'bpf' to lsm= "
		    "on the kernel command line): the gate cannot enforce here", buf);
}

/* ---- open / free ------------------------------------------------------------------ */

void katls_gate_free(struct katls_gate *g)
{
	if (!g)
		return;
	ring_buffer__free(g->rb);
	for (int i = 0; i < NUM_MAPS; i++)
		if (g->fd[i] >= 0)
			close(g->fd[i]);
	if (g->dir_fd >= 0)
		close(g->dir_fd);
	free(g);
}

const char *katls_gate_pin_dir(const struct katls_gate *g)
{
	return g->pin_dir;
}

/* The pinned maps must have the layout this library was built with. */
static int check_layout(struct katls_gate *g, const char *dir)
{
	static const struct {
		int map;
		uint32_t key_size, value_size;
	} want[] = {
		{ M_SK_STATE, sizeof(int), sizeof(struct katls_sk_state_v) },
		{ M_RULES, sizeof(struct katls_rule_key), sizeof(struct katls_rule_v) },
		{ M_POLICIES, sizeof(uint32_t), sizeof(struct katls_policy_v) },
		{ M_DAEMON, sizeof(int), sizeof(struct katls_daemon_v) },
		{ M_COUNTERS, sizeof(uint32_t), sizeof(uint64_t) },
		{ M_CONFIG, sizeof(uint32_t), sizeof(struct katls_config_v) },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(g->fd[want[i].map], &info, &len))
			return fail(-errno, "%s: %s", map_names[want[i].map], strerror(errno));
		if (info.key_size != want[i].key_size || info.value_size != want[i].value_size)
			return fail(-EPROTO, "the gate pinned in %s is from another katls version "
				    "(%s layout differs): run 'katls gate unload' and load again",
				    dir, map_names[want[i].map]);
	}
	return 0;
}

int katls_gate_open_pinned(const char *pin_dir, struct katls_gate **out)
{
	const char *dir = pin_dir_or_default(pin_dir);
	struct katls_gate *g;
	char path[PATH_MAX];
	int ret;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->dir_fd = -1;
	for (int i = 0; i < NUM_MAPS; i++)
		g->fd[i] = -1;
	snprintf(g->pin_dir, sizeof(g->pin_dir), "%s", dir);
	for (int i = 0; i < NUM_MAPS; i++) {
		ret = pin_path(path, sizeof(path), dir, "", map_names[i]);
		if (ret)
			goto err;
		g->fd[i] = bpf_obj_get(path);
		if (g->fd[i] < 0) {
			ret = -errno;
			if (ret == -ENOENT)
				fail(ret, "the gate is not loaded (no %s; run 'katls gate load')", path);
			else
				fail(ret, "%s: %s", path, strerror(-ret));
			goto err;
		}
	}
	ret = check_layout(g, dir);
	if (ret)
		goto err;
	g->num_cpus = libbpf_num_possible_cpus();
	if (g->num_cpus <= 0) {
		ret = fail(g->num_cpus ? g->num_cpus : -EINVAL, "cannot count possible CPUs");
		goto err;
	}
	*out = g;
	return 0;
err:
	katls_gate_free(g);
	return ret;
}

static int gate_lock(struct katls_gate *g)
{
	int fd = lock_dir(g->pin_dir, false);

	if (fd < 0)
		return fd;
	g->dir_fd = fd;
	return 0;
}

static void gate_unlock(struct katls_gate *g)
{
	if (g->dir_fd >= 0)
		close(g->dir_fd);
	g->dir_fd = -1;
}

/* ---- socket state ----------------------------------------------------------------- */

int katls_gate_get_state(struct katls_gate *g, int sockfd, struct katls_sk_state_v *out)
{
	if (bpf_map_lookup_elem(g->fd[M_SK_STATE], &sockfd, out))
		return -errno;
	return 0;
}

static int put_state(struct katls_gate *g, int sockfd, const struct katls_sk_state_v *v)
{
	if (bpf_map_update_elem(g->fd[M_SK_STATE], &sockfd, v, BPF_ANY))
		return -errno;
	return 0;
}

int katls_gate_set_state(struct katls_gate *g, int sockfd, enum katls_gate_state state,
			 uint32_t policy_id, uint64_t expiry_ns)
{
	struct katls_sk_state_v v = { 0 };
	socklen_t len = sizeof(v.cookie);
	uint64_t now = katls_gate_now_ns(), cap;
	int ret;

	if ((unsigned int)state >= __KATLS_GATE_STATE_MAX)
		return fail(-EINVAL, "bad gate state %u", (unsigned int)state);
	if (policy_id != KATLS_GATE_POLICY_KEEP && policy_id >= KATLS_MAX_POLICIES)
		return fail(-EINVAL, "bad policy id %u", policy_id);
	ret = katls_gate_get_state(g, sockfd, &v);
	if (ret && ret != -ENOENT)
		return fail(ret, "socket %d: %s", sockfd, strerror(-ret));
	v.state = (uint8_t)state;
	v.flags = (uint8_t)((v.flags | KATLS_SKF_USER) & ~KATLS_SKF_SELFTEST);
	if (policy_id != KATLS_GATE_POLICY_KEEP)
		v.policy_id = (uint16_t)policy_id;
	v.expiry_ns = 0;
	if (state == KATLS_GATE_ATTESTED) {
		v.expiry_ns = expiry_ns;
		if (v.max_age_s) {
			cap = now + (uint64_t)v.max_age_s * 1000000000ULL;
			if (!v.expiry_ns || cap < v.expiry_ns)
				v.expiry_ns = cap;
		}
	}
	v.marked_ns = now;
	if (!v.cookie && getsockopt(sockfd, SOL_SOCKET, SO_COOKIE, &v.cookie, &len))
		v.cookie = 0;
	ret = put_state(g, sockfd, &v);
	return ret ? fail(ret, "socket %d: %s", sockfd, strerror(-ret)) : 0;
}

/* ---- rules ------------------------------------------------------------------------ */

/* ::ffff:a.b.c.d */
static bool is_v4mapped(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, prefix, sizeof(prefix));
}

/* The rule for @k as the gate's rule_match() finds it: exact port, then any port. */
static bool rule_lookup(struct katls_gate *g, struct katls_rule_key *k, struct katls_rule_v *v)
{
	uint16_t port = k->port;

	k->prefixlen = KATLS_RULE_KEY_FIXED_BITS + (k->family == KATLS_FAM_V4 ? 32 : 128);
	if (!bpf_map_lookup_elem(g->fd[M_RULES], k, v))
		return true;
	if (!port)
		return false;
	k->port = 0;
	return !bpf_map_lookup_elem(g->fd[M_RULES], k, v);
}

/* key->family/addr from a socket address, IPv4-mapped IPv6 as IPv4; its port. */
static bool sockaddr_to_key(const struct sockaddr *sa, struct katls_rule_key *k, uint16_t *port)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	memset(k->addr, 0, sizeof(k->addr));
	if (sa->sa_family == AF_INET) {
		k->family = KATLS_FAM_V4;
		memcpy(k->addr, &s4->sin_addr, 4);
		*port = s4->sin_port;
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a = s6->sin6_addr.s6_addr;
		bool mapped = is_v4mapped(a);

		k->family = mapped ? KATLS_FAM_V4 : KATLS_FAM_V6;
		memcpy(k->addr, mapped ? a + 12 : a, mapped ? 4 : 16);
		*port = s6->sin6_port;
	} else {
		return false;
	}
	return true;
}

bool katls_gate_rule_for(struct katls_gate *g, uint8_t dir, const struct sockaddr *remote,
			 uint16_t port, struct katls_rule_v *out)
{
	struct katls_rule_key k = { .dir = dir };
	uint16_t ignored;

	if (!sockaddr_to_key(remote, &k, &ignored))
		return false;
	k.port = port;
	return rule_lookup(g, &k, out);
}

int katls_gate_socket_rule(struct katls_gate *g, int sockfd, struct katls_gate_sock_rule *out)
{
	struct sockaddr_storage local, remote;
	socklen_t llen = sizeof(local), rlen = sizeof(remote);
	struct katls_sk_state_v st;
	struct katls_rule_key k = { 0 };
	struct katls_rule_v v, found = { 0 };
	uint16_t lport, rport;
	bool have_state, have = false;
	int dirs = 3;		/* bit 0: out, bit 1: in */

	memset(out, 0, sizeof(*out));
	if (getsockname(sockfd, (struct sockaddr *)&local, &llen) ||
	    getpeername(sockfd, (struct sockaddr *)&remote, &rlen))
		return fail(-errno, "socket %d: %s", sockfd, strerror(errno));
	if (!sockaddr_to_key((struct sockaddr *)&local, &k, &lport) ||
	    !sockaddr_to_key((struct sockaddr *)&remote, &k, &rport))
		return fail(-EAFNOSUPPORT, "socket %d is not an IP socket", sockfd);
	have_state = !katls_gate_get_state(g, sockfd, &st);
	if (have_state && (st.flags & KATLS_SKF_ACTIVE))
		dirs = 1;
	else if (have_state && (st.flags & KATLS_SKF_PASSIVE))
		dirs = 2;
	for (int d = 0; d < 2 && !out->required; d++) {
		if (!(dirs & (1 << d)))
			continue;
		k.dir = d ? KATLS_DIR_IN : KATLS_DIR_OUT;
		k.port = d ? lport : rport;
		if (!rule_lookup(g, &k, &v))
			continue;
		if (!have || v.action == KATLS_ACT_REQUIRE || v.action == KATLS_ACT_ATTEST)
			found = v;
		have = true;
		out->required = v.action == KATLS_ACT_REQUIRE || v.action == KATLS_ACT_ATTEST;
	}
	if (out->required) {
		out->policy_id = found.policy_id;
		out->max_age_s = found.max_age_s;
		out->attest = found.action == KATLS_ACT_ATTEST;
		out->attest_role = found.attest_role;
	} else if (have_state && st.state == KATLS_GATE_REQUIRED &&
		   !(st.flags & (KATLS_SKF_USER | KATLS_SKF_SELFTEST))) {
		out->required = true;
		out->policy_id = st.policy_id;
		out->max_age_s = st.max_age_s;
		out->attest = !!(st.flags & KATLS_SKF_ATTEST);
		out->attest_role = st.attest_role;
	}
	return 0;
}

static void rule_to_key(const struct katls_gate_rule *r, struct katls_rule_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = KATLS_RULE_KEY_FIXED_BITS + r->prefix_len;
	k->dir = r->dir;
	k->family = r->family;
	k->port = htons(r->port);
	memcpy(k->addr, r->addr, r->family == KATLS_FAM_V4 ? 4 : 16);
}

static void key_to_rule(const struct katls_rule_key *k, const struct katls_rule_v *v,
			struct katls_gate_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->dir = k->dir;
	r->family = k->family;
	r->prefix_len = (uint8_t)(k->prefixlen - KATLS_RULE_KEY_FIXED_BITS);
	r->port = ntohs(k->port);
	memcpy(r->addr, k->addr, 16);
	r->action = v->action;
	r->attest_role = v->attest_role;
	r->policy_id = v->policy_id;
	r->max_age_s = v->max_age_s;
}

static int rule_check(const struct katls_gate_rule *r)
{
	unsigned int bits = r->family == KATLS_FAM_V4 ? 32 : 128;

	if (r->dir != KATLS_DIR_IN && r->dir != KATLS_DIR_OUT)
		return fail(-EINVAL, "bad rule direction %u", r->dir);
	if (r->family != KATLS_FAM_V4 && r->family != KATLS_FAM_V6)
		return fail(-EINVAL, "bad rule family %u", r->family);
	if (r->prefix_len > bits)
		return fail(-EINVAL, "prefix length %u is longer than %u", r->prefix_len, bits);
	for (unsigned int i = r->prefix_len; i < bits; i++)
		if (r->addr[i / 8] & (0x80 >> (i % 8)))
			return fail(-EINVAL, "address has bits set beyond the prefix length");
	if (r->family == KATLS_FAM_V6 && r->prefix_len >= 96 && is_v4mapped(r->addr))
		return fail(-EINVAL, "an IPv4-mapped prefix never matches: IPv4-mapped peers are "
			    "matched as IPv4 (write the IPv4 prefix)");
	if (r->action != KATLS_ACT_REQUIRE && r->action != KATLS_ACT_EXEMPT &&
	    r->action != KATLS_ACT_ATTEST)
		return fail(-EINVAL, "bad rule action %u", r->action);
	if (r->attest_role > KATLS_AROLE_MUTUAL ||
	    (r->attest_role && r->action != KATLS_ACT_ATTEST))
		return fail(-EINVAL, "bad attest role %u", r->attest_role);
	if (r->policy_id >= KATLS_MAX_POLICIES)
		return fail(-EINVAL, "bad policy id %u", r->policy_id);
	return 0;
}

/*
 * After every change of the rules: states the rules decided are decided again
 * at their socket's next I/O (katls_config.rules_gen, bpf/katls_gate.h), so a
 * rule also covers connections that exist already.  Called under the lock.
 */
static int bump_rules_gen(struct katls_gate *g)
{
	struct katls_config_v c = { 0 };
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(g->fd[M_CONFIG], &zero, &c))
		return -errno;
	c.rules_gen++;
	if (bpf_map_update_elem(g->fd[M_CONFIG], &zero, &c, BPF_ANY))
		return -errno;
	return 0;
}

/*
 * A lookup in an LPM trie returns the longest matching prefix, which may be a
 * broader rule than the key asked about; but when the exact entry exists it is
 * that one.  So exactness is established by the update or delete itself
 * (BPF_NOEXIST, -ENOENT), and values are read only for keys known to exist.
 */
static int rule_put(struct katls_gate *g, const struct katls_rule_key *k,
		    const struct katls_rule_v *v, bool replace, struct katls_rule_v *old,
		    bool *had_old)
{
	*had_old = false;
	if (!bpf_map_update_elem(g->fd[M_RULES], k, v, BPF_NOEXIST))
		return 0;
	if (errno != EEXIST || !replace)
		return -errno;
	if (bpf_map_lookup_elem(g->fd[M_RULES], k, old))
		return -errno;
	if (bpf_map_update_elem(g->fd[M_RULES], k, v, BPF_EXIST))
		return -errno;
	*had_old = true;
	return 0;
}

int katls_gate_rules_add(struct katls_gate *g, const struct katls_gate_rule *rules,
			 size_t num_rules, bool replace)
{
	struct katls_rule_v *old = NULL;
	bool *had_old = NULL;
	struct katls_rule_key k;
	size_t done = 0;
	int ret;

	for (size_t i = 0; i < num_rules; i++) {
		ret = rule_check(&rules[i]);
		if (ret)
			return ret;
	}
	old = calloc(num_rules ? num_rules : 1, sizeof(*old));
	had_old = calloc(num_rules ? num_rules : 1, sizeof(*had_old));
	if (!old || !had_old) {
		ret = -ENOMEM;
		goto out;
	}
	ret = gate_lock(g);
	if (ret)
		goto out;
	for (; done < num_rules; done++) {
		struct katls_rule_v v = {
			.action = rules[done].action,
			.attest_role = rules[done].attest_role,
			.policy_id = rules[done].policy_id,
			.max_age_s = rules[done].max_age_s,
		};

		rule_to_key(&rules[done], &k);
		ret = rule_put(g, &k, &v, replace, &old[done], &had_old[done]);
		if (ret)
			break;
	}
	if (ret) {
		int err = ret == -E2BIG ? -ENOSPC : ret;

		/* No partial rule: undo what this call changed, newest first. */
		while (done-- > 0) {
			rule_to_key(&rules[done], &k);
			if (had_old[done])
				bpf_map_update_elem(g->fd[M_RULES], &k, &old[done], BPF_EXIST);
			else
				bpf_map_delete_elem(g->fd[M_RULES], &k);
		}
		if (err == -EEXIST)
			fail(err, "the rule exists already (delete it first, or --replace)");
		else if (err == -ENOSPC)
			fail(err, "the rule table is full (%u rules)", KATLS_MAX_RULES);
		else
			fail(err, "adding the rule failed: %s", strerror(-err));
		ret = err;
	} else if ((ret = bump_rules_gen(g))) {
		fail(ret, "the rule is in place, but existing connections were not told: %s",
		     strerror(-ret));
	}
	gate_unlock(g);
out:
	free(old);
	free(had_old);
	return ret;
}

int katls_gate_rules_del(struct katls_gate *g, const struct katls_gate_rule *rules,
			 size_t num_rules)
{
	struct katls_rule_v *old;
	struct katls_rule_key k;
	size_t done = 0;
	int ret;

	for (size_t i = 0; i < num_rules; i++) {
		ret = rule_check(&rules[i]);
		if (ret)
			return ret;
	}
	old = calloc(num_rules ? num_rules : 1, sizeof(*old));
	if (!old)
		return -ENOMEM;
	ret = gate_lock(g);
	if (ret)
		goto out;
	for (; done < num_rules; done++) {
		rule_to_key(&rules[done], &k);
		/* If the delete succeeds the exact entry existed, so this was its value. */
		bpf_map_lookup_elem(g->fd[M_RULES], &k, &old[done]);
		if (bpf_map_delete_elem(g->fd[M_RULES], &k)) {
			ret = errno == ENOENT ? fail(-ENOENT, "no such rule") :
						fail(-errno, "deleting the rule: %s", strerror(errno));
			break;
		}
	}
	if (ret) {
		/* All or nothing: put back what this call deleted. */
		while (done-- > 0) {
			rule_to_key(&rules[done], &k);
			bpf_map_update_elem(g->fd[M_RULES], &k, &old[done], BPF_NOEXIST);
		}
	} else if ((ret = bump_rules_gen(g))) {
		fail(ret, "the rule is gone, but existing connections were not told: %s",
		     strerror(-ret));
	}
	gate_unlock(g);
out:
	free(old);
	return ret;
}

static int rule_cmp(const void *a, const void *b)
{
	const struct katls_gate_rule *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family - y->family;
	c = memcmp(x->addr, y->addr, 16);
	if (c)
		return c;
	if (x->prefix_len != y->prefix_len)
		return x->prefix_len - y->prefix_len;
	if (x->port != y->port)
		return x->port - y->port;
	return x->dir - y->dir;
}

int katls_gate_rules_get(struct katls_gate *g, struct katls_gate_rule **out, size_t *num_out)
{
	struct katls_rule_key k, next;
	struct katls_gate_rule *rules = NULL, *tmp;
	size_t n = 0, cap = 0;
	struct katls_rule_v v;
	void *prev = NULL;

	while (!bpf_map_get_next_key(g->fd[M_RULES], prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(g->fd[M_RULES], &k, &v))
			continue;	/* deleted meanwhile */
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			tmp = realloc(rules, cap * sizeof(*rules));
			if (!tmp) {
				free(rules);
				return -ENOMEM;
			}
			rules = tmp;
		}
		key_to_rule(&k, &v, &rules[n++]);
	}
	if (errno != ENOENT) {
		int err = -errno;

		free(rules);
		return fail(err, "reading the rules: %s", strerror(-err));
	}
	if (n)
		qsort(rules, n, sizeof(*rules), rule_cmp);
	*out = rules;
	*num_out = n;
	return 0;
}

/* ---- parsers ---------------------------------------------------------------------- */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

int katls_gate_parse_cidr(const char *s, uint8_t *out_family, uint8_t out_addr[16],
			  uint8_t *out_prefix_len)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	unsigned long len, bits;
	uint8_t addr[16] = { 0 };
	uint8_t fam;
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);

	if (!alen || alen >= INET6_ADDRSTRLEN)
		return fail(-EINVAL, "'%s' is not an address prefix (e.g. 10.0.0.0/8, 2001:db8::/32)", s);
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		fam = KATLS_FAM_V4, bits = 32;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		fam = KATLS_FAM_V6, bits = 128;
	else
		return fail(-EINVAL, "'%s' is not an IPv4 or IPv6 address", buf);
	len = bits;
	if (slash) {
		if (!all_digits(slash + 1) || strlen(slash + 1) > 3)
			return fail(-EINVAL, "'%s': the prefix length must be a number 0-%lu", s, bits);
		len = strtoul(slash + 1, NULL, 10);
		if (len > bits)
			return fail(-EINVAL, "'%s': the prefix length must be 0-%lu", s, bits);
	}
	for (unsigned long i = len; i < bits; i++)
		if (addr[i / 8] & (0x80 >> (i % 8)))
			return fail(-EINVAL, "'%s' has host bits set beyond /%lu", s, len);
	/* The gate sees IPv4-mapped peers as IPv4: a mapped prefix means its IPv4 form. */
	if (fam == KATLS_FAM_V6 && len >= 96 && is_v4mapped(addr)) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		fam = KATLS_FAM_V4;
		len -= 96;
	}
	*out_family = fam;
	memcpy(out_addr, addr, 16);
	*out_prefix_len = (uint8_t)len;
	return 0;
}

int katls_gate_parse_port(const char *s, uint16_t *out)
{
	unsigned long v;

	if (!all_digits(s) || strlen(s) > 5)
		return fail(-EINVAL, "'%s' is not a port number (1-65535)", s);
	v = strtoul(s, NULL, 10);
	if (v < 1 || v > 65535)
		return fail(-EINVAL, "port %s is out of range (1-65535)", s);
	*out = (uint16_t)v;
	return 0;
}

int katls_gate_parse_age(const char *s, uint32_t *out)
{
	unsigned long long v, mul = 1;
	char digits[24];
	size_t n = strlen(s);

	if (n && strchr("smhd", s[n - 1])) {
		mul = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 : s[n - 1] == 'h' ? 3600 : 86400;
		n--;
	}
	if (!n || n >= sizeof(digits))
		return fail(-EINVAL, "'%s' is not an age (seconds, or with s/m/h/d)", s);
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (!all_digits(digits))
		return fail(-EINVAL, "'%s' is not an age (seconds, or with s/m/h/d)", s);
	errno = 0;
	v = strtoull(digits, NULL, 10);
	if (errno || v > UINT32_MAX / mul)
		return fail(-ERANGE, "age '%s' is too large (max %u s)", s, UINT32_MAX);
	*out = (uint32_t)(v * mul);
	return 0;
}

void katls_gate_format_prefix(const struct katls_gate_rule *r, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(r->family == KATLS_FAM_V4 ? AF_INET : AF_INET6, r->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, r->prefix_len);
}

/* ---- policy names ----------------------------------------------------------------- */

bool katls_gate_policy_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n >= KATLS_POLICY_NAME_LEN || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

int katls_gate_policy_name(struct katls_gate *g, uint16_t id, char out[KATLS_POLICY_NAME_LEN])
{
	struct katls_policy_v v;
	uint32_t key = id;

	if (!id || id >= KATLS_MAX_POLICIES)
		return -ENOENT;
	if (bpf_map_lookup_elem(g->fd[M_POLICIES], &key, &v))
		return -errno;
	if (!v.name[0])
		return -ENOENT;
	memcpy(out, v.name, KATLS_POLICY_NAME_LEN);
	out[KATLS_POLICY_NAME_LEN - 1] = '\0';
	return 0;
}

int katls_gate_policy_id(struct katls_gate *g, const char *name, bool create,
			 uint16_t *out_id, bool *out_created)
{
	struct katls_policy_v v, nv = { { 0 } };
	uint32_t free_id = 0;
	int ret;

	if (out_created)
		*out_created = false;
	if (!katls_gate_policy_name_valid(name))
		return fail(-EINVAL, "'%s' is not a policy name (1-%d of A-Z a-z 0-9 . _ -, "
			    "starting with a letter or digit)", name, KATLS_POLICY_NAME_LEN - 1);
	ret = gate_lock(g);
	if (ret)
		return ret;
	for (uint32_t id = 1; id < KATLS_MAX_POLICIES; id++) {
		if (bpf_map_lookup_elem(g->fd[M_POLICIES], &id, &v)) {
			ret = fail(-errno, "reading policy names: %s", strerror(errno));
			goto out;
		}
		v.name[KATLS_POLICY_NAME_LEN - 1] = '\0';
		if (!v.name[0]) {
			if (!free_id)
				free_id = id;
			continue;
		}
		if (!strcmp(v.name, name)) {
			*out_id = (uint16_t)id;
			goto out;
		}
	}
	if (!create) {
		ret = fail(-ENOENT, "no policy named '%s'", name);
		goto out;
	}
	if (!free_id) {
		ret = fail(-ENOSPC, "the policy name table is full (%d names)",
			   KATLS_MAX_POLICIES - 1);
		goto out;
	}
	snprintf(nv.name, sizeof(nv.name), "%s", name);
	if (bpf_map_update_elem(g->fd[M_POLICIES], &free_id, &nv, BPF_ANY)) {
		ret = fail(-errno, "storing policy name: %s", strerror(errno));
		goto out;
	}
	*out_id = (uint16_t)free_id;
	if (out_created)
		*out_created = true;
out:
	gate_unlock(g);
	return ret;
}

int katls_gate_policy_forget(struct katls_gate *g, uint16_t id)
{
	struct katls_policy_v nv = { { 0 } };
	uint32_t key = id;

	if (!id || id >= KATLS_MAX_POLICIES)
		return -EINVAL;
	if (bpf_map_update_elem(g->fd[M_POLICIES], &key, &nv, BPF_ANY))
		return -errno;
	return 0;
}

/* ---- counters and events ------------------------------------------------------------ */

static const char *const counter_names[__KATLS_CNT_MAX] = {
	[KATLS_CNT_ESTABLISHED] = "established",
	[KATLS_CNT_MARK_REQUIRED] = "marked_required",
	[KATLS_CNT_MARK_EXEMPT] = "matched_exempt",
	[KATLS_CNT_MARK_FAILED] = "mark_failed",
	[KATLS_CNT_DENY_SEND] = "denied_send",
	[KATLS_CNT_DENY_RECV] = "denied_recv",
	[KATLS_CNT_DENY_FILE_WRITE] = "denied_file_write",
	[KATLS_CNT_DENY_FILE_READ] = "denied_file_read",
	[KATLS_CNT_DENY_ZEROCOPY] = "denied_zerocopy",
	[KATLS_CNT_DENY_EXPIRED] = "denied_expired",
	[KATLS_CNT_EXPIRED] = "expired",
	[KATLS_CNT_DAEMON_IO] = "daemon_io",
	[KATLS_CNT_EVENTS_LOST] = "events_lost",
	[KATLS_CNT_DAEMON_EXEC] = "daemon_exec_dropped",
	[KATLS_CNT_DENY_CONNECT] = "denied_connect",
	[KATLS_CNT_DENY_NOSTATE] = "denied_nostate",
	[KATLS_CNT_LATE_MARK] = "late_decided",
};

static const char *const state_names[__KATLS_GATE_STATE_MAX] = {
	"none", "required", "pending", "attested", "failed", "expired",
};

static const char *const op_names[__KATLS_OP_MAX] = {
	[KATLS_OP_SEND] = "send", [KATLS_OP_RECV] = "recv",
	[KATLS_OP_FILE_WRITE] = "file-write", [KATLS_OP_FILE_READ] = "file-read",
	[KATLS_OP_ZEROCOPY] = "zerocopy", [KATLS_OP_CONNECT] = "connect",
};

const char *katls_gate_counter_name(unsigned int idx)
{
	return idx < __KATLS_CNT_MAX && counter_names[idx] ? counter_names[idx] : "unknown";
}

const char *katls_gate_state_name(unsigned int state)
{
	return state < __KATLS_GATE_STATE_MAX ? state_names[state] : "invalid";
}

const char *katls_gate_op_name(unsigned int op)
{
	return op < __KATLS_OP_MAX && op_names[op] ? op_names[op] : "unknown";
}

int katls_gate_stats(struct katls_gate *g, uint64_t out[__KATLS_CNT_MAX])
{
	uint64_t *vals = calloc((size_t)g->num_cpus, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	for (uint32_t i = 0; i < __KATLS_CNT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(g->fd[M_COUNTERS], &i, vals)) {
			int err = -errno;

			free(vals);
			return fail(err, "reading counters: %s", strerror(-err));
		}
		for (int c = 0; c < g->num_cpus; c++)
			out[i] += vals[c];
	}
	free(vals);
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct katls_gate *g = ctx;

	if (size < sizeof(struct katls_gate_event))
		return 0;
	if (g->event_fn(data, g->event_arg)) {
		g->events_stopped = true;
		return -ECANCELED;	/* libbpf stops here; this event is consumed */
	}
	return 0;
}

int katls_gate_events_open(struct katls_gate *g, katls_gate_event_fn fn, void *arg)
{
	if (g->rb)
		return -EBUSY;
	g->event_fn = fn;
	g->event_arg = arg;
	g->rb = ring_buffer__new(g->fd[M_EVENTS], on_event, g, NULL);
	if (!g->rb)
		return fail(-errno, "ring buffer: %s", strerror(errno));
	return 0;
}

int katls_gate_events_poll(struct katls_gate *g, int timeout_ms)
{
	int n;

	if (!g->rb)
		return -EINVAL;
	g->events_stopped = false;
	n = ring_buffer__poll(g->rb, timeout_ms);
	if (n == -ECANCELED && g->events_stopped)
		return 0;
	return n;
}

/* ---- the daemon's exemption -------------------------------------------------------- */

static int pidfd_of(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return fail(-errno, "pidfd_open(%d): %s%s", (int)pid, strerror(errno),
			    errno == EINVAL ? " (not a process, or not its main thread)" : "");
	return fd;
}

int katls_gate_exempt_task(struct katls_gate *g, pid_t pid)
{
	struct katls_daemon_v v = {
		.magic = KATLS_DAEMON_MAGIC,
		.tgid = (uint32_t)pid,
		.since_ns = katls_gate_now_ns(),
	};
	int pfd = pidfd_of(pid), ret = 0;

	if (pfd < 0)
		return pfd;
	if (bpf_map_update_elem(g->fd[M_DAEMON], &pfd, &v, BPF_ANY))
		ret = fail(-errno, "exempting %d: %s", (int)pid, strerror(errno));
	close(pfd);
	return ret;
}

int katls_gate_unexempt_task(struct katls_gate *g, pid_t pid)
{
	int pfd = pidfd_of(pid), ret = 0;

	if (pfd < 0)
		return pfd;
	if (bpf_map_delete_elem(g->fd[M_DAEMON], &pfd))
		ret = -errno;
	close(pfd);
	return ret;
}

int katls_gate_task_exempt(struct katls_gate *g, pid_t pid)
{
	struct katls_daemon_v v;
	int pfd = pidfd_of(pid), ret = 0;

	if (pfd < 0)
		return pfd;
	if (bpf_map_lookup_elem(g->fd[M_DAEMON], &pfd, &v))
		ret = -errno;
	else if (v.magic != KATLS_DAEMON_MAGIC)
		ret = -ENOENT;
	close(pfd);
	return ret;
}

/* ---- info -------------------------------------------------------------------------- */

static bool is_lsm_prog_name(const char *name)
{
	return strcmp(name, "katls_sockops") != 0;
}

static const char *const prog_names[] = {
	"katls_sockops", "katls_socket_sendmsg", "katls_socket_recvmsg",
	"katls_file_permission", "katls_socket_getsockopt", "katls_socket_connect",
	"katls_bprm_committed_creds", "katls_sock_graft",
};
#define NUM_PROGS (sizeof(prog_names) / sizeof(prog_names[0]))

int katls_gate_info(struct katls_gate *g, struct katls_gate_info *out)
{
	struct bpf_link_info li;
	char path[PATH_MAX];
	struct katls_gate_rule *rules;
	size_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < NUM_PROGS; i++) {
		__u32 len = sizeof(li);
		int fd;

		if (pin_path(path, sizeof(path), g->pin_dir, "link_", prog_names[i]))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!is_lsm_prog_name(prog_names[i])) {
			out->sockops = true;
			memset(&li, 0, sizeof(li));
			if (!bpf_obj_get_info_by_fd(fd, &li, &len) && li.type == BPF_LINK_TYPE_CGROUP)
				out->cgroup_id = li.cgroup.cgroup_id;
		} else {
			out->num_lsm++;
		}
		close(fd);
	}
	out->num_lsm_expected = NUM_PROGS - 1;
	out->lsm = out->num_lsm == out->num_lsm_expected;
	ret = katls_gate_rules_get(g, &rules, &n);
	if (ret)
		return ret;
	free(rules);
	out->num_rules = (uint32_t)n;
	for (uint16_t id = 1; id < KATLS_MAX_POLICIES; id++) {
		char name[KATLS_POLICY_NAME_LEN];

		if (!katls_gate_policy_name(g, id, name))
			out->num_policies++;
	}
	{
		struct katls_config_v c = { 0 };
		uint32_t zero = 0;

		if (!bpf_map_lookup_elem(g->fd[M_CONFIG], &zero, &c))
			out->attest = c.attest;
	}
	return 0;
}

/* ---- load / unload ----------------------------------------------------------------- */

/* Remove every pin we know of (links first: the programs detach, the gate opens). */
static void remove_pins(const char *dir)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < NUM_PROGS; i++) {
		if (!pin_path(path, sizeof(path), dir, "link_", prog_names[i]))
			unlink(path);
		if (!pin_path(path, sizeof(path), dir, "new_link_", prog_names[i]))
			unlink(path);
	}
	for (int i = 0; i < NUM_MAPS; i++)
		if (!pin_path(path, sizeof(path), dir, "", map_names[i]))
			unlink(path);
}

int katls_gate_unload(const char *pin_dir)
{
	const char *dir = pin_dir_or_default(pin_dir);
	int fd = lock_dir(dir, false);

	if (fd < 0)
		return fd;
	remove_pins(dir);
	close(fd);
	if (rmdir(dir) && errno != ENOENT)
		return fail(-errno, "cannot remove %s: %s (unknown files in it?)", dir, strerror(errno));
	return 0;
}

/*
 * The gate's skeleton over the object built with attest rules
 * (katls_gate_attest.bpf.c: the same programs and maps, plus calls of
 * katls.ko's kfunc), or the plain one.
 */
static struct katls_gate_bpf *open_variant(bool attest)
{
	struct katls_gate_bpf *obj;
	int err;

	if (!attest)
		return katls_gate_bpf__open();
	obj = calloc(1, sizeof(*obj));
	if (!obj) {
		errno = ENOMEM;
		return NULL;
	}
	err = katls_gate_bpf__create_skeleton(obj);
	if (!err) {
		obj->skeleton->data = katls_gate_attest_bpf__elf_bytes(&obj->skeleton->data_sz);
		err = bpf_object__open_skeleton(obj->skeleton, NULL);
	}
	if (err) {
		katls_gate_bpf__destroy(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

/* katls.ko is loaded with its BTF (and so, its kfunc)? */
static bool katls_btf(void)
{
	return access("/sys/kernel/btf/katls", F_OK) == 0;
}

static struct katls_gate_bpf *open_skel_variant(const char *dir, bool no_lsm, bool attest)
{
	struct katls_gate_bpf *skel = open_variant(attest);
	struct bpf_program *prog;
	struct bpf_map *map;
	char path[PATH_MAX];

	if (!skel)
		return NULL;
	bpf_object__for_each_program(prog, skel->obj)
		if (no_lsm && bpf_program__type(prog) == BPF_PROG_TYPE_LSM)
			bpf_program__set_autoload(prog, false);
	if (!dir)
		return skel;
	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);

		if (bpf_map__is_internal(map))
			continue;	/* .rodata: private to this load */
		if (pin_path(path, sizeof(path), dir, "", name) || bpf_map__set_pin_path(map, path)) {
			katls_gate_bpf__destroy(skel);
			errno = ENAMETOOLONG;
			return NULL;
		}
	}
	return skel;
}

static struct katls_gate_bpf *open_skel(const char *dir, bool no_lsm)
{
	return open_skel_variant(dir, no_lsm, false);
}

/* Record in katls_config whether the gate takes attest rules (katls_gate_info()). */
static int set_attest(struct katls_gate *g, bool attest)
{
	struct katls_config_v c = { 0 };
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(g->fd[M_CONFIG], &zero, &c))
		return -errno;
	c.attest = attest;
	if (bpf_map_update_elem(g->fd[M_CONFIG], &zero, &c, BPF_ANY))
		return -errno;
	return 0;
}

/*
 * The load failed with LSM programs in it.  Would it succeed without them?
 * Then this kernel refuses BPF-LSM programs.  A throwaway load without pins.
 */
static bool lsm_refused(void)
{
	struct katls_gate_bpf *skel = open_skel(NULL, true);
	bool ok;

	if (!skel)
		return false;
	ok = !katls_gate_bpf__load(skel);
	katls_gate_bpf__destroy(skel);
	return ok;
}

#define LSM_REFUSED_MSG "katls: this kernel refuses BPF-LSM programs (lockdown=integrity?): " \
			"the gate cannot enforce here"

/* Attach @prog, pin the link under a temporary name and move it over the old pin. */
static int attach_pin(struct bpf_program *prog, int cg_fd, const char *dir)
{
	const char *name = bpf_program__name(prog);
	char tmp[PATH_MAX], final[PATH_MAX];
	struct bpf_link *link;
	int ret;

	if (pin_path(tmp, sizeof(tmp), dir, "new_link_", name) ||
	    pin_path(final, sizeof(final), dir, "link_", name))
		return -ENAMETOOLONG;
	if (bpf_program__type(prog) == BPF_PROG_TYPE_LSM)
		link = bpf_program__attach_lsm(prog);
	else
		link = bpf_program__attach_cgroup(prog, cg_fd);
	if (!link) {
		ret = -errno;
		if (ret == -EPERM && bpf_program__type(prog) == BPF_PROG_TYPE_LSM) {
			no_enforce = true;
			return fail(ret, LSM_REFUSED_MSG);
		}
		return fail(ret, "attaching %s: %s", name, strerror(-ret));
	}
	unlink(tmp);
	ret = bpf_link__pin(link, tmp);
	if (ret) {
		bpf_link__destroy(link);
		return fail(ret, "pinning %s: %s", tmp, strerror(-ret));
	}
	/* Atomic: the old link (if any) is released only now, after the new one runs. */
	if (rename(tmp, final)) {
		ret = -errno;
		unlink(tmp);
		bpf_link__destroy(link);
		return fail(ret, "rename %s: %s", final, strerror(-ret));
	}
	bpf_link__destroy(link);	/* closes our fd; the pin keeps the link */
	return 0;
}

/* Expect @rc == -1 with EACCES from a call on the self-test socket. */
static int expect_denied(ssize_t rc, const char *what)
{
	if (rc < 0 && errno == EACCES)
		return 0;
	no_enforce = true;
	return fail(-EPERM, "katls: the gate's LSM programs are attached but do not "
		    "enforce (%s on a gated socket: %s); is 'bpf' in the kernel's LSM list?",
		    what, rc < 0 ? strerror(errno) : "allowed");
}

/* Loopback TCP pair; returns the client and server fds. */
static int tcp_pair(int *cli, int *srv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int l, c = -1, s = -1, ret = 0;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		goto err;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
		goto err;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		goto err;
	close(l);
	*cli = c;
	*srv = s;
	return 0;
err:
	ret = -errno;
	close(l);
	if (c >= 0)
		close(c);
	return ret;
}

/*
 * Prove that the attached LSM programs enforce: a REQUIRED loopback socket
 * must refuse send, recv and splice.  The socket is flagged SELFTEST so the
 * denials are not counted or reported.
 */
static int selftest(struct katls_gate *g)
{
	struct katls_sk_state_v v = { .state = KATLS_GATE_REQUIRED, .flags = KATLS_SKF_SELFTEST };
	int cli = -1, srv = -1, p[2] = { -1, -1 }, ret;
	char b = 'x';

	ret = tcp_pair(&cli, &srv);
	if (ret)
		return fail(ret, "gate self-test: loopback TCP connection: %s (is lo up?)",
			    strerror(-ret));
	ret = put_state(g, cli, &v);
	if (ret) {
		fail(ret, "gate self-test: setting socket state: %s", strerror(-ret));
		goto out;
	}
	ret = expect_denied(send(cli, &b, 1, MSG_DONTWAIT), "send");
	if (!ret)
		ret = expect_denied(recv(cli, &b, 1, MSG_DONTWAIT), "recv");
	if (!ret && pipe2(p, O_CLOEXEC | O_NONBLOCK)) {
		ret = fail(-errno, "gate self-test: pipe: %s", strerror(errno));
		goto out;
	}
	if (!ret && write(p[1], &b, 1) != 1) {
		ret = fail(-EIO, "gate self-test: pipe write failed");
		goto out;
	}
	if (!ret)
		ret = expect_denied(splice(p[0], NULL, cli, NULL, 1, SPLICE_F_NONBLOCK), "splice");
out:
	bpf_map_delete_elem(g->fd[M_SK_STATE], &cli);
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	close(cli);
	close(srv);
	return ret;
}

static int do_load(const struct katls_gate_opts *opts, const char *dir, bool fresh,
		   struct katls_gate **out)
{
	char cgroup[PATH_MAX];
	struct katls_gate_bpf *skel;
	struct katls_gate *g = NULL;
	struct bpf_program *prog;
	int cg_fd = -1, ret;
	bool attest;

	if (opts->cgroup)
		snprintf(cgroup, sizeof(cgroup), "%s", opts->cgroup);
	else if ((ret = find_cgroup2(cgroup, sizeof(cgroup))))
		return ret;
	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0)
		return fail(-errno, "cgroup %s: %s", cgroup, strerror(errno));

	attest = !opts->no_lsm && !opts->no_attest && katls_btf();
	skel = open_skel_variant(dir, opts->no_lsm, attest);
	if (!skel) {
		ret = fail(-errno, "opening the BPF object: %s", strerror(errno));
		goto out;
	}
	ret = katls_gate_bpf__load(skel);
	if (ret && attest) {
		/* katls.ko has BTF but no kfunc for us (built without it): the plain gate */
		fprintf(stderr, "katls: katls.ko offers no kfunc for attest rules; loading the gate "
			"without them (attest rules refuse I/O like require rules)\n");
		katls_gate_bpf__destroy(skel);
		attest = false;
		bpf_log_len = 0;
		bpf_log[0] = '\0';
		skel = open_skel_variant(dir, opts->no_lsm, false);
		if (!skel) {
			ret = fail(-errno, "opening the BPF object: %s", strerror(errno));
			goto out;
		}
		ret = katls_gate_bpf__load(skel);
	}
	if (ret) {
		if (!opts->no_lsm && lsm_refused()) {
			no_enforce = true;
			ret = fail(-EPERM, LSM_REFUSED_MSG);
		}
		else if (!fresh && strstr(bpf_log, "reuse"))
			ret = fail(ret, "the pinned maps in %s do not match this katls version "
				   "(run 'katls gate unload' first)", dir);
		else
			ret = fail(ret, "loading the BPF gate failed: %s (--verbose shows libbpf's log)",
				   strerror(-ret));
		goto out;
	}
	if (!opts->no_lsm && (ret = check_lsm_list()))
		goto out;
	/* sockops first (marking), then the LSM programs (enforcement). */
	bpf_object__for_each_program(prog, skel->obj) {
		if (!bpf_program__autoload(prog) || bpf_program__type(prog) == BPF_PROG_TYPE_LSM)
			continue;
		if ((ret = attach_pin(prog, cg_fd, dir)))
			goto out;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		if (!bpf_program__autoload(prog) || bpf_program__type(prog) != BPF_PROG_TYPE_LSM)
			continue;
		if ((ret = attach_pin(prog, cg_fd, dir)))
			goto out;
	}
	ret = katls_gate_open_pinned(dir, &g);
	if (ret)
		goto out;
	if ((ret = set_attest(g, attest))) {
		ret = fail(ret, "katls_config: %s", strerror(-ret));
		goto out;
	}
	if (!opts->no_lsm && (ret = selftest(g)))
		goto out;
	if (out) {
		*out = g;
		g = NULL;
	}
out:
	katls_gate_free(g);
	katls_gate_bpf__destroy(skel);
	close(cg_fd);
	return ret;
}

int katls_gate_load(const struct katls_gate_opts *opts, struct katls_gate **out)
{
	static const struct katls_gate_opts defaults;
	const char *dir;
	libbpf_print_fn_t old_print;
	char path[PATH_MAX];
	bool fresh;
	int fd, ret;

	if (!opts)
		opts = &defaults;
	dir = pin_dir_or_default(opts->pin_dir);
	errmsg[0] = '\0';
	no_enforce = false;
	bpf_log_len = 0;
	bpf_log[0] = '\0';
	ret = check_bpffs(dir);
	if (ret)
		return ret;
	fd = lock_dir(dir, true);
	if (fd < 0)
		return fd;
	ret = pin_path(path, sizeof(path), dir, "", map_names[M_SK_STATE]);
	if (ret)
		goto out;
	fresh = access(path, F_OK) != 0;
	log_verbose = opts->verbose;
	old_print = libbpf_set_print(capture_log);
	ret = do_load(opts, dir, fresh, out);
	libbpf_set_print(old_print);
	/* -EPERM means "cannot enforce here" only; other permission failures are -EACCES. */
	if (ret == -EPERM && !no_enforce)
		ret = -EACCES;
	/* A failed first load leaves nothing behind; a failed reload keeps the old gate. */
	if (ret && fresh) {
		remove_pins(dir);
		rmdir(dir);
	}
out:
	close(fd);
	return ret;
}
