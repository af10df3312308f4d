/*
 * fuzz_sensor_pcapfile: libFuzzer target for the classic-pcap record reader
 * of breaktime-sensor -r (sensor/pcapfile.c), which parses capture files
 * itself rather than through libpcap for speed.
 *
 * Input: a whole pcap file in this machine's byte order (24-byte header:
 * magic a1b2c3d4 or a1b23c4d, snaplen, link type; then records). Records
 * are taken with pcapfile_record() exactly as main.c's loop does, the
 * contract checked (a record lies inside the input, caplen <= snaplen,
 * the next record starts after it), and every frame goes through the
 * sensor's whole per-frame path. Where the reader stops, libpcap would
 * take over; that is libpcap's own code and not fuzzed here.
 * Seeds: tests/data/fuzz/fuzz_sensor_pcapfile/ (the little-endian capture
 * files of tests/data/pcap/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "decode.h"
#include "pcapfile.h"
#include "sensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sensor *sensor;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t gh[6];
	if (size < sizeof(gh))
		return 0;
	memcpy(gh, data, sizeof(gh));
	if (gh[0] != 0xa1b2c3d4 && gh[0] != 0xa1b23c4d)
		return 0;
	bool nano = gh[0] == 0xa1b23c4d;
	uint32_t snap = gh[4];
	int linktype = (int)(gh[5] & 0x0fffffff);
	if (!sensor) {
		struct conf_errors errs = {0};
		struct conf *c = conf_load_string_flags(
			"[proxy]\nlisten = 10.9.9.9:3128\n[presence]\ndetect_subnets = 10.50.0.0/24\n",
			"fuzz", CONF_NO_FILES, &errs);
		if (!c)
			abort();
		struct sensor_options o = {.max_flows = 64, .dns_entries = 256};
		sensor = sensor_create(c, &o);
		conf_unref(c);
		if (!sensor)
			abort();
	}
	/* an exact-size copy, so ASan sees any read past the end */
	uint8_t *buf = malloc(size);
	memcpy(buf, data, size);
	size_t pos = sizeof(gh);
	for (;;) {
		struct pcapfile_rec r;
		int k = pcapfile_record(buf + pos, size - pos, snap, nano, &r);
		if (k <= 0)
			break;
		if (r.caplen > snap || r.caplen > PCAPFILE_MAX_CAPLEN || r.len < r.caplen ||
		    r.data != buf + pos + PCAPFILE_HDR || r.size != PCAPFILE_HDR + r.caplen ||
		    r.size > size - pos)
			abort();
		sensor_frame(sensor, linktype, r.ts_us, r.data, r.caplen);
		pos += r.size;
	}
	free(buf);
	return 0;
}
