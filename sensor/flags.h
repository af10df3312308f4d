/*
 * flags: traffic the sensor flags rather than counts — connections to
 * well-known DNS-over-HTTPS resolvers (by name or by address; DoH hides a
 * device's DNS questions from the sensor and from the school's filtering)
 * and to the well-known ports of VPN protocols (a VPN hides everything).
 * Such connections are recorded with their own reason ("doh", "vpn") and
 * no platform, so reports can show them; they are never social minutes.
 *
 * The tables are in flags.c, with the sources they come from. Pure and
 * constant: any thread.
 */
#ifndef BREAKTIME_SENSOR_FLAGS_H
#define BREAKTIME_SENSOR_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#include "verdict.h"

/* A flow's flag is its record's reason: REASON_DOH, REASON_VPN, or
 * REASON_NONE (not flagged). A closed set: a new kind of flag is a new
 * reason in verdict.h. */
#define FLAG_DOH REASON_DOH
#define FLAG_VPN REASON_VPN

/* name (normalised) is a listed DoH resolver's name or a subdomain of one. */
bool flags_doh_name(const char *name);
/* addr (4 or 16 bytes by family) is a listed DoH resolver's address. */
bool flags_doh_addr(int family, const uint8_t *addr);
/* The VPN protocol whose well-known port this is for proto (IPPROTO_TCP or
 * IPPROTO_UDP): "openvpn", "wireguard", ... or NULL. */
const char *flags_vpn_port(uint8_t proto, uint16_t port);

#endif
