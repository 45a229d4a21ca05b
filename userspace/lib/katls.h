/* SPDX-License-Identifier: MIT */
/*
 * libkatls internal umbrella: the reason codes are public
 * (include/katls/reason.h, part of libkatls.so.1's API).
 *
 * Conventions: functions return 0 or a negative errno; verification failures
 * additionally carry a stable reason code (enum katls_reason) that travels on
 * the wire in katls_verdict and through KATLS_SO_STATUS.
 */
#ifndef KATLS_H
#define KATLS_H

#include <stdint.h>

#include <katls/reason.h>

#endif /* KATLS_H */
