#!/usr/bin/env python3
"""sensor_gen.py: capture files for bench/sensor.sh, and a CPU/RSS meter.

  sensor_gen.py mixed FILE [PACKETS]   mixed traffic of a busy site (default 3,000,000)
  sensor_gen.py flood FILE [PACKETS]   every packet a new flow (default 3,000,000)
  sensor_gen.py rusage OUT -- CMD ...  run CMD; write "user sys maxrss_kib wall rc" to OUT

Deterministic (fixed seeds): the same file on every machine. Frames are
built with struct around real payloads: the ClientHellos captured from
curl, openssl, wget and Chromium in tests/data/clienthello/ (with the SNI
rewritten to the flow's name), HTTP request heads, DNS queries and answers,
and QUIC v1 Initials sealed with the RFC 9001 keys (tests' pcapgen.py, which
needs the `cryptography` package; without it QUIC flows carry no Initial).

mixed: Ethernet, about 10,000 packets/s of capture time over ~3,000
concurrent flows. New flows are HTTPS over TCP (most; Chromium's 1.9 KB
hello is split over two segments), QUIC (two Initials, then 1-RTT packets),
plain HTTP, TCP to other ports (ssh, imaps, ...), other UDP (NTP, STUN
media), and DNS over UDP (and some over TCP) before half of the named flows.
Most packets are data segments of established flows and their ACKs; some
flows start mid-stream (no handshake seen); 30 % IPv6, 20 % of clients
behind an 802.1Q tag; a few ARP and ICMP frames. Server data segments are
full-sized (1448 bytes of TCP payload), so 3 M packets make ~2 GB.

flood: 1,000,000 packets/s of capture time, each from a new random client
address and port (10/8 and 2001:db8::/32), never seen again: TCP SYNs to
443, first halves of split ClientHellos (each would keep a reassembly
buffer), UDP 443 that looks like a QUIC Initial but is not sealed, and DNS
answers mapping random names to random addresses. Nothing ever idles out,
so the flow table stays full and evicts on every new flow.
"""
import os
import random
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "sensor"))
import pcapgen as g  # noqa: E402

T0 = 1767607200  # 2026-01-05 10:00:00 UTC, a Monday
FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16
C, S = 0, 1
MAC = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
TCP_OPTS = b"\x01\x01\x08\x0a" + b"\x00\x01\x02\x03\x00\x04\x05\x06"  # NOP NOP timestamps


def hello_record(name):
    with open(os.path.join(ROOT, "tests", "data", "clienthello", name + ".bin"), "rb") as f:
        return f.read()


def set_sni(record, name):
    """The TLS record with its server_name extension's name replaced (lengths fixed)."""
    hs = record[5:]
    body = hs[4:]
    p = 2 + 32
    p += 1 + body[p]
    p += 2 + struct.unpack_from("!H", body, p)[0]
    p += 1 + body[p]
    ext_start = p + 2
    exts, q = b"", ext_start
    end = ext_start + struct.unpack_from("!H", body, p)[0]
    while q < end:
        et, el = struct.unpack_from("!HH", body, q)
        data = body[q + 4:q + 4 + el]
        if et == 0:
            n = name.encode()
            data = struct.pack("!HBH", len(n) + 3, 0, len(n)) + n
        exts += struct.pack("!HH", et, len(data)) + data
        q += 4 + el
    body = body[:p] + struct.pack("!H", len(exts)) + exts
    hs = bytes([hs[0]]) + len(body).to_bytes(3, "big") + body
    return record[:3] + struct.pack("!H", len(hs)) + hs


def platform_names():
    """Names from the shipped catalog (www. and CDN-like prefixes)."""
    out = []
    with open(os.path.join(ROOT, "config", "platforms.list")) as f:
        for line in f:
            line = line.split("#")[0]
            if not line.strip():
                continue
            words = line.split()
            doms = words if line[0] in " \t" else words[2:]
            out.extend(d for d in doms if "." in d and not d[0].isdigit())
    return out


OTHER = ["www.wikipedia.org", "en.wikipedia.org", "www.bbc.co.uk", "www.gov.uk", "docs.python.org",
         "www.google.com", "fonts.gstatic.com", "update.microsoft.com", "www.example.com",
         "classroom.example-school.org", "cdn.jsdelivr.net", "api.github.com", "www.debian.org",
         "mail.example.org", "login.microsoftonline.com", "www.bing.com"]


