#!/usr/bin/env python3
"""breaktime-sensor -r: the same names from every form of the same capture.

usage: test_sensor_reader.py BREAKTIME_SENSOR SOURCE_ROOT

The sensor reads classic pcap files (version 2.4, this machine's byte order)
itself in 4 MiB blocks and hands anything unusual back to libpcap at that
record; pcapng and the other byte order are libpcap's throughout. One
stream of 3,000 DNS queries (each a different name), each followed by a
1,400-byte datagram to a port the sensor ignores (4.4 MB: records straddle
the block boundary), is written as:

  pcap (microseconds), pcap (nanoseconds, with sub-microsecond digits),
  pcap in the other byte order, pcapng                 -> the same 3,000 lines
  pcap whose snapshot length (1500) one record exceeds  -> libpcap trims it:
                                                           the same lines
  pcap with a record cut off by the end of the file     -> the same lines,
                                                           then exit 1 and
                                                           libpcap's message
  pcap ending inside a record header                    -> likewise
Nothing touches the network.
"""
import datetime
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapgen as g  # noqa: E402

SENSOR, ROOT = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="bt-sensor-reader-")
T0 = 1767225600  # 2026-01-01T00:00:00Z
N = 3000

CONF = os.path.join(TMP, "sensor.conf")
with open(CONF, "w") as f:
    f.write("[proxy]\nlisten = 10.9.9.9:3128\n"
            "[store]\ndatabase = %s/bt.db\n"
            "[catalog]\nplatforms = %s/config/platforms.list\n" % (TMP, ROOT))

# (seconds, microseconds, frame); the big datagrams go to port 9999
FRAMES = []
filler = bytes(range(256)) * 6
for i in range(N):
    q = g.dns_query(i & 0xFFFF, "n%d.reader.example.org" % i)
    FRAMES.append((T0 + i // 100, (i % 100) * 10000 + 7,
                   g.ether(g.ipv4("10.0.0.5", "10.0.0.53", 17, g.udp(40000 + i % 1000, 53, q)))))
    FRAMES.append((T0 + i // 100, (i % 100) * 10000 + 8,
                   g.ether(g.ipv4("10.0.0.5", "192.0.2.9", 17, g.udp(40000, 9999, filler[:1400])))))


def pcap(path, endian="<", nano=False, snaplen=65535, oversize=None, tail=b""):
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, g.LINK_ETHERNET)]
    for k, (sec, usec, data) in enumerate(FRAMES):
        if k == oversize:
            data = data + bytes(1600)   # trailing bytes past the IP packet
        frac = usec * 1000 + 999 if nano else usec
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data)
    with open(path, "wb") as f:
        f.write(b"".join(out) + tail)


def pcapng(path):
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", g.LINK_ETHERNET, 0, 65535))]
    for sec, usec, data in FRAMES:
        t = sec * 1000000 + usec
        out.append(block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(data), len(data)) + data))
    with open(path, "wb") as f:
        f.write(b"".join(out))


def run(path):
    r = subprocess.run([SENSOR, "-c", CONF, "-r", path, "--json"], capture_output=True, text=True,
                       timeout=100)
    return r.returncode, r.stdout.splitlines(), r.stderr


def main():
    failures = []
    try:
        expect = []
        for i in range(N):
            sec, usec = T0 + i // 100, (i % 100) * 10000 + 7
            d = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc)
            expect.append((d.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % usec, "n%d.reader.example.org" % i))
        variants = {
            "pcap": dict(),
            "pcap-nano": dict(nano=True),
            "pcap-swapped": dict(endian="<" if sys.byteorder == "big" else ">"),
            "pcap-snaplen": dict(snaplen=1500, oversize=2 * 1500),
        }
        for name, kw in variants.items():
            path = os.path.join(TMP, name + ".pcap")
            pcap(path, **kw)
            variants[name] = path
        variants["pcapng"] = os.path.join(TMP, "pcapng.pcapng")
        pcapng(variants["pcapng"])
        trunc = struct.pack("=IIII", T0 + 99, 0, 500, 500) + bytes(100)
        for name, tail in (("pcap-cut-record", trunc), ("pcap-cut-header", b"\x01\x02\x03")):
            variants[name] = os.path.join(TMP, name + ".pcap")
            pcap(variants[name], tail=tail)

        for name, path in variants.items():
            rc, lines, err = run(path)
            got = []
            for ln in lines:
                o = json.loads(ln)
                got.append((o["time"], o["name"]))
            cut = name.startswith("pcap-cut")
            if got != expect:
                first = next((k for k in range(min(len(got), len(expect))) if got[k] != expect[k]),
                             min(len(got), len(expect)))
                failures.append("%s: %d lines, %d expected; first difference at %d: %s" % (
                    name, len(got), len(expect), first, got[first] if first < len(got) else None))
            if cut and (rc != 1 or "truncated dump file" not in err):
                failures.append("%s: exit %d, stderr %r (expected 1 and libpcap's message)" % (name, rc, err[-300:]))
            if not cut and rc != 0:
                failures.append("%s: exit %d: %s" % (name, rc, err[-300:]))
            if not cut and "frames %d," % (2 * N) not in err:
                failures.append("%s: not every frame counted: %s" % (name, err[-300:]))
            print("%s %s" % ("ok  " if not any(f.startswith(name + ":") for f in failures) else "FAIL", name))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
