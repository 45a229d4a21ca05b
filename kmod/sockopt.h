/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_SOCKOPT_H
#define _KATLS_SOCKOPT_H

int katls_sockopt_init(void);
void katls_sockopt_exit(void);

#endif /* _KATLS_SOCKOPT_H */