class Writer:
    def __init__(self, path):
        self.f = open(path + ".tmp", "wb")
        self.path = path
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, g.LINK_ETHERNET))
        self.buf = []
        self.count = 0

    def frame(self, ts, data):
        sec = int(ts)
        self.buf.append(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(data), len(data)))
        self.buf.append(data)
        self.count += 1
        if len(self.buf) >= 20000:
            self.f.write(b"".join(self.buf))
            self.buf = []

    def close(self):
        self.f.write(b"".join(self.buf))
        self.f.close()
        os.rename(self.path + ".tmp", self.path)


class Endpoints:
    """One flow's two directions as byte templates: the link header, addresses, ports."""

    def __init__(self, v6, vlan, caddr, saddr, cport, sport, proto):
        self.v6, self.proto = v6, proto
        tag = struct.pack("!HH", 0x8100, vlan) if vlan else b""
        self.l2 = MAC + tag + (b"\x86\xdd" if v6 else b"\x08\x00")
        self.addr = (caddr, saddr)
        self.port = (cport, sport)
        self.seq = [0, 0]
        self.ident = 0

    def ip(self, d, l4):
        src, dst = self.addr[d], self.addr[1 - d]
        if self.v6:
            return self.l2 + struct.pack("!IHBB16s16s", 0x60000000, len(l4), self.proto, 64, src, dst) + l4
        self.ident = (self.ident + 1) & 0xFFFF
        return self.l2 + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), self.ident, 0x4000, 64,
                                     self.proto, 0, src, dst) + l4

    def tcp(self, d, flags, payload=b""):
        seq = self.seq[d]
        self.seq[d] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        l4 = struct.pack("!HHIIBBHHH", self.port[d], self.port[1 - d], seq, self.seq[1 - d], 0x80, flags,
                         502, 0, 0) + TCP_OPTS + payload
        return self.ip(d, l4)

    def udp(self, d, payload):
        return self.ip(d, struct.pack("!HHHH", self.port[d], self.port[1 - d], 8 + len(payload), 0) + payload)


