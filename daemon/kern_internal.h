/* SPDX-License-Identifier: MIT */
/*
 * Test-only knobs of daemon/kern.c. Production code never sets them.
 */
#pragma once

/**
 * Name of an IPv4 sock_addr program ("lfp_connect4", "lfp_sendmsg4") that
 * lfp_kern_open() declares for an IPv6 attach type before load, so the
 * verifier refuses it: tests use it to check that one refused program
 * leaves the other hooks working and is reported in status. NULL: off.
 */
extern const char *lfp_kern_test_refuse;
