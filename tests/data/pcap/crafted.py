#!/usr/bin/env python3
"""crafted.py: write the crafted edge-case captures of tests/data/pcap/ and
crafted-expected.json, what test_sensor_real.py expects of each.

usage: tests/data/pcap/crafted.py [OUTDIR]   (default: this folder)

Frames are built with tests/integration/sensor/pcapgen.py around real
payloads: the ClientHellos of tests/data/clienthello/ (captured from openssl
s_client and Chromium) and the RFC 9001 A.2 client Initial. The QUIC files
need the python3 `cryptography` package (to seal Initials); the output is
deterministic, so the committed files only change when this script does.

Expectations are written by hand below: "expect" is the exact set of
(protocol, name, platform, client, server, ech) the sensor must print;
"tshark" says whether tshark's dissection must show the same names (false
where tshark shows more than a passive one-pass sensor can or should: it
shows names out of malformed or cut messages, and it reads frames with five
VLAN tags); even then every name the sensor
prints must be one tshark shows too, bar those in "tshark_misses".
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "sensor"))
import pcapgen as g  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else HERE
T0 = 1767225600.0  # 2026-01-01T00:00:00Z
EXPECTED = {}


def hello(name):
    with open(os.path.join(ROOT, "tests", "data", "clienthello", name + ".bin"), "rb") as f:
        return f.read()


def rfc_initial():
    with open(os.path.join(HERE, "rfc9001-a2-client-initial.hex")) as f:
        return bytes.fromhex(f.read().replace("\n", ""))


def tcp4(src, dst, sport, dport, seq, flags, payload=b""):
    return g.ipv4(src, dst, 6, g.tcp(sport, dport, seq, flags, payload))


def tcp6(src, dst, sport, dport, seq, flags, payload=b"", ext=()):
    return g.ipv6(src, dst, 6, g.tcp(sport, dport, seq, flags, payload), ext=ext)


def write(name, linktype, frames, expect, tshark, snaplen=65535, count=None, tshark_misses=()):
    path = os.path.join(OUT, name)
    (g.write_pcapng if name.endswith(".pcapng") else g.write_pcap)(path, linktype, frames, snaplen)
    EXPECTED[name] = {"expect": sorted(expect, key=str), "tshark": tshark}
    if tshark_misses:
        EXPECTED[name]["tshark_misses"] = sorted(tshark_misses, key=str)
    if count is not None:
        EXPECTED[name]["count"] = count


def tls(name, platform, client, server, ech=False):
    return ["tls", name, platform, client, server, ech]


def dns(name, platform, client, server):
    return ["dns", name, platform, client, server, False]


FB = "157.240.1.35"
IG = "157.240.1.174"

# ---- 802.1ad QinQ and deeper VLAN stacks ----
h13 = hello("openssl-tls13-mixedcase")    # WWW.Instagram.COM, TLS 1.3
h12 = hello("openssl-tls12")              # www.facebook.com, TLS 1.2
qinq = [(0x88A8, 100), (0x8100, 20)]
write("crafted-vlan-qinq.pcap", g.LINK_ETHERNET, [
    # 802.1ad S-tag + 802.1Q C-tag: a TLS 1.3 hello
    (T0 + 0, g.ether(tcp4("10.1.0.2", IG, 40000, 443, 1, "S"), vlans=qinq)),
    (T0 + 0.1, g.ether(tcp4("10.1.0.2", IG, 40000, 443, 2, "PA", h13), vlans=qinq)),
    # the old 0x9100 QinQ TPID outside a C-tag, IPv6: a DNS query
    (T0 + 1, g.ether(g.ipv6("2001:db8:1::2", "2001:db8:1::53", 17, g.udp(40001, 53, g.dns_query(1, "www.tiktok.com"))),
                     vlans=[(0x9100, 7), (0x8100, 8)], v6=True)),
    # four tags (the decoder's limit) then a query: still read
    (T0 + 2, g.ether(g.ipv4("10.1.0.3", "10.1.0.53", 17, g.udp(40002, 53, g.dns_query(2, "www.twitch.tv"))),
                     vlans=[(0x88A8, 1), (0x8100, 2), (0x8100, 3), (0x8100, 4)])),
    # five tags: refused, nothing read
    (T0 + 3, g.ether(g.ipv4("10.1.0.4", "10.1.0.53", 17, g.udp(40003, 53, g.dns_query(3, "www.vk.com"))),
                     vlans=[(0x88A8, 1), (0x8100, 2), (0x8100, 3), (0x8100, 4), (0x8100, 5)])),
], [tls("www.instagram.com", "instagram", "10.1.0.2", IG),
    dns("www.tiktok.com", "tiktok", "2001:db8:1::2", "2001:db8:1::53"),
    dns("www.twitch.tv", "twitch", "10.1.0.3", "10.1.0.53")],
    tshark=False)   # tshark also reads the five-tag frame

# ---- Linux cooked v2 (tcpdump -i any), pcapng ----
write("crafted-sll2.pcapng", g.LINK_SLL2, [
    (T0 + 10, g.sll2(tcp4("10.1.1.2", FB, 41000, 80, 1, "PA", g.http_request("www.facebook.com", "/x")))),
    (T0 + 10.1, g.sll2(tcp6("2001:db8:2::2", "2001:db8:2::53", 41001, 53, 1, "S"), v6=True)),
    (T0 + 10.2, g.sll2(tcp6("2001:db8:2::2", "2001:db8:2::53", 41001, 53, 2, "PA",
                            len(g.dns_query(4, "www.linkedin.com")).to_bytes(2, "big") +
                            g.dns_query(4, "www.linkedin.com")), v6=True)),
    (T0 + 10.3, g.sll2(g.ipv4("10.1.1.2", "192.0.2.10", 17, g.udp(41002, 443, rfc_initial())))),
], [["http", "www.facebook.com", "facebook", "10.1.1.2", FB, False],
    dns("www.linkedin.com", "linkedin", "2001:db8:2::2", "2001:db8:2::53"),
    ["quic", "example.com", None, "10.1.1.2", "192.0.2.10", False]],
    tshark=True)

# ---- a 96-byte snaplen: what fits is read, what is cut is never guessed ----
long_q = g.dns_query(5, "a-rather-long-label-to-cut.www.instagram.com")
write("crafted-snaplen96.pcap", g.LINK_ETHERNET, [
    # a whole ClientHello on the wire, 42 bytes of it in the capture
    (T0 + 20, g.ether(tcp4("10.1.2.2", FB, 42000, 443, 1, "PA", h12))),
    # the Host line cut inside the name ("Host: www.faceb")
    (T0 + 20.1, g.ether(tcp4("10.1.2.2", FB, 42001, 80, 1, "PA",
                             b"GET /0123456789a HTTP/1.1\r\nHost: www.facebook.com\r\n\r\n"))),
    # a short query fits whole: read
    (T0 + 20.2, g.ether(g.ipv4("10.1.2.2", "10.1.2.53", 17, g.udp(42002, 53, g.dns_query(6, "www.vk.com"))))),
    # a long one is cut inside its name
    (T0 + 20.3, g.ether(g.ipv4("10.1.2.2", "10.1.2.53", 17, g.udp(42003, 53, long_q)))),
    # a QUIC Initial: 54 bytes of 1200, nothing to decrypt
    (T0 + 20.4, g.ether(g.ipv4("10.1.2.2", "192.0.2.10", 17, g.udp(42004, 443, rfc_initial())))),
], [dns("www.vk.com", "vk", "10.1.2.2", "10.1.2.53")],
    tshark=False, snaplen=96)   # tshark shows the cut Host as "www.faceb"

# ---- IPv6 extension headers ----
routing = b"\x00\x00\x00\x00\x00\x00\x00"     # type 0 routing, segments left 0 (8 bytes)
dstopts = b"\x00\x01\x04\x00\x00\x00\x00"     # PadN (8 bytes)
C6, S6 = "2001:db8:3::2", "2001:db8:3::443"
write("crafted-ipv6-ext.pcap", g.LINK_ETHERNET, [
    # hop-by-hop, routing, destination options, then TCP with a TLS hello
    (T0 + 30, g.ether(tcp6(C6, S6, 43000, 443, 1, "PA", h12, ext=[(0, g.hopopts()), (43, routing),
                                                                  (60, dstopts)]), v6=True)),
    # an atomic fragment (offset 0, no more): a whole datagram
    (T0 + 30.1, g.ether(g.ipv6(C6, "2001:db8:3::53", 17, g.udp(43001, 53, g.dns_query(7, "www.tumblr.com")),
                               ext=[(44, g.fragment_hdr(0, False))]), v6=True)),
    # a first fragment (more follow) holding the whole query, 39 bytes (not
    # a multiple of 8, as every fragment but the last must be): never
    # reassembled, so not read -- tshark waits for the rest too
    (T0 + 30.2, g.ether(g.ipv6(C6, "2001:db8:3::53", 17,
                               g.udp(43002, 53, g.dns_query(8, "www.quora.com"),
                                     length=8 + len(g.dns_query(8, "www.quora.com")) + 16),
                               ext=[(44, g.fragment_hdr(0, True, ident=8))]), v6=True)),
    # a later fragment of it (ends at 64, past the UDP length): the datagram
    # never completes and times out
    (T0 + 30.3, g.ether(g.ipv6(C6, "2001:db8:3::53", 17, b"\x00\x35\x00\x35" + b"\xff" * 12,
                               ext=[(44, g.fragment_hdr(6, False, ident=8))]), v6=True)),
    # "no next header" after destination options; then ESP: nothing to read
    (T0 + 30.4, g.ether(g.ipv6(C6, S6, 59, b"", ext=[(60, dstopts)]), v6=True)),
    (T0 + 30.5, g.ether(g.ipv6(C6, S6, 50, b"\x00" * 32), v6=True)),
    # an extension header whose length runs past the packet
    (T0 + 30.6, g.ether(g.ipv6(C6, "2001:db8:3::53", 17, g.udp(43003, 53, g.dns_query(9, "www.flickr.com")),
                               ext=[(0, b"\xff" + b"\x00" * 5)]), v6=True)),
], [tls("www.facebook.com", "facebook", C6, S6),
    dns("www.tumblr.com", "tumblr", C6, "2001:db8:3::53")],
    tshark=True)

def dont_fragment(ip):
    """The IPv4 packet with DF set (and its header checksum redone)."""
    h = bytearray(ip[:20])
    h[6:8] = b"\x40\x00"
    h[10:12] = b"\0\0"
    h[10:12] = struct.pack("!H", g.csum(bytes(h)))
    return bytes(h) + ip[20:]


# ---- IPv4 fragments: reassembled (sensor/ipfrag.c), as tshark does ----
ini = g.udp(44000, 443, rfc_initial())
frag_ip = [
    g.ipv4("10.1.4.2", "192.0.2.10", 17, ini[:600], mf=True, ident=44),
    g.ipv4("10.1.4.2", "192.0.2.10", 17, ini[600:], frag=600 // 8, ident=44),
]
q = g.dns_query(10, "www.imgur.com")
uq = g.udp(44001, 53, q)
write("crafted-ipv4-frag.pcap", g.LINK_ETHERNET, [
    # a QUIC Initial in two fragments: the first holds 592 of its 1200 bytes
    (T0 + 40, g.ether(frag_ip[0])),
    (T0 + 40.1, g.ether(frag_ip[1])),
    # a first fragment with only the UDP header, the query in the second
    (T0 + 40.2, g.ether(g.ipv4("10.1.4.2", "10.1.4.53", 17, uq[:8], mf=True, ident=45))),
    (T0 + 40.3, g.ether(g.ipv4("10.1.4.2", "10.1.4.53", 17, uq[8:], frag=1, ident=45))),
    # DF set, offset 0, no more fragments: a whole datagram
    (T0 + 40.4, g.ether(dont_fragment(g.ipv4("10.1.4.2", "10.1.4.53", 17, g.udp(44002, 53, g.dns_query(11, "www.rumble.com")))))),
], [dns("www.rumble.com", "rumble", "10.1.4.2", "10.1.4.53"),
    dns("www.imgur.com", "imgur", "10.1.4.2", "10.1.4.53"),
    ["quic", "example.com", None, "10.1.4.2", "192.0.2.10", False]],
    tshark=True)

# ---- malformed DNS ----
hdr = bytes.fromhex("beef01000001000000000000")
loop2 = hdr + b"\x03www\xc0\x0c" + b"\x00\x01\x00\x01"            # www -> back to itself: www.www.www...
self_ptr = hdr + b"\xc0\x0c" + b"\x00\x01\x00\x01"                 # a pointer to itself
forward = hdr + b"\x03www\xc0\x40" + b"\x00\x01\x00\x01"           # a pointer past the end
ext_label = hdr + b"\x43www" + b"\x00" + b"\x00\x01\x00\x01"       # label type 01 (reserved)
too_long = hdr + (b"\x3f" + b"a" * 63) * 4 + b"\x03com\x00" + b"\x00\x01\x00\x01"  # 261 octets
cut = hdr + b"\x03www\x09instag"                                   # ends inside a label
no_q = bytes.fromhex("beef01000000000000000000") + g.dns_name("www.kick.com") + b"\x00\x01\x00\x01"
bad = [loop2, self_ptr, forward, ext_label, too_long, cut, no_q]
frames = [(T0 + 50 + i * 0.1, g.ether(g.ipv4("10.1.5.2", "10.1.5.53", 17, g.udp(45000 + i, 53, m))))
          for i, m in enumerate(bad)]
# a DNS-over-TCP length prefix larger than the message, then a good query
tq = g.dns_query(12, "www.vimeo.com")
frames.append((T0 + 51, g.ether(tcp4("10.1.5.2", "10.1.5.53", 45100, 53, 1, "PA", b"\xff\xff" + tq))))
frames.append((T0 + 52, g.ether(g.ipv4("10.1.5.2", "10.1.5.53", 17, g.udp(45200, 53, g.dns_query(13, "www.bumble.com"))))))
write("crafted-dns-malformed.pcap", g.LINK_ETHERNET, frames,
      [dns("www.bumble.com", "bumble", "10.1.5.2", "10.1.5.53")],
      tshark=False)   # tshark shows "<Name contains a pointer that loops>" and the like as names


# ---- TLS: record-layer splits (read) and bad lengths (never read) ----
def records(msg, sizes):
    """The handshake message msg in TLS records of the given sizes."""
    out, pos = b"", 0
    for n in sizes + [len(msg)]:
        part = msg[pos:pos + n]
        if not part:
            break
        out += b"\x16\x03\x01" + struct.pack("!H", len(part)) + part
        pos += len(part)
    return out


def hs(h):
    """The handshake message inside a one-record hello."""
    return h[5:]


def sni_offsets(msg):
    """(extensions length offset, server_name ext offset) in a ClientHello message."""
    p = 4 + 2 + 32
    p += 1 + msg[p]
    p += 2 + struct.unpack("!H", msg[p:p + 2])[0]
    p += 1 + msg[p]
    ext_len_at = p
    p += 2
    while True:
        t, n = struct.unpack("!HH", msg[p:p + 4])
        if t == 0:
            return ext_len_at, p
        p += 4 + n


m = hs(h12)
ext_at, sni_at = sni_offsets(m)
bad_ext = bytearray(m)                      # extensions length 100 bytes past the message
struct.pack_into("!H", bad_ext, ext_at, struct.unpack("!H", m[ext_at:ext_at + 2])[0] + 100)
bad_sni = bytearray(m)                      # server_name extension length past the extensions
struct.pack_into("!H", bad_sni, sni_at + 2, 0x4000)
bad_list = bytearray(m)                     # server_name list length past its extension
struct.pack_into("!H", bad_list, sni_at + 4, struct.unpack("!H", m[sni_at + 4:sni_at + 6])[0] + 40)
bad_host = bytearray(m)                     # host_name length past the list
struct.pack_into("!H", bad_host, sni_at + 7, struct.unpack("!H", m[sni_at + 7:sni_at + 9])[0] + 30)
huge = bytearray(m)                         # a handshake message of 16 MB
huge[1:4] = b"\xff\xff\xff"

S = "157.240.1.35"
frames = []
flows = [
    ("a", records(m, [40]), True),                     # split over two records, one segment
    ("b", records(m, [4, 100, 30]), True),             # over four records (header alone in the first)
    ("c", records(bytes(bad_ext), []), False),
    ("d", records(bytes(bad_sni), []), False),
    ("e", records(bytes(bad_list), []), False),
    ("f", records(bytes(bad_host), []), False),
    ("g", records(bytes(huge), [len(huge)]) + b"\x16\x03\x01\x40\x00" + b"\x00" * 0x4000, False),
    ("h", b"\x16\x03\x01\xff\xff" + m, False),         # record length past the hello (and the 2^14 limit)
]
for i, (_, data, _) in enumerate(flows):
    c = "10.1.6.%d" % (i + 2)
    frames.append((T0 + 60 + i, g.ether(tcp4(c, S, 46000, 443, 1, "S"))))
    # the records in 500-byte segments
    for k in range(0, len(data), 500):
        frames.append((T0 + 60 + i + 0.01 * (k // 500 + 1), g.ether(tcp4(c, S, 46000, 443, 2 + k, "PA", data[k:k + 500]))))
    frames.append((T0 + 60 + i + 0.9, g.ether(tcp4(c, S, 46000, 443, 2 + len(data), "FA"))))
write("crafted-tls-records.pcap", g.LINK_ETHERNET, frames,
      [tls("www.facebook.com", "facebook", "10.1.6.2", S), tls("www.facebook.com", "facebook", "10.1.6.3", S)],
      tshark=True)


# ---- QUIC: bad lengths and offsets (needs cryptography) ----
def quic_bad():
    hq = hs(h13)
    dcid = bytes.fromhex("c0ffee0000000001")
    good = g.quic_initial(dcid, 0, g.crypto_frame(0, hq))
    # the Length field 1000 bytes past the datagram
    p = bytearray(g.quic_initial(bytes.fromhex("c0ffee0000000002"), 0, g.crypto_frame(0, hq)))
    lo = 1 + 4 + 1 + 8 + 1 + 4 + 1
    struct.pack_into("!H", p, lo, 0x4000 | ((struct.unpack("!H", p[lo:lo + 2])[0] & 0x3FFF) + 1000))
    long_len = bytes(p)
    # a CRYPTO frame at offset 2^40 (and one at 0 that is too short to end the hello)
    far = g.quic_initial(bytes.fromhex("c0ffee0000000003"), 0,
                         g.crypto_frame(0, hq[:100]) + b"\x06" + bytes.fromhex("c000010000000000") + g.quic_varint(50) + hq[:50])
    # a CRYPTO frame whose length runs past the packet
    over = g.quic_initial(bytes.fromhex("c0ffee0000000004"), 0, b"\x06\x00" + g.quic_varint(4000) + hq[:200])
    # an unknown version: not decrypted
    unknown = bytearray(g.quic_initial(bytes.fromhex("c0ffee0000000005"), 0, g.crypto_frame(0, hq)))
    unknown[1:5] = b"\xfa\xce\xb0\x0c"
    # the good Initial, coalesced with 40 bytes of junk after it
    C, S_ = "10.1.7.2", "192.0.2.77"
    dg = [long_len, far, over, bytes(unknown), good + b"\x00" * 40]
    return [(T0 + 70 + i * 0.1, g.ether(g.ipv4(C, S_, 17, g.udp(47000 + i, 443, d)))) for i, d in enumerate(dg)], \
        [["quic", "www.instagram.com", "instagram", C, S_, False]]


try:
    frames, expect = quic_bad()
    # tshark also shows the name in the 200 bytes of hello inside the CRYPTO
    # frame that claims 4000
    write("crafted-quic-malformed.pcap", g.LINK_ETHERNET, frames, expect, tshark=False)
except ImportError:
    print("crafted.py: python3 cryptography missing: crafted-quic-malformed.pcap not rewritten", file=sys.stderr)
    prev = os.path.join(OUT, "crafted-expected.json")
    if os.path.exists(prev):
        with open(prev) as f:
            old = json.load(f)
        if "crafted-quic-malformed.pcap" in old:
            EXPECTED["crafted-quic-malformed.pcap"] = old["crafted-quic-malformed.pcap"]

with open(os.path.join(OUT, "crafted-expected.json"), "w") as f:
    json.dump(EXPECTED, f, indent=1, sort_keys=True)
    f.write("\n")
for name in sorted(EXPECTED):
    print("wrote", name)
