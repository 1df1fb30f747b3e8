/* SPDX-License-Identifier: MIT */
/*
 * Test-only knobs of daemon/kern.c. Production code never sets them.
 */
#pragma once

/**
 * Comma-separated BPF program names ("lfp_sendmsg4,lfp_sockops") that
 * lfp_kern_open() marks sleepable before load, which the kernel refuses
 * for these program types: tests use it to check that refused programs
 * leave the other hooks working and are reported in status. NULL: off.
 */
extern const char *lfp_kern_test_refuse;
