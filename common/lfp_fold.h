/* SPDX-License-Identifier: MIT */
/*
 * WFP filter arbitration, written once and compiled into both the user-space
 * oracle (lib/oracle.c) and the BPF evaluator (common/lfp_eval.h).
 *
 * A sublayer answers permit or block, soft or hard, or nothing. Answers are
 * folded in sublayer order (highest weight first) starting from "none":
 *
 *   decision so far | next sublayer answers   | new decision
 *   none            | any answer              | that answer, with its hardness
 *   soft permit     | block (soft or hard)    | that block
 *   soft permit     | permit                  | permit, hard if either is hard
 *   soft block      | permit (soft or hard)   | that permit
 *   soft block      | block                   | block, hard if either is hard
 *   hard permit     | block from a callout    | veto: hard block, veto event
 *   hard permit     | anything else           | unchanged
 *   hard block      | anything                | unchanged
 *
 * No answer from any sublayer: permit (soft, no deciding filter).
 */
#pragma once

#include "lfp_types.h"

#define LFP_ANS_NONE   0
#define LFP_ANS_PERMIT 1
#define LFP_ANS_BLOCK  2

/* A sublayer's answer or the running decision. Plain bytes so both sides share it. */
struct lfp_answer {
	unsigned char ans;     /* LFP_ANS_* */
	unsigned char hard;    /* 1: write right cleared */
	unsigned char callout; /* 1: the answer came from a callout */
	unsigned char veto;    /* decision only: a hard permit was vetoed */
	unsigned int idx;      /* who answered: filter index (evaluator) or slot (oracle) */
};

/*
 * Fold @next (one sublayer's answer) into @d. Returns 1 when @next became
 * (or merged into) the decision, 0 when the decision is unchanged.
 */
static inline int lfp_fold(struct lfp_answer *d, const struct lfp_answer *next)
{
	if (next->ans == LFP_ANS_NONE)
		return 0;
	if (d->ans == LFP_ANS_NONE) {
		*d = *next;
		d->veto = 0;
		return 1;
	}
	if (d->hard) {
		if (d->ans == LFP_ANS_PERMIT && next->ans == LFP_ANS_BLOCK && next->callout) {
			*d = *next;
			d->hard = 1;
			d->veto = 1;
			return 1;
		}
		return 0;
	}
	/* soft decision so far */
	if (next->ans != d->ans) {
		*d = *next;
		d->veto = 0;
		return 1;
	}
	/* same answer: hard if either is hard; the deciding filter stays the first one
	 * unless the later one is what made it hard */
	if (next->hard && !d->hard) {
		*d = *next;
		d->veto = 0;
		return 1;
	}
	return 0;
}

/* The final verdict of a folded decision. */
static inline int lfp_decision_verdict(const struct lfp_answer *d)
{
	if (d->veto)
		return LFP_V_VETO;
	return d->ans == LFP_ANS_BLOCK ? LFP_V_BLOCK : LFP_V_PERMIT;
}
