#!/usr/bin/env python3
"""breaktime-sensor on crafted capture files: the exact --json lines, and the
rows it writes to the store without --json.

usage: test_sensor_files.py BREAKTIME_SENSOR SOURCE_ROOT [BREAKTIME]

Every capture is generated here (pcapgen.py) from real payloads: the
ClientHellos in tests/data/clienthello/ (captured from curl, openssl and
Chromium), the RFC 9001 Appendix A.2 client Initial, DNS and HTTP messages.
Loopback-free: nothing is sent anywhere.
"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapgen as g  # noqa: E402

SENSOR, ROOT = sys.argv[1], sys.argv[2]
BREAKTIME = sys.argv[3] if len(sys.argv) > 3 else None   # for `breaktime report`
DATA = os.path.join(ROOT, "tests", "data")
TMP = tempfile.mkdtemp(prefix="bt-sensor-")
T0 = 1767225600.0  # 2026-01-01T00:00:00Z

try:
    import cryptography  # noqa: F401
    HAVE_CRYPTO = True
except ImportError:
    HAVE_CRYPTO = False


def hello(name):
    with open(os.path.join(DATA, "clienthello", name + ".bin"), "rb") as f:
        return f.read()


def rfc_initial():
    with open(os.path.join(DATA, "pcap", "rfc9001-a2-client-initial.hex")) as f:
        return bytes.fromhex(f.read().replace("\n", ""))


CONF = os.path.join(TMP, "sensor.conf")
with open(CONF, "w") as f:
    f.write("[proxy]\nlisten = 10.9.9.9:3128\n"
            "[store]\ndatabase = %s/bt.db\n"
            "[catalog]\nplatforms = %s/config/platforms.list\n"
            "[presence]\ndetect_subnets = 10.50.0.0/24\n"
            "[auth]\ndevices = %s/devices\n" % (TMP, ROOT, TMP))
with open(os.path.join(TMP, "devices"), "w") as f:
    f.write("# the shared laptop\n10.50.0.8/29 bob\n10.50.0.9/32 alice\n")


def line(t, client, server, proto, name, platform, ech=False, flag=None):
    return {"time": t, "client": client, "server": server, "protocol": proto, "name": name,
            "platform": platform, "ech": ech, "flag": flag}


def ts(sec):
    import datetime
    d = datetime.datetime.fromtimestamp(T0 + sec, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % d.microsecond


def tcp4(src, dst, sport, dport, seq, flags, payload=b""):
    return g.ipv4(src, dst, 6, g.tcp(sport, dport, seq, flags, payload))


def tcp6(src, dst, sport, dport, seq, flags, payload=b"", ext=()):
    return g.ipv6(src, dst, 6, g.tcp(sport, dport, seq, flags, payload), ext=ext)


CASES = []


ARGS = {}


def case(name, linktype, frames, expect, fmt="pcap", snaplen=65535, needs_crypto=False, args=()):
    CASES.append((name, linktype, frames, expect, fmt, snaplen, needs_crypto))
    ARGS[name] = list(args)


# 1. DNS over UDP, IPv4 in Ethernet: the query is a name; the answer is not printed
q = g.dns_query(0x1234, "www.facebook.com")
a = g.dns_answer(0x1234, "www.facebook.com", cname="star-mini.c10r.facebook.com", addrs=["157.240.1.35"])
case("dns-udp-ethernet", g.LINK_ETHERNET, [
    (T0 + 0.5, g.ether(g.ipv4("10.0.0.5", "10.0.0.53", 17, g.udp(40000, 53, q)))),
    (T0 + 0.6, g.ether(g.ipv4("10.0.0.53", "10.0.0.5", 17, g.udp(53, 40000, a)))),
], [line(ts(0.5), "10.0.0.5", "10.0.0.53", "dns", "www.facebook.com", "facebook")])

# 2. DNS over TCP, IPv6, and an AAAA question for a name nobody lists
q6 = g.dns_query(7, "Example.ORG.", qtype=28)
case("dns-tcp-ipv6", g.LINK_ETHERNET, [
    (T0 + 1, g.ether(tcp6("2001:db8::5", "2001:db8::53", 40001, 53, 100, "S"), v6=True)),
    (T0 + 1.1, g.ether(tcp6("2001:db8::5", "2001:db8::53", 40001, 53, 101, "PA",
                            len(q6).to_bytes(2, "big") + q6), v6=True)),
], [line(ts(1.1), "2001:db8::5", "2001:db8::53", "dns", "example.org", None)])

# 3. HTTP Host behind 802.1ad + 802.1Q tags
req = g.http_request("WWW.Facebook.com:80", "/home")
case("http-qinq", g.LINK_ETHERNET, [
    (T0 + 2, g.ether(tcp4("10.0.0.6", "157.240.1.35", 41000, 80, 5000, "S"), vlans=[(0x88A8, 100), (0x8100, 20)])),
    (T0 + 2.1, g.ether(tcp4("10.0.0.6", "157.240.1.35", 41000, 80, 5001, "PA", req),
                       vlans=[(0x88A8, 100), (0x8100, 20)])),
], [line(ts(2.1), "10.0.0.6", "157.240.1.35", "http", "www.facebook.com", "facebook")])

# 4. A TLS 1.2 ClientHello (openssl s_client) split over two segments, Linux cooked v1
h = hello("openssl-tls12")
case("tls-split-sll", g.LINK_SLL, [
    (T0 + 3, g.sll(tcp4("10.0.0.7", "157.240.1.35", 42000, 443, 1000, "S"))),
    (T0 + 3.1, g.sll(tcp4("10.0.0.7", "157.240.1.35", 42000, 443, 1001, "PA", h[:60]))),
    (T0 + 3.2, g.sll(tcp4("157.240.1.35", "10.0.0.7", 443, 42000, 9000, "A"))),
    (T0 + 3.3, g.sll(tcp4("10.0.0.7", "157.240.1.35", 42000, 443, 1061, "PA", h[60:]))),
], [line(ts(3.3), "10.0.0.7", "157.240.1.35", "tls", "www.facebook.com", "facebook")])

# 5. Chromium's ClientHello (with ECH) in three segments out of order, IPv6 with
#    a hop-by-hop header, Linux cooked v2; a retransmission overlaps
h = hello("chromium")
c6, s6 = "2001:db8::7", "2001:db8::443"
hop = [(0, g.hopopts())]
case("tls-ech-sll2-reordered", g.LINK_SLL2, [
    (T0 + 4, g.sll2(tcp6(c6, s6, 43000, 443, 70000, "S", ext=hop), v6=True)),
    (T0 + 4.1, g.sll2(tcp6(c6, s6, 43000, 443, 70001 + 1400, "PA", h[1400:], ext=hop), v6=True)),
    (T0 + 4.2, g.sll2(tcp6(c6, s6, 43000, 443, 70001 + 700, "PA", h[700:1400], ext=hop), v6=True)),
    (T0 + 4.3, g.sll2(tcp6(c6, s6, 43000, 443, 70001 + 600, "PA", h[600:1000], ext=hop), v6=True)),
    (T0 + 4.4, g.sll2(tcp6(c6, s6, 43000, 443, 70001, "PA", h[:700], ext=hop), v6=True)),
], [line(ts(4.4), c6, s6, "tls", "www.example.com", None, True)])

# 6. The RFC 9001 A.2 client Initial, raw IP
case("quic-rfc9001-raw", g.LINK_RAW, [
    (T0 + 5, g.ipv4("10.0.0.8", "192.0.2.10", 17, g.udp(50000, 443, rfc_initial()))),
], [line(ts(5), "10.0.0.8", "192.0.2.10", "quic", "example.com", None)])

# 7. Chromium's hello over two QUIC v1 Initials (CRYPTO frames by offset,
#    second packet first), BSD loopback, IPv6
if HAVE_CRYPTO:
    hs = hello("chromium")[5:]
    dcid = bytes.fromhex("0102030405060708")
    p1 = g.quic_initial(dcid, 0, b"\x01" + g.crypto_frame(0, hs[:1100]))
    p2 = g.quic_initial(dcid, 1, b"\x02\x00\x00\x00\x00" + g.crypto_frame(1100, hs[1100:]))
    case("quic-two-initials-null", g.LINK_NULL, [
        (T0 + 6, g.null(g.ipv6("2001:db8::8", "2001:db8::4433", 17, g.udp(50001, 443, p2)), v6=True)),
        (T0 + 6.1, g.null(g.ipv6("2001:db8::8", "2001:db8::4433", 17, g.udp(50001, 443, p1)), v6=True)),
    ], [line(ts(6.1), "2001:db8::8", "2001:db8::4433", "quic", "www.example.com", None, True)],
        needs_crypto=True)
    # 7b. After a Retry the client's Initials carry a new DCID and use keys
    #     derived from it: the hello's second half is found under those
    p1 = g.quic_initial(dcid, 0, g.crypto_frame(0, hs[:1100]))
    p2 = g.quic_initial(bytes.fromhex("99887766554433221100"), 1, g.crypto_frame(1100, hs[1100:]))
    case("quic-new-dcid", g.LINK_ETHERNET, [
        (T0 + 6.5, g.ether(g.ipv4("10.0.0.8", "192.0.2.44", 17, g.udp(50009, 443, p1)))),
        (T0 + 6.6, g.ether(g.ipv4("10.0.0.8", "192.0.2.44", 17, g.udp(50009, 443, p2)))),
    ], [line(ts(6.6), "10.0.0.8", "192.0.2.44", "quic", "www.example.com", None, True)],
        needs_crypto=True)
    # 8. QUIC v2 (RFC 9369), one Initial with openssl's hello for www.instagram.com? no: facebook
    hs = hello("openssl-tls12")[5:]
    p = g.quic_initial(bytes.fromhex("aabbccdd"), 0, g.crypto_frame(0, hs), version=0x6B3343CF)
    case("quic-v2", g.LINK_ETHERNET, [
        (T0 + 7, g.ether(g.ipv4("10.0.0.9", "157.240.1.35", 17, g.udp(50002, 443, p)))),
    ], [line(ts(7), "10.0.0.9", "157.240.1.35", "quic", "www.facebook.com", "facebook")],
        needs_crypto=True)

# 9. A small snaplen: nothing can be read, nothing is invented
h = hello("openssl-tls12")
case("truncated-snaplen", g.LINK_ETHERNET, [
    (T0 + 8, g.ether(tcp4("10.0.0.10", "157.240.1.35", 44000, 443, 1, "PA", h))),
    (T0 + 8.1, g.ether(tcp4("10.0.0.10", "157.240.1.35", 44001, 80, 1, "PA", req))),
    (T0 + 8.2, g.ether(g.ipv4("10.0.0.10", "10.0.0.53", 17, g.udp(40002, 53, q)))),
    (T0 + 8.3, g.ether(g.ipv4("10.0.0.10", "192.0.2.10", 17, g.udp(50003, 443, rfc_initial())))),
], [], snaplen=60)

# 10. IP fragments, reassembled (ipfrag.c): a DNS query over IPv4 in two
#     fragments, the second first; one over IPv6 in three, out of order, with
#     a repeat; a datagram whose fragments overlap with different bytes is
#     dropped, its last fragment then completes nothing; a first fragment
#     whose rest never comes names nothing (it is not read on its own)
q2 = g.dns_query(9, "www.instagram.com")
u = g.udp(40003, 53, q2)
q3 = g.dns_query(10, "www.tumblr.com")
u3 = g.udp(40004, 53, q3)
q4 = g.dns_query(11, "www.tiktok.com")
u4 = g.udp(40005, 53, q4)
u5 = g.udp(40006, 53, g.dns_query(12, "www.facebook.com"))


def frag6(payload, off, more, ident):
    return g.ether(g.ipv6("2001:db8::11", "2001:db8::53", 17, payload,
                          ext=[(44, g.fragment_hdr(off // 8, more, ident=ident))]), v6=True)


case("fragments", g.LINK_ETHERNET, [
    (T0 + 9, g.ether(g.ipv4("10.0.0.11", "10.0.0.53", 17, u[24:], frag=3, ident=21))),
    (T0 + 9.1, g.ether(g.ipv4("10.0.0.11", "10.0.0.53", 17, u[:24], mf=True, ident=21))),
    (T0 + 9.2, frag6(u3[32:], 32, False, 30)),
    (T0 + 9.3, frag6(u3[:16], 0, True, 30)),
    (T0 + 9.35, frag6(u3[:16], 0, True, 30)),
    (T0 + 9.4, frag6(u3[16:32], 16, True, 30)),
    (T0 + 9.5, g.ether(g.ipv4("10.0.0.11", "10.0.0.53", 17, u4[:16], mf=True, ident=22))),
    (T0 + 9.6, g.ether(g.ipv4("10.0.0.11", "10.0.0.53", 17, b"\xee" * 8, mf=True, frag=1, ident=22))),
    (T0 + 9.7, g.ether(g.ipv4("10.0.0.11", "10.0.0.53", 17, u4[16:], frag=2, ident=22))),
    (T0 + 9.8, g.ether(g.ipv4("10.0.0.11", "10.0.0.53", 17, u5[:32], mf=True, ident=23))),
], [line(ts(9.1), "10.0.0.11", "10.0.0.53", "dns", "www.instagram.com", "instagram"),
    line(ts(9.4), "2001:db8::11", "2001:db8::53", "dns", "www.tumblr.com", "tumblr")])

# 11. pcapng, the same HTTP request without tags
case("http-pcapng", g.LINK_ETHERNET, [
    (T0 + 10.25, g.ether(tcp4("10.0.0.12", "157.240.1.35", 45000, 80, 1, "PA", g.http_request("m.facebook.com")))),
], [line(ts(10.25), "10.0.0.12", "157.240.1.35", "http", "m.facebook.com", "facebook")], fmt="pcapng")

# 12. The proxy's own traffic: clients to it, and it to the origins
case("proxy-excluded", g.LINK_ETHERNET, [
    (T0 + 11, g.ether(tcp4("10.0.0.13", "10.9.9.9", 46000, 80, 1, "PA", g.http_request("www.facebook.com")))),
    (T0 + 11.1, g.ether(tcp4("10.9.9.9", "157.240.1.35", 46001, 443, 1, "PA", hello("openssl-tls12")))),
], [])

# 13. Malformed lengths: IP total length shorter than its header, TCP data
#     offset past the packet, UDP length 3, a DNS pointer loop; IPv6 in an
#     unknown ethertype; nothing printed, nothing read past the capture
loop = bytes.fromhex("abcd01000001000000000000") + b"\xc0\x0c" + b"\x00\x01\x00\x01"
bad_ip = bytearray(tcp4("10.0.0.14", "157.240.1.35", 47000, 80, 1, "PA", req))
bad_ip[2:4] = (12).to_bytes(2, "big")
bad_tcp = bytearray(tcp4("10.0.0.14", "157.240.1.35", 47001, 80, 1, "PA", b"GET"))
bad_tcp[20 + 12] = 0xF0
case("malformed", g.LINK_ETHERNET, [
    (T0 + 12, g.ether(bytes(bad_ip))),
    (T0 + 12.1, g.ether(bytes(bad_tcp))),
    (T0 + 12.2, g.ether(g.ipv4("10.0.0.14", "10.0.0.53", 17, g.udp(40005, 53, q, length=3)))),
    (T0 + 12.3, g.ether(g.ipv4("10.0.0.14", "10.0.0.53", 17, g.udp(40006, 53, loop)))),
    (T0 + 12.4, g.ether(b"\x00" * 20)[:14] + b"\x60" * 30),
], [])

# 14. A flow table of two: six interleaved split ClientHellos evict one
#     another; whatever is evicted before its hello completes stays unnamed,
#     nothing is named twice or wrongly
h = hello("openssl-tls12")
frames, expect = [], []
for i in range(6):
    frames.append((T0 + 13 + i * 0.01, g.ether(tcp4("10.0.1.%d" % i, "157.240.1.35", 48000, 443, 1, "PA", h[:50]))))
for i in range(6):
    frames.append((T0 + 14 + i * 0.01, g.ether(tcp4("10.0.1.%d" % i, "157.240.1.35", 48000, 443, 51, "PA", h[50:]))))
frames.append((T0 + 15, g.ether(tcp4("10.0.1.9", "157.240.1.35", 48000, 443, 1, "PA", h))))
case("flow-limit", g.LINK_ETHERNET, frames,
     [line(ts(15), "10.0.1.9", "157.240.1.35", "tls", "www.facebook.com", "facebook")], args=["--max-flows", "2"])

# 15. DNS over TCP as a stream: a query split over three segments (inside the
#     length and inside the name), then two queries in one segment, a
#     retransmission of it (nothing twice), and a third query whose length
#     is in one segment and its body in the next
qa = g.dns_query(21, "www.tiktok.com")
qb = g.dns_query(22, "www.instagram.com")
qc = g.dns_query(23, "Example.NET")
qd = g.dns_query(24, "x.com")
sa = len(qa).to_bytes(2, "big") + qa
two = len(qb).to_bytes(2, "big") + qb + len(qc).to_bytes(2, "big") + qc
cl, sv = "10.0.0.15", "10.0.0.53"
seq = 5001
frames = [(T0 + 16, g.ether(tcp4(cl, sv, 40015, 53, 5000, "S"))),
          (T0 + 16.1, g.ether(tcp4(cl, sv, 40015, 53, seq, "PA", sa[:1]))),
          (T0 + 16.2, g.ether(tcp4(cl, sv, 40015, 53, seq + 1, "PA", sa[1:9]))),
          (T0 + 16.3, g.ether(tcp4(cl, sv, 40015, 53, seq + 9, "PA", sa[9:])))]
seq += len(sa)
frames += [(T0 + 16.4, g.ether(tcp4(cl, sv, 40015, 53, seq, "PA", two))),
           (T0 + 16.5, g.ether(tcp4(cl, sv, 40015, 53, seq, "PA", two)))]
seq += len(two)
frames += [(T0 + 16.6, g.ether(tcp4(cl, sv, 40015, 53, seq, "PA", len(qd).to_bytes(2, "big")))),
           (T0 + 16.7, g.ether(tcp4(cl, sv, 40015, 53, seq + 2, "PA", qd)))]
case("dns-tcp-stream", g.LINK_ETHERNET, frames, [
    line(ts(16.3), cl, sv, "dns", "www.tiktok.com", "tiktok"),
    line(ts(16.4), cl, sv, "dns", "www.instagram.com", "instagram"),
    line(ts(16.4), cl, sv, "dns", "example.net", None),
    line(ts(16.7), cl, sv, "dns", "x.com", "x"),
])

# 16. DNS over TCP: a message longer than the sensor keeps (16 KiB) is
#     passed over by its length, and the query after it in the same stream is
#     still read
big = g.dns_query(25, "a" * 60 + ".example.com") + b"\x00" * 17000
qe = g.dns_query(26, "www.facebook.com")
stream = len(big).to_bytes(2, "big") + big + len(qe).to_bytes(2, "big") + qe
frames = [(T0 + 17, g.ether(tcp4("10.0.0.16", sv, 40016, 53, 1, "S")))]
for i in range(0, len(stream), 1400):
    frames.append((T0 + 17.1 + i / 100000, g.ether(tcp4("10.0.0.16", sv, 40016, 53, 2 + i, "PA", stream[i:i + 1400]))))
case("dns-tcp-oversized", g.LINK_ETHERNET, frames, [
    line(ts(frames[-1][0] - T0), "10.0.0.16", sv, "dns", "www.facebook.com", "facebook"),
])


# 17. Flags: a DNS question for a DoH resolver's name, a TLS hello to a DoH
#     resolver (its name a subdomain of a listed one), VPN ports (WireGuard,
#     PPTP, IKE from 500 to 500 with its reply: one client, not two, and
#     OpenVPN over UDP); a name that merely ends like a listed one is not
#     flagged
doh_hello = hello("openssl-tls12").replace(b"www.facebook.com", b"a.dns.nextdns.io")
not_doh = hello("openssl-tls12").replace(b"www.facebook.com", b"xdns.nextdns.io.")
wg_init = b"\x01\x00\x00\x00" + bytes(144)
case("doh-vpn", g.LINK_ETHERNET, [
    (T0 + 20, g.ether(g.ipv4("10.0.0.20", "10.0.0.53", 17, g.udp(40020, 53, g.dns_query(31, "dns.google"))))),
    (T0 + 20.1, g.ether(tcp4("10.0.0.20", "45.90.28.1", 42020, 443, 1, "PA", doh_hello))),
    (T0 + 20.2, g.ether(tcp4("10.0.0.20", "192.0.2.30", 42021, 443, 1, "PA", not_doh))),
    (T0 + 20.3, g.ether(g.ipv4("10.0.0.20", "198.51.100.7", 17, g.udp(40021, 51820, wg_init)))),
    (T0 + 20.4, g.ether(g.ipv4("198.51.100.7", "10.0.0.20", 17, g.udp(51820, 40021, bytes(92))))),
    (T0 + 20.5, g.ether(tcp4("10.0.0.20", "198.51.100.8", 42022, 1723, 1, "S"))),
    (T0 + 20.6, g.ether(g.ipv4("10.0.0.20", "198.51.100.9", 17, g.udp(500, 500, bytes(300))))),
    (T0 + 20.7, g.ether(g.ipv4("198.51.100.9", "10.0.0.20", 17, g.udp(500, 500, bytes(300))))),
    (T0 + 20.8, g.ether(g.ipv4("10.0.0.20", "198.51.100.10", 17, g.udp(40022, 1194, bytes(50))))),
], [
    line(ts(20), "10.0.0.20", "10.0.0.53", "dns", "dns.google", None, flag="doh"),
    line(ts(20.1), "10.0.0.20", "45.90.28.1", "tls", "a.dns.nextdns.io", None, flag="doh"),
    line(ts(20.2), "10.0.0.20", "192.0.2.30", "tls", "xdns.nextdns.io", None),
    line(ts(20.3), "10.0.0.20", "198.51.100.7", "udp", "wireguard", None, flag="vpn"),
    line(ts(20.5), "10.0.0.20", "198.51.100.8", "tcp", "pptp", None, flag="vpn"),
    line(ts(20.6), "10.0.0.20", "198.51.100.9", "udp", "ike", None, flag="vpn"),
    line(ts(20.8), "10.0.0.20", "198.51.100.10", "udp", "openvpn", None, flag="vpn"),
])


def run_case(c):
    name, linktype, frames, expect, fmt, snaplen, needs_crypto = c
    path = os.path.join(TMP, name + "." + fmt)
    (g.write_pcapng if fmt == "pcapng" else g.write_pcap)(path, linktype, frames, snaplen)
    r = subprocess.run([SENSOR, "-c", CONF, "-r", path, "--json"] + ARGS[name], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        return "exit %d: %s" % (r.returncode, r.stderr.strip())
    got = [json.loads(x) for x in r.stdout.splitlines()]
    if got != expect:
        return "expected %s\n     got %s" % (json.dumps(expect), json.dumps(got))
    return None


def test_store():
    """Without --json: a bypass record for the social flows (one named by
    its SNI, one only by the DNS answer before it), nothing for the rest,
    and a presence detection for the student subnet."""
    db = os.path.join(TMP, "bt.db")
    h = hello("openssl-tls12")
    a = g.dns_answer(1, "www.instagram.com", addrs=["157.240.1.174"])
    frames = [
        (T0 + 0, g.ether(g.ipv4("10.0.0.53", "10.50.0.7", 17, g.udp(53, 40000, a)))),
        (T0 + 1, g.ether(tcp4("10.50.0.7", "157.240.1.35", 42000, 443, 1000, "S"))),
        (T0 + 1.1, g.ether(tcp4("10.50.0.7", "157.240.1.35", 42000, 443, 1001, "PA", h))),
        (T0 + 1.2, g.ether(tcp4("157.240.1.35", "10.50.0.7", 443, 42000, 1, "PA", b"x" * 1000))),
        (T0 + 70, g.ether(tcp4("157.240.1.35", "10.50.0.7", 443, 42000, 1001, "PA", b"y" * 500))),
        (T0 + 71, g.ether(tcp4("10.50.0.7", "157.240.1.35", 42000, 443, 1001 + len(h), "FA"))),
        (T0 + 72, g.ether(tcp4("10.50.0.7", "157.240.1.174", 42001, 443, 5, "S"))),
        (T0 + 72.1, g.ether(tcp4("10.50.0.7", "157.240.1.174", 42001, 443, 6, "PA", hello("openssl-noservername")))),
        (T0 + 73, g.ether(tcp4("10.50.0.8", "192.0.2.80", 42002, 443, 6, "PA", hello("curl-default")))),
        # ECH: the outer name (www.example.com) is not listed; DNS said facebook
        (T0 + 73.5, g.ether(g.ipv4("10.0.0.53", "10.50.0.9", 17,
                                   g.udp(53, 40001, g.dns_answer(2, "www.facebook.com", addrs=["157.240.1.50"]))))),
        (T0 + 74, g.ether(tcp4("10.50.0.9", "157.240.1.50", 42003, 443, 6, "PA", hello("chromium")))),
    ]
    path = os.path.join(TMP, "store.pcap")
    g.write_pcap(path, g.LINK_ETHERNET, frames)
    r = subprocess.run([SENSOR, "-c", CONF, "-r", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "exit %d: %s" % (r.returncode, r.stderr)
    con = sqlite3.connect(db)
    users = con.execute("SELECT user, grp FROM events ORDER BY ts_ms").fetchall()
    if users != [("10.50.0.7", "guests"), ("10.50.0.7", "guests"), ("alice", "guests")]:
        return "users: %s" % (users,)
    rows = con.execute("SELECT kind, source, client, method, host, port, sni, platform, reason, close,"
                       " bytes_up, bytes_down, duration_ms FROM events ORDER BY ts_ms").fetchall()
    want = [
        ("tunnel", "sensor", "10.50.0.7", "TLS", "www.facebook.com", 443, "www.facebook.com",
         "facebook", "bypass", "sensor", 40 + 40 + len(h) + 40, 1040 + 540, 70000),
        ("tunnel", "sensor", "10.50.0.7", "TCP", "www.instagram.com", 443, None,
         "instagram", "bypass", "sensor", 40 + 40 + len(hello("openssl-noservername")), 0, 100),
        ("tunnel", "sensor", "10.50.0.9", "TCP", "www.facebook.com", 443, None,
         "facebook", "bypass", "sensor", 40 + len(hello("chromium")), 0, 0),
    ]
    if rows != want:
        return "events: expected %s\n got %s" % (want, rows)
    minutes = con.execute("SELECT platform, minute, source FROM usage_minutes ORDER BY platform, minute").fetchall()
    if [m[0] for m in minutes] != ["facebook", "facebook", "facebook", "instagram"] or any(m[2] != "sensor" for m in minutes):
        return "usage_minutes: %s" % (minutes,)
    pres = con.execute("SELECT state, cause, source FROM presence").fetchall()
    if pres != [("detected", "10.50.0.7 (guests, sensor)", "sensor")]:
        return "presence: %s" % (pres,)
    return None


def test_sessions():
    """Attribution through the proxy's recent authenticated sessions: the
    store's sessions table (as breaktimed's writer keeps it; the writer's
    side is tests/unit/test_sensor_sessions.c) says alice used the proxy
    from 10.0.0.5 until a minute before the capture, bob from 10.0.0.6 until
    two hours before, carol from 10.50.0.9, which the device map says is
    alice's, dave from 10.0.0.8 only hours *after* the capture; nobody from
    10.0.0.7. The sensor's rows are attributed to alice, to the address, to
    the address, to alice (the device map wins) and to the address."""
    db = os.path.join(TMP, "sessions.db")
    conf = os.path.join(TMP, "sessions.conf")
    with open(conf, "w") as f:
        f.write("[proxy]\nlisten = 10.9.9.9:3128\n"
                "[store]\ndatabase = %s\n"
                "[catalog]\nplatforms = %s/config/platforms.list\n"
                "[auth]\ndevices = %s/devices\n"
                "[sensor]\nsession_window = 10m\n" % (db, ROOT, TMP))
    # the schema: the sensor creates the store as the proxy would
    empty = os.path.join(TMP, "empty.pcap")
    g.write_pcap(empty, g.LINK_ETHERNET, [(T0, g.ether(g.ipv4("10.0.0.1", "10.0.0.2", 17, g.udp(1, 2, b"x"))))])
    r = subprocess.run([SENSOR, "-c", conf, "-r", empty], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "exit %d: %s" % (r.returncode, r.stderr)
    con = sqlite3.connect(db)
    ms = int(T0 * 1000)

    def proxy_row(at_ms, user, client, dur=120):
        con.execute("INSERT INTO sessions (day, client, user, first_ms, last_ms)"
                    " VALUES ('2026-01-01', ?, ?, ?, ?)", (client, user, at_ms - 5000, at_ms + dur))
    proxy_row(ms - 7200 * 1000, "bob", "10.0.0.6")
    proxy_row(ms - 60 * 1000, "alice", "10.0.0.5")
    proxy_row(ms - 40 * 1000, "carol", "10.50.0.9")
    proxy_row(ms + 3 * 3600 * 1000, "dave", "10.0.0.8")
    proxy_row(ms + 13 * 60 * 1000, "frank", "10.0.0.10")
    con.commit()
    con.close()
    h = hello("openssl-tls12")
    frames = []
    for i, c in enumerate(["10.0.0.5", "10.0.0.6", "10.0.0.7", "10.50.0.9", "10.0.0.8"]):
        frames.append((T0 + i, g.ether(tcp4(c, "157.240.1.35", 42000 + i, 443, 1, "PA", h))))
    # alice's device again 9 minutes after the capture's first packet: still hers
    frames.append((T0 + 540, g.ether(tcp4("10.0.0.5", "157.240.1.35", 43000, 443, 1, "PA", h))))
    # and 30 minutes later: the session is over, the address again
    frames.append((T0 + 1800, g.ether(tcp4("10.0.0.5", "157.240.1.35", 43001, 443, 1, "PA", h))))
    # a long flow from 10.0.0.10, whose person signs in to the proxy 13 minutes
    # after it began: the address's minutes first, frank's from 10 minutes
    # before the sign-in (the window) on, and the flow's event is frank's
    frames.append((T0 + 5, g.ether(tcp4("10.0.0.10", "157.240.1.35", 44000, 443, 1, "PA", h))))
    for i in range(1, 31):
        frames.append((T0 + 5 + 30 * i, g.ether(tcp4("157.240.1.35", "10.0.0.10", 443, 44000, i * 3000, "PA",
                                                     b"v" * 3000))))
    frames.sort(key=lambda x: x[0])
    path = os.path.join(TMP, "sessions.pcap")
    g.write_pcap(path, g.LINK_ETHERNET, frames)
    r = subprocess.run([SENSOR, "-c", conf, "-r", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "exit %d: %s" % (r.returncode, r.stderr)
    con = sqlite3.connect(db)
    got = con.execute("SELECT client, user FROM events WHERE source = 'sensor' AND kind = 'tunnel'"
                      " ORDER BY ts_ms").fetchall()
    minutes = con.execute("SELECT user, min(minute), max(minute) FROM usage_minutes"
                          " WHERE user IN ('frank', '10.0.0.10') GROUP BY user ORDER BY 2").fetchall()
    con.close()
    want = [("10.0.0.5", "alice"), ("10.0.0.6", "10.0.0.6"), ("10.0.0.7", "10.0.0.7"),
            ("10.50.0.9", "alice"), ("10.0.0.8", "10.0.0.8"), ("10.0.0.10", "frank"),
            ("10.0.0.5", "alice"), ("10.0.0.5", "10.0.0.5")]
    if got != want:
        return "sensor rows: expected %s\n got %s" % (want, got)
    if [m[0] for m in minutes] != ["10.0.0.10", "frank"] or minutes[0][2] >= minutes[1][1]:
        return "usage minutes of the long flow: %s" % (minutes,)
    return None


def test_signins():
    """Attribution through intercept mode's bindings: the store's bindings
    table (as breaktimed's writer keeps it; the writer's side is
    tests/unit/test_sensor_sessions.c) says alice signed in from 10.0.0.5
    an hour before the capture, until eight hours after it, on her phone
    (its MAC address); bob's binding of 10.0.0.6 expired before the
    capture; carol's of 10.0.0.8 ended a minute before it (another device
    has the address); the proxy's sessions say bob used 10.0.0.5 around the
    capture. The phone's flows are alice's by address, and by its MAC
    address at an IPv6 address and an IPv4 address the proxy never saw
    (over TCP and over UDP 443, QUIC), also when the capture begins with
    the server's half of the flow; other devices' are their addresses'; the
    binding wins over the session; after the expiry the address again."""
    db = os.path.join(TMP, "signins.db")
    conf = os.path.join(TMP, "signins.conf")
    with open(conf, "w") as f:
        f.write("[proxy]\nlisten = 10.9.9.9:3128\n"
                "[store]\ndatabase = %s\n"
                "[catalog]\nplatforms = %s/config/platforms.list\n"
                "[sensor]\nsession_window = 10m\n" % (db, ROOT))
    empty = os.path.join(TMP, "empty-signins.pcap")
    g.write_pcap(empty, g.LINK_ETHERNET, [(T0, g.ether(g.ipv4("10.0.0.1", "10.0.0.2", 17, g.udp(1, 2, b"x"))))])
    r = subprocess.run([SENSOR, "-c", conf, "-r", empty], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "exit %d: %s" % (r.returncode, r.stderr)
    con = sqlite3.connect(db)
    ms, H = int(T0 * 1000), 3600 * 1000
    phone, laptop, other = "02:00:00:23:10:aa", "02:00:00:23:10:bb", "02:00:00:23:10:cc"
    rows = [("10.0.0.5", phone, "alice", ms - H, ms + 8 * H, "sign-in"),
            ("10.0.0.6", None, "bob", ms - 2 * H, ms - H, "sign-in"),
            ("10.0.0.8", laptop, "carol", ms - 2 * H, ms - 60000, "sign-in"),
            ("10.0.0.8", laptop, "carol", ms - 60000, ms - 60000, "end")]
    for row in rows:
        con.execute("INSERT INTO bindings (day, client, mac, user, since_ms, until_ms, how)"
                    " VALUES ('2026-01-01', ?, ?, ?, ?, ?, ?)", row)
    con.execute("INSERT INTO sessions (day, client, user, first_ms, last_ms)"
                " VALUES ('2026-01-01', '10.0.0.5', 'bob', ?, ?)", (ms - 60000, ms + 60000))
    con.commit()
    con.close()
    mac = {n: bytes.fromhex(v.replace(":", "")) for n, v in (("phone", phone), ("other", other))}
    h = hello("openssl-tls12")
    a = g.dns_answer(9, "www.instagram.com", addrs=["157.240.1.174"])
    quic = g.quic_initial(bytes.fromhex("a1b2c3d4"), 0, g.crypto_frame(0, h[5:])) if HAVE_CRYPTO else b"\xc0" + b"\0" * 1199
    frames = [
        (T0 + 0, g.ether(tcp4("10.0.0.5", "157.240.1.35", 42000, 443, 1, "PA", h), src=mac["phone"])),
        (T0 + 1, g.ether(tcp6("2001:db8::a1", "2a03:2880::35", 42001, 443, 1, "PA", h), v6=True, src=mac["phone"])),
        (T0 + 1.5, g.ether(g.ipv4("10.0.0.53", "10.0.0.77", 17, g.udp(53, 40000, a)))),
        (T0 + 2, g.ether(g.ipv4("10.0.0.77", "157.240.1.174", 17, g.udp(50000, 443, quic)), src=mac["phone"])),
        (T0 + 3, g.ether(tcp4("10.0.0.78", "157.240.1.35", 42003, 443, 1, "PA", h), src=mac["other"])),
        (T0 + 4, g.ether(tcp4("10.0.0.8", "157.240.1.35", 42004, 443, 1, "PA", h), src=mac["other"])),
        (T0 + 5, g.ether(tcp4("10.0.0.6", "157.240.1.35", 42005, 443, 1, "PA", h), src=mac["other"])),
        # the server's half first (from the router's MAC address), then the phone's
        (T0 + 6, g.ether(tcp4("157.240.1.174", "10.0.0.79", 443, 42006, 1, "PA", b"x" * 100))),
        (T0 + 6.1, g.ether(tcp4("10.0.0.79", "157.240.1.174", 42006, 443, 1, "A"), src=mac["phone"])),
        (T0 + 9 * 3600, g.ether(tcp4("10.0.0.5", "157.240.1.35", 42007, 443, 1, "PA", h), src=mac["phone"])),
    ]
    path = os.path.join(TMP, "signins.pcap")
    g.write_pcap(path, g.LINK_ETHERNET, frames)
    r = subprocess.run([SENSOR, "-c", conf, "-r", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "exit %d: %s" % (r.returncode, r.stderr)
    con = sqlite3.connect(db)
    got = con.execute("SELECT client, user FROM events WHERE source = 'sensor' AND kind = 'tunnel'"
                      " ORDER BY ts_ms").fetchall()
    con.close()
    want = [("10.0.0.5", "alice"), ("2001:db8::a1", "alice"), ("10.0.0.77", "alice"),
            ("10.0.0.78", "10.0.0.78"), ("10.0.0.8", "10.0.0.8"), ("10.0.0.6", "10.0.0.6"),
            ("10.0.0.79", "alice"), ("10.0.0.5", "10.0.0.5")]
    if got != want:
        return "sensor rows: expected %s\n got %s" % (want, got)
    return None


def test_flags():
    """Without --json, with the default log_other (counts): DoH and VPN
    connections are events of their own (reason and category doh / vpn, no
    platform) and never usage minutes; a social connection beside them is
    still counted."""
    db = os.path.join(TMP, "flags.db")
    conf = os.path.join(TMP, "flags.conf")
    with open(conf, "w") as f:
        f.write("[proxy]\nlisten = 10.9.9.9:3128\n"
                "[store]\ndatabase = %s\n"
                "[catalog]\nplatforms = %s/config/platforms.list\n" % (db, ROOT))
    h = hello("openssl-tls12")
    doh = h.replace(b"www.facebook.com", b"a.dns.nextdns.io")
    c = "10.0.0.21"
    frames = [
        # DoH by address: no name at all
        (T0 + 1, g.ether(tcp4(c, "1.1.1.1", 42100, 443, 1, "PA", hello("openssl-noservername")))),
        (T0 + 2, g.ether(tcp4("1.1.1.1", c, 443, 42100, 1, "PA", b"r" * 300))),
        # DoH by name
        (T0 + 3, g.ether(tcp4(c, "45.90.28.1", 42101, 443, 1, "PA", doh))),
        # WireGuard for two minutes (keepalives within the UDP idle time)
        (T0 + 4, g.ether(g.ipv4(c, "198.51.100.7", 17, g.udp(40100, 51820, b"\x01" + bytes(147))))),
        (T0 + 44, g.ether(g.ipv4("198.51.100.7", c, 17, g.udp(51820, 40100, bytes(5000))))),
        (T0 + 84, g.ether(g.ipv4(c, "198.51.100.7", 17, g.udp(40100, 51820, bytes(5000))))),
        (T0 + 124, g.ether(g.ipv4(c, "198.51.100.7", 17, g.udp(40100, 51820, bytes(32))))),
        # and facebook
        (T0 + 5, g.ether(tcp4(c, "157.240.1.35", 42102, 443, 1, "PA", h))),
        (T0 + 6, g.ether(tcp4("157.240.1.35", c, 443, 42102, 1, "PA", b"f" * 5000))),
    ]
    frames.sort(key=lambda x: x[0])
    path = os.path.join(TMP, "flags.pcap")
    g.write_pcap(path, g.LINK_ETHERNET, frames)
    r = subprocess.run([SENSOR, "-c", conf, "-r", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "exit %d: %s" % (r.returncode, r.stderr)
    con = sqlite3.connect(db)
    got = con.execute("SELECT user, method, host, port, sni, platform, category, reason, bytes_up > 0,"
                      " bytes_down > 0 FROM events ORDER BY ts_ms").fetchall()
    want = [
        (c, "TCP", "1.1.1.1", 443, None, None, "doh", "doh", 1, 1),
        (c, "TLS", "a.dns.nextdns.io", 443, "a.dns.nextdns.io", None, "doh", "doh", 1, 0),
        (c, "UDP", "198.51.100.7", 51820, None, None, "vpn", "vpn", 1, 1),
        (c, "TLS", "www.facebook.com", 443, "www.facebook.com", "facebook", "social", "bypass", 1, 1),
    ]
    if got != want:
        return "events: expected %s\n got %s" % (want, got)
    minutes = con.execute("SELECT DISTINCT platform FROM usage_minutes").fetchall()
    if minutes != [("facebook",)]:
        return "usage_minutes: %s" % (minutes,)
    if BREAKTIME:
        # the breaches report shows them (the store keeps 180 days by default:
        # a longer retention, so that 2026-01-01 is within it)
        with open(conf, "a") as f:
            f.write("[store]\nretention = 520w\n")
        r = subprocess.run([BREAKTIME, "-c", conf, "report", "breaches", "--from", "2026-01-01",
                            "--to", "2026-01-01", "--format", "csv"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            return "breaktime report breaches: exit %d: %s" % (r.returncode, r.stderr)
        import csv
        import io
        rows = [(x["user"], x["reason"], x["attempts"], x["hosts"]) for x in csv.DictReader(io.StringIO(r.stdout))]
        want = [(c, "doh", "2", "1.1.1.1,a.dns.nextdns.io"), (c, "vpn", "1", "198.51.100.7")]
        if rows != want:
            return "breaches: expected %s\n got %s\n%s" % (want, rows, r.stdout)
    return None


def test_exit_flush():
    """At the end of the file every open flow is closed at once: more social
    flows than the store's queue holds (4096 records; each flow here is a
    progress record and an event) must all be written, none dropped -- the
    sensor waits for the store's writer as it does while reading."""
    db = os.path.join(TMP, "flush.db")
    conf = os.path.join(TMP, "flush.conf")
    with open(conf, "w") as f:
        f.write("[proxy]\nlisten = 10.9.9.9:3128\n"
                "[store]\ndatabase = %s\n"
                "[catalog]\nplatforms = %s/config/platforms.list\n" % (db, ROOT))
    n = 5000
    a = g.dns_answer(1, "www.facebook.com", addrs=["157.240.1.35"])
    frames = [(T0, g.ether(g.ipv4("10.0.0.53", "10.60.0.1", 17, g.udp(53, 40000, a))))]
    for i in range(n):
        client = "10.60.%d.%d" % (1 + i // 250, 1 + i % 250)
        frames.append((T0 + 1 + i / 1000.0,
                       g.ether(tcp4(client, "157.240.1.35", 40000 + i % 20000, 443, i, "S"))))
    path = os.path.join(TMP, "flush.pcap")
    g.write_pcap(path, g.LINK_ETHERNET, frames)
    r = subprocess.run([SENSOR, "-c", conf, "-r", path], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return "exit %d: %s" % (r.returncode, r.stderr)
    if " 0 dropped" not in r.stderr:
        return "the store dropped records:\n%s" % r.stderr
    con = sqlite3.connect(db)
    events = con.execute("SELECT count(*), count(DISTINCT client) FROM events"
                         " WHERE kind = 'tunnel' AND platform = 'facebook'").fetchone()
    if events != (n, n):
        return "events: %s of %d flows recorded\n%s" % (events, n, r.stderr)
    minutes = con.execute("SELECT count(*) FROM usage_minutes"
                          " WHERE platform = 'facebook'").fetchone()
    if minutes[0] == 0:
        return "no usage minutes"
    return None


def test_presence():
    """Presence from a long flow of a student subnet's client: a detection
    at its first packet, then at the first packet at least half detect_idle
    (here 60 s) after the last one; nothing from other clients, nor from the
    proxy's own upstream traffic (its address is in the subnet too), which
    is not recorded either."""
    db = os.path.join(TMP, "presence.db")
    conf = os.path.join(TMP, "presence.conf")
    with open(conf, "w") as f:
        f.write("[proxy]\nlisten = 10.50.0.1:3128\n"
                "[store]\ndatabase = %s\n"
                "[catalog]\nplatforms = %s/config/platforms.list\n"
                "[presence]\ndetect_subnets = 10.50.0.0/24\ndetect_idle = 2m\n" % (db, ROOT))
    h = hello("openssl-tls12")
    frames = [
        # the proxy's own upstream connection, first of all
        (T0 - 5, g.ether(tcp4("10.50.0.1", "157.240.1.35", 50000, 443, 1, "S"))),
        (T0 - 4.9, g.ether(tcp4("10.50.0.1", "157.240.1.35", 50000, 443, 2, "PA", h))),
        (T0 - 4.8, g.ether(tcp4("157.240.1.35", "10.50.0.1", 443, 50000, 1, "PA", b"x" * 100))),
    ]
    for i in range(13):   # 0, 25, ... 300 s
        t = T0 + 25 * i
        frames.append((t, g.ether(tcp4("10.50.0.7", "157.240.1.35", 42000, 443, 1 + i, "A"))))
        frames.append((t + 1, g.ether(tcp4("10.60.0.1", "157.240.1.35", 42001, 443, 1 + i, "A"))))
        frames.append((t + 2, g.ether(tcp4("157.240.1.35", "10.50.0.7", 443, 42000, 1 + i, "A"))))
    path = os.path.join(TMP, "presence.pcap")
    g.write_pcap(path, g.LINK_ETHERNET, frames)
    r = subprocess.run([SENSOR, "-c", conf, "-r", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "exit %d: %s" % (r.returncode, r.stderr)
    con = sqlite3.connect(db)
    pres = con.execute("SELECT ts_ms, state, cause, source FROM presence ORDER BY ts_ms").fetchall()
    want = [(int((T0 + t) * 1000), "detected", "10.50.0.7 (guests, sensor)", "sensor")
            for t in (0, 75, 150, 225, 300)]
    if pres != want:
        return "presence: expected %s\n got %s" % (want, pres)
    ev = con.execute("SELECT count(*) FROM events WHERE client = '10.50.0.1'").fetchone()[0]
    if ev:
        return "the proxy's own traffic was recorded (%d events)" % ev
    return None


def main():
    failed = 0
    n = 0
    for c in CASES:
        if c[6] and not HAVE_CRYPTO:
            print("skip %s (python3 cryptography missing)" % c[0])
            continue
        n += 1
        err = run_case(c)
        print("%s %s%s" % ("FAIL" if err else "ok  ", c[0], "\n     " + err if err else ""))
        failed += bool(err)
    for name, fn in (("store", test_store), ("sessions", test_sessions), ("signins", test_signins),
                     ("flags", test_flags),
                     ("exit-flush", test_exit_flush),
                     ("presence", test_presence)):
        n += 1
        err = fn()
        print("%s %s%s" % ("FAIL" if err else "ok  ", name, "\n     " + err if err else ""))
        failed += bool(err)
    print("%d of %d passed" % (n - failed, n))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
