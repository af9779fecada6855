/* SPDX-License-Identifier: MIT */
/* The TensorFlow Lite Micro tensor arena a model needs (the RAM it takes on a board), computed
 * from the flatbuffer alone: the greedy memory planner over non-persistent tensors (head) plus
 * the persistent allocations (tail), as ../shared/reference/ARENA_ALGORITHM.md describes, under a
 * named profile (the struct sizes of one TFLM build on one pointer width). Offline-planned
 * offsets in the model's metadata override the greedy plan. */
#ifndef FLEET_ARENA_H
#define FLEET_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tflite.h"

/* "tflm-2020-x86_64": what the paper's find-arena-size reported (TFLM ~2.3/2.4, x86-64);
 * "tflm-2020-ilp32": the same TFLM on a 32-bit Cortex-M. */
#define FLEET_ARENA_PROFILE_X86_64 "tflm-2020-x86_64"
#define FLEET_ARENA_PROFILE_ILP32 "tflm-2020-ilp32"

/* NULL-terminated list of profile names (static). */
const char *const *fleet_arena_profiles(void);
/* 1 if name is a known profile. */
int fleet_arena_profile_known(const char *name);

struct fleet_arena {
    uint64_t total_bytes;      /* head + tail: what arena_used_bytes() reports */
    uint64_t head_bytes;       /* planned non-persistent tensors (peak, 16-aligned) */
    uint64_t tail_bytes;       /* persistent allocations */
    int offline_planned;       /* offsets came from OfflineMemoryAllocation metadata */
    /* What the estimate cannot know, for the user (static text). */
    const char *caveat;
};

/* Estimates the arena of m under profile. FLEET_ERR_INVAL for an unknown profile or a model the
 * planner cannot handle (message in err), FLEET_ERR_TOOBIG on arithmetic overflow. */
enum fleet_err fleet_arena_estimate(const struct fleet_tflite_model *m, const char *profile,
                                    struct fleet_arena *out, char *err, size_t errlen);

#endif
