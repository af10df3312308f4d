/*
 * pcapfile: one record of a classic pcap file; see pcapfile.h.
 */
#include "pcapfile.h"

#include <string.h>

int pcapfile_record(const uint8_t *buf, size_t len, uint32_t snap, bool nano,
		    struct pcapfile_rec *r)
{
	uint32_t h[4];   /* ts_sec, ts_usec (or nsec), caplen, len: unsigned in the format */
	if (len < PCAPFILE_HDR)
		return 0;
	memcpy(h, buf, sizeof(h));
	if (h[2] > snap || h[2] > PCAPFILE_MAX_CAPLEN || h[3] < h[2])
		return -1;
	if (len - PCAPFILE_HDR < h[2])
		return 0;
	r->ts_us = (int64_t)h[0] * 1000000 + (nano ? h[1] / 1000 : h[1]);
	r->data = buf + PCAPFILE_HDR;
	r->caplen = h[2];
	r->len = h[3];
	r->size = PCAPFILE_HDR + h[2];
	return 1;
}
