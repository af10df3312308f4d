/*
 * pcapfile: the records of a classic pcap file (the byte order of this
 * machine, micro- or nanosecond timestamps), read by breaktime-sensor -r
 * straight from its own buffer. Only plain records are taken here; the
 * caller hands anything else (and pcapng, and the other byte order) to
 * libpcap, which reports what is wrong with it.
 */
#ifndef BREAKTIME_PCAPFILE_H
#define BREAKTIME_PCAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCAPFILE_HDR 16u               /* a record's header */
#define PCAPFILE_MAX_CAPLEN 262144u    /* libpcap's own limit for most link types */

struct pcapfile_rec {
	int64_t ts_us;         /* microseconds since 1970 */
	const uint8_t *data;   /* caplen bytes, inside the buffer */
	uint32_t caplen, len;
	size_t size;           /* header + data: where the next record starts */
};

/*
 * The record at buf (len bytes available): 1 and *r filled; 0 when buf
 * does not hold the whole record yet (read more, or at the end of the file
 * a cut record); -1 when it is not a plain record (caplen over snap or over
 * PCAPFILE_MAX_CAPLEN, or len under caplen): leave it to libpcap.
 */
int pcapfile_record(const uint8_t *buf, size_t len, uint32_t snap, bool nano,
		    struct pcapfile_rec *r);

#endif
