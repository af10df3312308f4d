#!/usr/bin/env python3
"""seeds.py: add the frames of the capture files in tests/data/pcap/ to the
sensor fuzz targets' seed corpora in tests/data/fuzz/:

  fuzz_sensor_frame/pcap-FILE-N   one link-type index byte + the frame (the
                                  format of tests/fuzz/fuzz_sensor_frame.c),
                                  for every frame that carries a payload
  fuzz_sensor_quic/pcap-FILE-N    the UDP payload of datagrams to port 443
  fuzz_sensor_dns/pcap-FILE-N     DNS messages: UDP port 53 payloads, and DNS
                                  over TCP without its length prefix

usage: tests/data/pcap/seeds.py   (rewrites the pcap-* seeds only; the others
are written by tests/integration/sensor/make_seeds.py)
"""
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "sensor"))
import pcapgen as g  # noqa: E402

# the link-type table of tests/fuzz/fuzz_sensor_frame.c
INDEX = {1: 0, 113: 1, 276: 2, 0: 3, 108: 4, 12: 5, 101: 6, 228: 7, 229: 8}
FUZZ = os.path.join(ROOT, "tests", "data", "fuzz")
dirs = {t: os.path.join(FUZZ, "fuzz_sensor_" + t) for t in ("frame", "quic", "dns")}
for d in dirs.values():
    os.makedirs(d, exist_ok=True)
    for old in glob.glob(os.path.join(d, "pcap-*")):
        os.remove(old)

counts = dict.fromkeys(dirs, 0)
for path in sorted(glob.glob(os.path.join(HERE, "*.pcap")) + glob.glob(os.path.join(HERE, "*.pcapng"))):
    base = os.path.basename(path).rsplit(".", 1)[0]
    linktype, frames = g.read_capture(path)
    seen = set()
    for i, (_, frame) in enumerate(frames):
        l4 = g.udp_tcp_payload(linktype, frame)
        if l4 is not None and not l4[3] and not base.startswith("crafted-"):
            continue   # a bare ACK of a real capture: nothing new for the fuzzer
        out = {"frame": bytes([INDEX[linktype]]) + frame}
        if l4 is not None and l4[3]:
            proto, sport, dport, payload = l4
            if proto == 17 and dport == 443:
                out["quic"] = payload
            elif proto == 17 and 53 in (sport, dport):
                out["dns"] = payload
            elif proto == 6 and 53 in (sport, dport) and len(payload) > 2:
                out["dns"] = payload[2:]
        for t, data in out.items():
            if (t, data) in seen:
                continue
            seen.add((t, data))
            with open(os.path.join(dirs[t], "pcap-%s-%d" % (base, i)), "wb") as f:
                f.write(data)
            counts[t] += 1
print(", ".join("%d %s seeds" % (n, t) for t, n in counts.items()))
