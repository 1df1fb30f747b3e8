/* SPDX-License-Identifier: MIT */
/** @file lfp.h @brief Umbrella header of liblfp. */
#pragma once
#include <lfp/common.h>
#include <lfp/diag.h>
#include <lfp/layer.h>
#include <lfp/policy.h>
#include <lfp/rule.h>
#include <lfp/oracle.h>
#include <lfp/icmp.h>
