"""pcapgen: deterministic capture files for the breaktime-sensor tests.

Frames are built byte by byte with struct (Ethernet with VLAN tags, Linux
cooked v1/v2, raw IP, BSD loopback; IPv4, IPv6 with extension headers; TCP,
UDP) around real payloads, and written as pcap or pcapng. Nothing here
touches the network. QUIC Initial packets other than the RFC 9001 one are
sealed with the `cryptography` package when it is installed.
"""
import struct

LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_SLL, LINK_SLL2 = 0, 1, 101, 113, 276


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ip6(a):
    import ipaddress
    return ipaddress.IPv6Address(a).packed


def tcp(sport, dport, seq, flags="A", payload=b"", ack=0):
    bits = {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}
    f = sum(bits[c] for c in flags)
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, f, 65535, 0, 0) + payload


def udp(sport, dport, payload, length=None):
    return struct.pack("!HHHH", sport, dport, length or 8 + len(payload), 0) + payload


def ipv4(src, dst, proto, l4, frag=0, mf=False, ident=1, total=None):
    flags_frag = (0x2000 if mf else 0) | frag
    tl = total if total is not None else 20 + len(l4)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tl, ident, flags_frag, 64, proto, 0, ip4(src), ip4(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + l4


def ipv6(src, dst, proto, l4, ext=()):
    """ext: a list of (type, bytes) extension headers in order, before l4."""
    chain = b""
    types = [t for t, _ in ext] + [proto]
    for i, (t, body) in enumerate(ext):
        chain += bytes([types[i + 1]]) + body
    first = types[0]
    return struct.pack("!IHBB16s16s", 6 << 28, len(chain) + len(l4), first, 64, ip6(src), ip6(dst)) + chain + l4


def hopopts():
    # next header (added by ipv6()), length 0 (8 bytes), PadN of 4 + Pad1 x0
    return b"\x00\x01\x04\x00\x00\x00\x00"


def fragment_hdr(offset, more, ident=7):
    return b"\x00" + struct.pack("!HI", (offset << 3) | (1 if more else 0), ident)


def ether(ip, vlans=(), v6=False, src=b"\x02\x00\x00\x00\x00\x01"):
    """An Ethernet frame from the MAC address src (6 bytes)."""
    out = b"\x02\x00\x00\x00\x00\x02" + src
    for tpid, vid in vlans:
        out += struct.pack("!HH", tpid, vid)
    return out + struct.pack("!H", 0x86DD if v6 else 0x0800) + ip


def sll(ip, v6=False):
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", 0x86DD if v6 else 0x0800) + ip


def sll2(ip, v6=False):
    return struct.pack("!HHIHBB8s", 0x86DD if v6 else 0x0800, 0, 1, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + ip


def null(ip, v6=False):
    return struct.pack("<I", 30 if v6 else 2) + ip


def write_pcap(path, linktype, frames, snaplen=65535):
    """frames: list of (ts_seconds_float, bytes); cut to snaplen like a capture."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
        for ts, data in frames:
            sec, usec = int(ts), int(round((ts - int(ts)) * 1e6))
            cap = data[:snaplen]
            f.write(struct.pack("<IIII", sec, usec, len(cap), len(data)) + cap)


def write_pcapng(path, linktype, frames, snaplen=65535):
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", linktype, 0, snaplen))   # default ts resolution: us
    for ts, data in frames:
        t = int(round(ts * 1e6))
        cap = data[:snaplen]
        out += block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(cap), len(data)) + cap)
    with open(path, "wb") as f:
        f.write(out)


# ---- application payloads ----

def dns_name(name):
    return b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"


def dns_query(qid, name, qtype=1):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", qtype, 1)


def dns_answer(qid, name, cname=None, addrs=(), qtype=1):
    """A response: the question, an optional CNAME, then A/AAAA records for
    the last name (with compression pointers, as servers write them)."""
    q = dns_name(name) + struct.pack("!HH", qtype, 1)
    ans, n = b"", 0
    owner = b"\xc0\x0c"
    if cname:
        target = dns_name(cname)
        ans += owner + struct.pack("!HHIH", 5, 1, 300, len(target)) + target
        owner = struct.pack("!H", 0xC000 | (12 + len(q) + 12))
        n += 1
    for a in addrs:
        rd = ip6(a) if ":" in a else ip4(a)
        ans += owner + struct.pack("!HHIH", 28 if ":" in a else 1, 1, 300, len(rd)) + rd
        n += 1
    return struct.pack("!HHHHHH", qid, 0x8180, 1, n, 0, 0) + q + ans


def http_request(host, path="/"):
    return ("GET %s HTTP/1.1\r\nUser-Agent: test\r\nHost: %s\r\nAccept: */*\r\n\r\n" % (path, host)).encode()


# ---- QUIC ----

def quic_varint(v):
    if v < 64:
        return bytes([v])
    if v < 16384:
        return struct.pack("!H", 0x4000 | v)
    return struct.pack("!I", 0x80000000 | v)


def quic_initial(dcid, pn, frames, version=1, pad_to=1200):
    """A client Initial packet sealed with the keys of RFC 9001 5.2 (and
    RFC 9369 for v2). Needs the `cryptography` package."""
    import hashlib
    import hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    v2 = version == 0x6B3343CF
    salt = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9" if v2 else
                         "38762cf7f55934b34d179ae6a4c80cadccbb7f0a")

    def expand(secret, label, n):
        full = b"tls13 " + label.encode()
        info = struct.pack("!HB", n, len(full)) + full + b"\0"
        return hmac.new(secret, info + b"\x01", hashlib.sha256).digest()[:n]

    initial = hmac.new(salt, dcid, hashlib.sha256).digest()
    client = expand(initial, "client in", 32)
    pre = "quicv2 " if v2 else "quic "
    key, iv, hp = expand(client, pre + "key", 16), expand(client, pre + "iv", 12), expand(client, pre + "hp", 16)
    pn_len = 2
    first = 0xC0 | ((1 if v2 else 0) << 4) | (pn_len - 1)
    scid = b"\x11\x22\x33\x44"
    head = bytes([first]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid + b"\x00"
    # pad the frames so the whole packet is pad_to bytes
    plen = len(frames) + pn_len + 16
    total = len(head) + 2 + plen
    if total < pad_to:
        frames += b"\0" * (pad_to - total)
        plen = len(frames) + pn_len + 16
    head += struct.pack("!H", 0x4000 | plen) + struct.pack("!H", pn)
    nonce = bytearray(iv)
    for i in range(8):
        nonce[11 - i] ^= (pn >> (8 * i)) & 0xFF
    ct = AESGCM(key).encrypt(bytes(nonce), frames, head)
    pn_off = len(head) - pn_len
    sample = ct[4 - pn_len:4 - pn_len + 16]
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    h = bytearray(head)
    h[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        h[pn_off + i] ^= mask[1 + i]
    return bytes(h) + ct


def crypto_frame(offset, data):
    return b"\x06" + quic_varint(offset) + quic_varint(len(data)) + data


# ---- reading captures back (fuzz seeds from tests/data/pcap/) ----

def read_capture(path):
    """(linktype, [(ts_seconds, bytes)]) of a pcap or pcapng file: the
    captured bytes of each frame; one interface (the first IDB's link type)."""
    with open(path, "rb") as f:
        data = f.read()
    frames = []
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        nano = magic == 0xA1B23C4D
        linktype = struct.unpack("<I", data[20:24])[0]
        p = 24
        while p + 16 <= len(data):
            sec, frac, cap, _ = struct.unpack("<IIII", data[p:p + 16])
            frames.append((sec + frac / (1e9 if nano else 1e6), data[p + 16:p + 16 + cap]))
            p += 16 + cap
        return linktype, frames
    if magic != 0x0A0D0D0A:
        raise ValueError("%s: not pcap or pcapng" % path)
    linktype, p = None, 0
    while p + 12 <= len(data):
        btype, blen = struct.unpack("<II", data[p:p + 8])
        body = data[p + 8:p + blen - 4]
        if btype == 1 and linktype is None:
            linktype = struct.unpack("<H", body[:2])[0]
        elif btype == 6:
            _, hi, lo, cap, _ = struct.unpack("<IIIII", body[:20])
            frames.append((((hi << 32) | lo) / 1e6, body[20:20 + cap]))
        p += blen
    return linktype, frames


def udp_tcp_payload(linktype, frame):
    """(proto, sport, dport, payload) of a frame, or None: Ethernet (VLAN
    tags), SLL, SLL2, raw IP, BSD loopback; IPv4 (first fragments), IPv6
    (hop-by-hop, routing, destination options, fragment headers)."""
    if linktype == LINK_ETHERNET:
        p, etype = 14, struct.unpack("!H", frame[12:14])[0]
        while etype in (0x8100, 0x88A8, 0x9100) and len(frame) >= p + 4:
            etype, p = struct.unpack("!H", frame[p + 2:p + 4])[0], p + 4
    elif linktype == LINK_SLL:
        p, etype = 16, struct.unpack("!H", frame[14:16])[0]
    elif linktype == LINK_SLL2:
        p, etype = 20, struct.unpack("!H", frame[0:2])[0]
    elif linktype == LINK_NULL:
        p, etype = 4, 0x86DD if struct.unpack("<I", frame[:4])[0] in (24, 28, 30) else 0x0800
    elif linktype == LINK_RAW:
        p, etype = 0, 0x86DD if frame[:1] and frame[0] >> 4 == 6 else 0x0800
    else:
        return None
    ip = frame[p:]
    if etype == 0x0800 and len(ip) >= 20:
        if struct.unpack("!H", ip[6:8])[0] & 0x1FFF:
            return None
        proto, l4 = ip[9], ip[(ip[0] & 15) * 4:struct.unpack("!H", ip[2:4])[0]]
    elif etype == 0x86DD and len(ip) >= 40:
        proto, l4 = ip[6], ip[40:40 + struct.unpack("!H", ip[4:6])[0]]
        while proto in (0, 43, 60, 44) and len(l4) >= 8:
            if proto == 44 and struct.unpack("!H", l4[2:4])[0] & 0xFFF8:
                return None
            n = 8 if proto == 44 else (l4[1] + 1) * 8
            proto, l4 = l4[0], l4[n:]
    else:
        return None
    if proto == 17 and len(l4) >= 8:
        return 17, struct.unpack("!H", l4[0:2])[0], struct.unpack("!H", l4[2:4])[0], l4[8:]
    if proto == 6 and len(l4) >= 20:
        return 6, struct.unpack("!H", l4[0:2])[0], struct.unpack("!H", l4[2:4])[0], l4[(l4[12] >> 4) * 4:]
    return None
