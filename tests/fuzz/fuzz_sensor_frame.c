/*
 * fuzz_sensor_frame: libFuzzer target for breaktime-sensor's frame path.
 *
 * Input: one byte choosing the link type (index into the table below),
 * then the captured frame. The frame goes through decode_frame() on an
 * exact-size copy, with the contract checked (an OK packet's payload lies
 * inside the capture), and then through the whole per-frame path of one
 * long-lived sensor (DNS, HTTP, TLS reassembly, QUIC Initial decryption,
 * the flow table with a small limit), which keeps state across inputs the
 * way a capture does. Nothing is printed or stored.
 * Seeds: tests/data/fuzz/fuzz_sensor_frame/ (written by
 * tests/integration/sensor/make_seeds.py from the capture tests' frames).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "decode.h"
#include "sensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int linktypes[] = {
	DECODE_DLT_EN10MB, DECODE_DLT_LINUX_SLL, DECODE_DLT_LINUX_SLL2, DECODE_DLT_NULL,
	DECODE_DLT_LOOP, DECODE_DLT_RAW, DECODE_DLT_RAW_FILE, DECODE_DLT_IPV4, DECODE_DLT_IPV6,
};

static struct sensor *sensor;
static int64_t clock_us = 1767225600000000LL;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
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
	int lt = linktypes[data[0] % (sizeof(linktypes) / sizeof(linktypes[0]))];
	size_t n = size - 1;
	uint8_t *frame = malloc(n ? n : 1);
	memcpy(frame, data + 1, n);
	struct packet p;
	if (decode_frame(lt, frame, n, &p) == DECODE_OK) {
		if (p.payload < frame || p.payload + p.payload_len > frame + n)
			abort();
		if (p.payload_len > p.wire_len && !p.fragment)
			abort();
	}
	clock_us += 1000;
	sensor_frame(sensor, lt, clock_us, frame, n);
	free(frame);
	return 0;
}
