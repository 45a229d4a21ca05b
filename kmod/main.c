// SPDX-License-Identifier: GPL-2.0
/*
 * katls — kernel-assisted attested TLS: module init and exit only.
 */
#include <linux/module.h>

#include "genl.h"
#include "ima.h"
#include "measure.h"
#include "request.h"
#include "sock.h"
#include "sockopt.h"
#include "transparent.h"

static int __init katls_mod_init(void)
{
	int ret;

	ret = katls_ima_init();
	if (ret < 0)
		goto out;
	ret = katls_measure_init();
	if (ret < 0)
		goto out_ima_exit;
	ret = katls_sock_init();
	if (ret < 0)
		goto out_ima_exit;
	ret = katls_request_init();
	if (ret < 0)
		goto out_sock_exit;
	/* Until a daemon registers, KATLS_SO_ATTEST fails with -ECONNREFUSED. */
	ret = katls_sockopt_init();
	if (ret < 0)
		goto out_request_exit;
	/* Never fails: without its BTF the module loads without attest rules. */
	katls_transparent_init();
	/* ORDER: the netlink family goes last, it makes everything reachable. */
	ret = katls_genl_init();
	if (ret < 0)
		goto out_transparent_exit;
	katls_measure_watch_start();
	pr_info("kernel-assisted attested TLS loaded\n");
	return 0;

out_transparent_exit:
	katls_transparent_exit();
	katls_sockopt_exit();
out_request_exit:
	katls_request_exit();
out_sock_exit:
	katls_sock_exit();
out_ima_exit:
	katls_ima_exit();
out:
	return ret;
}

static void __exit katls_mod_exit(void)
{
	/* ORDER: the watcher multicasts on the family, so it stops first. */
	katls_measure_watch_stop();
	katls_genl_exit();
	katls_transparent_exit();
	katls_sockopt_exit();
	katls_request_exit();
	katls_sock_exit();
	katls_ima_exit();
}

module_init(katls_mod_init);
module_exit(katls_mod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("katls: kernel-assisted attested TLS");
MODULE_AUTHOR("The katls authors");
MODULE_SOFTDEP("pre: tls");
