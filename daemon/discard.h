/* SPDX-License-Identifier: MIT */
/**
 * @file discard.h
 * @brief Names of the kernel's packet drop reasons, for discard events.
 */
#pragma once

#include <stdint.h>

/**
 * The name of drop reason @p reason (enum skb_drop_reason) without its
 * SKB_DROP_REASON_ prefix ("NO_SOCKET"), from the running kernel's BTF
 * (read once); "reason-<n>" when the BTF has no such value or cannot be read.
 * The string lives until lfpd exits; one caller thread.
 */
const char *discard_reason_name(uint32_t reason);
