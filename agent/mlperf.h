/* SPDX-License-Identifier: MIT */
/* tinyfleet-agent: reading a directory of MLPerf Tiny results laid out as the public
 * mlcommons tiny_results v1.x repositories are: systems/<system>.json describing each system,
 * and results/<system>/<benchmark>/{performance,accuracy,energy}/results.txt with lines such as
 * "Median throughput is 23.032 inf./sec.", "Median energy cost is 1430.6681 uJ/inf." and
 * "Top 1% = 90.2". Each (system, benchmark) with a readable performance file becomes one RESULT
 * of the agent protocol (lib/agent_proto.h). */
#ifndef FLEET_AGENT_MLPERF_H
#define FLEET_AGENT_MLPERF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* What one performance results.txt says. Latencies in ms per inference (1000 / throughput):
 * the median from the "Median throughput" line, p90 (nearest rank), min and max over the
 * windows' throughputs (widened to include the median). runs: the inferences of all windows
 * (or 1 per window when the file does not count them). */
struct fleet_mlperf_perf {
    double median_ms, p90_ms, min_ms, max_ms;
    long long runs;
    size_t windows;
};
/* 0, or -1 when the text has no "Median throughput is X inf./sec." with X > 0. */
int fleet_mlperf_parse_performance(const char *text, struct fleet_mlperf_perf *out);
/* "Median energy cost is X uJ/inf." -> X. 0 or -1. */
int fleet_mlperf_parse_energy(const char *text, double *uj);
/* "Top 1% = X", "Top-1% = X" or "Top-1: X%" -> X (percent). 0 or -1. */
int fleet_mlperf_parse_accuracy(const char *text, double *percent);

/* How the tree maps to the fleet. Borrowed. */
struct fleet_mlperf_map {
    /* benchmark name (kws, vww, ic, ad) -> the sha256 of the model file given for it */
    const char *const *bench_names;
    const char *const *bench_sha256;
    size_t n_bench;
    /* system name -> the board's TD id */
    const char *const *system_names;
    const char *const *system_devices;
    size_t n_systems;
};

/* Scans dir and returns the RESULTs (a new JSON array, sorted by system, then benchmark), with
 * ids "mlperf/<system>/<benchmark>". A system's board is its mapping, else the "td_id" member of
 * systems/<system>.json, else urn:tinyfleet:mlperf:<system>; the framework is that file's
 * "framework" member, else "mlperf-tiny". Benchmarks without a model in map, or without a
 * readable performance file, are skipped with a message on stderr. NULL with err on error. */
json_t *fleet_mlperf_scan(const char *dir, const struct fleet_mlperf_map *map, char *err,
                          size_t errlen);

#endif
