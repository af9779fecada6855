/* SPDX-License-Identifier: MIT */
/* CRC-32 (IEEE 802.3, the polynomial of zlib, gzip and PNG), used to checksum snapshots and
 * journal records. Table-driven, one byte at a time, no state outside the call. */
#ifndef FLEET_CRC32_H
#define FLEET_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Returns the CRC-32 of the n bytes at p (borrowed) continued from crc, which is 0 for the first
 * block and the previous return value for later ones, so
 * fleet_crc32(fleet_crc32(0, a, na), b, nb) == the CRC of a followed by b.
 * fleet_crc32(0, "123456789", 9) == 0xcbf43926. */
uint32_t fleet_crc32(uint32_t crc, const void *p, size_t n);

#endif