def mixed(path, packets):
    rnd = random.Random(7)
    blob = rnd.randbytes(4096)
    social = platform_names()
    names = []
    for d in social:
        names.append(d)
        names.append("www." + d)
    names = [n for n in names if len(n) < 60]
    # a site's traffic: social names about 40 % of the named flows
    weighted = [(n, True) for n in names] + [(n, False) for n in OTHER] * (len(names) * 3 // (2 * len(OTHER)))
    hellos = [hello_record(h) for h in ("curl-default", "curl-tls12", "wget-gnutls", "openssl-tls12",
                                        "chromium", "chromium", "chromium", "chromium")]
    hello_cache = {}

    def hello_for(name):
        key = (name, rnd.randrange(len(hellos)))
        h = hello_cache.get(key)
        if h is None:
            h = hello_cache[key] = set_sni(hellos[key[1]], name)
        return h

    have_quic = True
    try:
        import cryptography  # noqa: F401
    except ImportError:
        have_quic = False
        sys.stderr.write("sensor_gen: no `cryptography` package: QUIC flows carry no Initial\n")
    quic_cache = {}

    def initials_for(name):
        """Chromium's hello (rewritten) as CRYPTO frames over two sealed v1 Initials."""
        r = quic_cache.get(name)
        if r is None:
            hs = set_sni(hellos[4], name)[5:]
            dcid = bytes(rnd.randrange(256) for _ in range(8))
            r = quic_cache[name] = [g.quic_initial(dcid, 0, g.crypto_frame(0, hs[:1100])),
                                    g.quic_initial(dcid, 1, g.crypto_frame(1100, hs[1100:]))]
        return r

    def server_addr(name, v6):
        h = zlib.crc32(name.encode()) & 0xFFFFFF
        if v6:
            return b"\x20\x01\x0d\xb8\xff\xff" + bytes(7) + h.to_bytes(3, "big")
        return bytes([198, 18 + (h >> 16) % 2, (h >> 8) & 0xFF, h & 0xFF])

    n_clients = 2000
    clients4 = [bytes([10, 50 + i // 250 % 4, i // 250 // 4, i % 250 + 1]) for i in range(n_clients)]
    clients6 = [b"\x20\x01\x0d\xb8\x00\x50" + bytes(6) + i.to_bytes(4, "big") for i in range(n_clients)]
    resolver4, resolver6 = bytes([10, 50, 255, 53]), b"\x20\x01\x0d\xb8\x00\x50" + bytes(9) + b"\x53"

    def flow_len():
        x = rnd.random()
        if x < 0.6:
            return rnd.randrange(1, 12)
        if x < 0.93:
            return rnd.randrange(12, 120)
        return rnd.randrange(120, 2500)

    def tcp_flow(e, first, n, handshake=True):
        if handshake:
            yield e.tcp(C, SYN)
            yield e.tcp(S, SYN | ACK)
            yield e.tcp(C, ACK)
        for seg in first:
            yield e.tcp(C, PSH | ACK, seg)
        yield e.tcp(S, ACK | PSH, blob[:1380])
        for i in range(n):
            yield e.tcp(S, ACK, blob[i % 1000:i % 1000 + 1448])
            if i & 1:
                yield e.tcp(C, ACK)
            if rnd.random() < 0.04:
                yield e.tcp(C, ACK | PSH, blob[:rnd.randrange(40, 600)])
        yield e.tcp(C, FIN | ACK)
        yield e.tcp(S, FIN | ACK)
        yield e.tcp(C, ACK)

    def quic_flow(e, name, n):
        if have_quic:
            for p in initials_for(name):
                yield e.udp(C, p)
        yield e.udp(S, b"\xc1\x00\x00\x00\x01" + blob[:1195])
        yield e.udp(S, b"\xe1\x00\x00\x00\x01" + blob[:1000])
        for i in range(n):
            yield e.udp(S, b"\x41" + blob[i % 1000:i % 1000 + 1251])
            if i & 1:
                yield e.udp(C, b"\x41" + blob[i % 900:i % 900 + 38])

    def dns_pair(e, name, addr, tcp):
        qid = rnd.randrange(65536)
        q = g.dns_query(qid, name, 28 if len(addr) == 16 else 1)
        a = g.dns_answer(qid, name, addrs=[], qtype=28 if len(addr) == 16 else 1)
        # one A/AAAA record for the server's address
        rr = b"\xc0\x0c" + struct.pack("!HHIH", 28 if len(addr) == 16 else 1, 1, 300, len(addr)) + addr
        a = a[:6] + b"\x00\x01" + a[8:] + rr
        if not tcp:
            yield e.udp(C, q)
            yield e.udp(S, a)
            return
        yield e.tcp(C, SYN)
        yield e.tcp(S, SYN | ACK)
        yield e.tcp(C, ACK)
        yield e.tcp(C, PSH | ACK, struct.pack("!H", len(q)) + q)
        yield e.tcp(S, PSH | ACK, struct.pack("!H", len(a)) + a)
        yield e.tcp(C, FIN | ACK)
        yield e.tcp(S, FIN | ACK)

    def other_flow(e, n, udp):
        for i in range(n):
            if udp:
                yield e.udp(C, blob[i % 700:i % 700 + 160])
                yield e.udp(S, blob[i % 900:i % 900 + 160])
            else:
                yield e.tcp(S, ACK | PSH, blob[i % 1000:i % 1000 + rnd.choice((120, 1448))])
                yield e.tcp(C, ACK | PSH, blob[:rnd.randrange(40, 200)])

    def new_flow():
        """A generator of frames for one new connection (with its DNS lookup, sometimes)."""
        ci = rnd.randrange(n_clients)
        v6 = rnd.random() < 0.3
        vlan = 10 + ci % 2 if ci % 5 == 0 else 0
        caddr = clients6[ci] if v6 else clients4[ci]
        cport = rnd.randrange(32768, 61000)
        x = rnd.random()
        name, _ = rnd.choice(weighted)
        saddr = server_addr(name, v6)
        if x < 0.62:
            kind, sport, proto = "tls", 443, 6
        elif x < 0.77:
            kind, sport, proto = "quic", 443, 17
        elif x < 0.83:
            kind, sport, proto = "http", 80, 6
        elif x < 0.93:
            kind, sport, proto = "other-tcp", rnd.choice((22, 993, 5228, 8080, 3389)), 6
        else:
            kind, sport, proto = "other-udp", rnd.choice((123, 3478, 19302, 51820)), 17
        e = Endpoints(v6, vlan, caddr, saddr, cport, sport, proto)
        e.seq = [rnd.randrange(1 << 32), rnd.randrange(1 << 32)]
        n = flow_len()

        def gen():
            if kind in ("tls", "quic", "http") and rnd.random() < 0.5:
                r = Endpoints(v6, vlan, caddr, resolver6 if v6 else resolver4, rnd.randrange(32768, 61000),
                              53, 6 if rnd.random() < 0.03 else 17)
                yield from dns_pair(r, name, saddr, r.proto == 6)
            if kind == "tls":
                h = hello_for(name)
                segs = [h[:1448], h[1448:]] if len(h) > 1448 else [h]
                # some connections were open before the capture started
                yield from tcp_flow(e, segs, n, handshake=rnd.random() >= 0.05)
            elif kind == "quic":
                yield from quic_flow(e, name, n)
            elif kind == "http":
                yield from tcp_flow(e, [g.http_request(name, "/%d" % rnd.randrange(10 ** 6))], n)
            else:
                yield from other_flow(e, n, proto == 17)
        return gen()

    w = Writer(path)
    active = [new_flow() for _ in range(3000)]
    ts = float(T0)
    misc = Endpoints(False, 0, clients4[0], bytes([10, 50, 255, 1]), 0, 0, 1)
    arp = MAC[:6] + b"\xff" * 0 + MAC[6:] + b"\x08\x06" + bytes(28)
    while w.count < packets:
        ts += rnd.expovariate(10000.0)
        if rnd.random() < 0.002:
            w.frame(ts, arp if rnd.random() < 0.5 else misc.ip(C, b"\x08\x00" + blob[:62]))
            continue
        i = rnd.randrange(len(active))
        try:
            w.frame(ts, next(active[i]))
        except StopIteration:
            active[i] = new_flow()
    w.close()


def flood(path, packets):
    rnd = random.Random(11)
    chromium = set_sni(hello_record("chromium"), "www.instagram.com")
    half = chromium[:700]
    w = Writer(path)
    ts = float(T0)
    for i in range(packets):
        ts += 1e-6
        v6 = i % 4 == 3
        if v6:
            caddr = b"\x20\x01\x0d\xb8" + rnd.randbytes(12)
            saddr = b"\x20\x01\x0d\xb8\xff\xff" + rnd.randbytes(10)
        else:
            caddr = bytes([10]) + rnd.randbytes(3)
            saddr = rnd.randbytes(4)
        x = i % 10
        cport = rnd.randrange(1024, 65536)
        if x < 4:
            e = Endpoints(v6, 0, caddr, saddr, cport, 443, 6)
            e.seq = [rnd.randrange(1 << 32), 0]
            w.frame(ts, e.tcp(C, SYN))
        elif x < 7:
            e = Endpoints(v6, 0, caddr, saddr, cport, 443, 6)
            e.seq = [rnd.randrange(1 << 32), 0]
            w.frame(ts, e.tcp(C, PSH | ACK, half))
        elif x < 9:
            e = Endpoints(v6, 0, caddr, saddr, cport, 443, 17)
            dcid = rnd.randbytes(8)
            w.frame(ts, e.udp(C, b"\xc3\x00\x00\x00\x01\x08" + dcid + b"\x00\x00" +
                              struct.pack("!H", 0x4000 | 1180) + rnd.randbytes(1180)))
        else:
            e = Endpoints(v6, 0, saddr, caddr, 53, cport, 17)
            name = "n%d.flood-%d.example" % (i, rnd.randrange(1000))
            a = g.dns_answer(i & 0xFFFF, name, addrs=[])
            rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + rnd.randbytes(4)
            a = a[:6] + b"\x00\x01" + a[8:] + rr
            w.frame(ts, e.udp(C, a))
    w.close()


def rusage(out, argv):
    t = time.monotonic()
    p = subprocess.Popen(argv)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    rc = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        f.write("%.3f %.3f %d %.3f %d\n" % (ru.ru_utime, ru.ru_stime, ru.ru_maxrss, wall, rc))
    return rc


def main():
    a = sys.argv[1:]
    if len(a) >= 2 and a[0] in ("mixed", "flood"):
        n = int(a[2]) if len(a) > 2 else 3000000
        (mixed if a[0] == "mixed" else flood)(a[1], n)
        return 0
    if len(a) >= 4 and a[0] == "rusage" and a[2] == "--":
        return rusage(a[1], a[3:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
