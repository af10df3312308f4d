#!/usr/bin/env python3
"""breaktime-sensor on the committed capture files of tests/data/pcap/: the
real-client captures made on loopback by tests/data/pcap/capture.sh (curl and
openssl s_client with TLS 1.3 and 1.2, curl over plain HTTP, headless
Chromium over HTTPS and over QUIC, dig over UDP and TCP) and the crafted edge
cases written by tests/data/pcap/crafted.py (802.1ad QinQ, SLL2, a 96-byte
snaplen, IPv6 extension headers, IPv4 fragments, malformed DNS, TLS and QUIC
lengths).

usage: test_sensor_real.py BREAKTIME_SENSOR SOURCE_ROOT

For every file the sensor runs with --json and the set of
(protocol, name, platform, client, server, ech) it prints must be exactly the
hand-checked set written below (for the crafted files, in crafted.py and the
crafted-expected.json it writes). Where tshark is installed, the names are
also checked against tshark's own dissection of the same file: for every
frame in which tshark shows a TLS or QUIC server_name, a DNS query name or an
HTTP Host, (protocol, name, client, server, ech, time of that frame) must
equal what the sensor printed; for the crafted files where tshark shows more
(see crafted.py), every line the sensor prints must still be one of tshark's. tshark decrypts QUIC Initials and reassembles TLS
and CRYPTO frames by itself; ech there is "extension 65037 present". Without
tshark that comparison is skipped with a note; the expected sets still count.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapgen as g  # noqa: E402

SENSOR, ROOT = sys.argv[1], sys.argv[2]
PCAP = os.path.join(ROOT, "tests", "data", "pcap")
TMP = tempfile.mkdtemp(prefix="bt-sensor-real-")
TSHARK = shutil.which("tshark")

CONF = os.path.join(TMP, "sensor.conf")
with open(CONF, "w") as f:
    # the proxy is elsewhere: none of the captured flows is the proxy's own
    f.write("[proxy]\nlisten = 10.9.9.9:3128\n"
            "[store]\ndatabase = %s/bt.db\n"
            "[catalog]\nplatforms = %s/config/platforms.list\n" % (TMP, ROOT))

C = "127.0.0.1"  # every real client's address on lo

# file -> (expected set of (protocol, name, platform, client, server, ech),
#          compare with tshark?)
# Real clients (capture.sh): each name was asked for by the command that
# made the file; ech is Chromium's (GREASE) Encrypted Client Hello.
CASES = {
    "curl-tls13.pcap": ({("tls", "www.instagram.com", "instagram", C, "127.0.0.11", False),
                         ("tls", "www.threads.net", "threads", "::1", "::1", False)}, True),
    "curl-tls12.pcap": ({("tls", "www.tiktok.com", "tiktok", C, "127.0.0.12", False)}, True),
    "openssl-tls13.pcapng": ({("tls", "www.reddit.com", "reddit", C, "127.0.0.13", False)}, True),
    "openssl-tls12.pcap": ({("tls", "www.snapchat.com", "snapchat", C, "127.0.0.14", False)}, True),
    # TCP Fast Open: the hello is the SYN's payload
    "curl-tfo.pcap": ({("tls", "www.linkedin.com", "linkedin", C, "127.0.0.19", False)}, True),
    "curl-http.pcap": ({("http", "www.pinterest.com", "pinterest", C, "127.0.0.15", False)}, True),
    # the page and its image from another host; Chromium opens two
    # connections to the page's host (one preconnected), each named once
    "chromium-https.pcap": ({("tls", "www.facebook.com", "facebook", C, "127.0.0.16", True),
                             ("tls", "scontent.cdninstagram.com", "instagram", C, "127.0.0.18", True)}, True),
    # the ~1.9 KB hello over two Initials with Chromium's scattered CRYPTO
    # frames, then retransmissions with new packet numbers: named once
    "chromium-quic.pcap": ({("quic", "www.youtube.com", "youtube", C, "127.0.0.17", True)}, True),
    "dns-dig.pcap": ({("dns", "www.twitch.tv", "twitch", C, "127.0.0.53", False),
                      ("dns", "www.discord.com", "discord", "::1", "::1", False),
                      ("dns", "www.example.org", None, C, "127.0.0.53", False)}, True),
    # tcpdump -s 96: the UDP query is whole; the TCP query and the
    # ClientHello are cut inside and give nothing
    "snaplen96.pcap": ({("dns", "www.twitch.tv", "twitch", C, "127.0.0.53", False)}, True),
}
# How many lines each real capture gives (names repeat per connection).
COUNTS = {"curl-tls13.pcap": 2, "chromium-quic.pcap": 1, "dns-dig.pcap": 3}
# Files whose every ClientHello spans at least this many TCP segments: a
# split hello from a real client (Chromium's, on a 1500-byte MTU).
SPLIT = {"chromium-https.pcap": 2}
# Lines tshark does not show (a first IPv6 fragment it waits to reassemble).
MISSES = {}


def crafted_cases():
    """Expectations for the crafted files (tests/data/pcap/crafted.py)."""
    path = os.path.join(PCAP, "crafted-expected.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        for name, spec in json.load(f).items():
            CASES[name] = ({tuple(x) for x in spec["expect"]}, spec["tshark"])
            MISSES[name] = {tuple(x) for x in spec.get("tshark_misses", [])}
            if "count" in spec:
                COUNTS[name] = spec["count"]


def sensor(path):
    r = subprocess.run([SENSOR, "-c", CONF, "-r", path, "--json"], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("exit %d: %s" % (r.returncode, r.stderr.strip()))
    return [json.loads(x) for x in r.stdout.splitlines()]


def epoch(t):
    """The sensor's time as integer microseconds since 1970."""
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.replace(microsecond=0).timestamp()) * 1000000 + d.microsecond


def micro(t):
    """tshark's frame.time_epoch ("S.NNNNNNNNN") cut to microseconds, as the
    sensor cuts a nanosecond pcapng timestamp (no float rounding)."""
    sec, _, frac = t.partition(".")
    return int(sec) * 1000000 + int((frac + "000000")[:6])


def tshark(path):
    """(protocol, name, client, server, ech, time) for every name tshark shows."""
    fields = ["frame.time_epoch", "frame.protocols", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
              "tls.handshake.extensions_server_name", "tls.handshake.extension.type",
              "dns.flags.response", "dns.qry.name", "http.host"]
    cmd = [TSHARK, "-r", path, "-n", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
           "-E", "aggregator=,",
           "-Y", "not icmp and not icmpv6 and (tls.handshake.extensions_server_name"
                 " or dns.flags.response == 0 or http.host)"]
    for fl in fields:
        cmd += ["-e", fl]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("tshark exit %d: %s" % (r.returncode, r.stderr.strip()))
    out = set()
    for row in r.stdout.splitlines():
        t, protos, s4, s6, d4, d6, sni, ext, resp, qname, host = row.split("|")
        protos = protos.split(":")
        # the innermost addresses (tunnels aside, there is one of each)
        client = (s4 or s6).split(",")[-1]
        server = (d4 or d6).split(",")[-1]
        t = micro(t)
        if sni:
            proto = "quic" if "quic" in protos else "tls"
            ech = "65037" in ext.split(",")
            for n in sni.split(","):
                out.add((proto, n.lower(), client, server, ech, t))
        if qname and resp.split(",")[0] in ("0", "False"):
            for n in qname.split(","):
                out.add(("dns", n.lower().rstrip("."), client, server, False, t))
        if host:
            for n in host.split(","):
                n = n.lower()
                if n.startswith("["):
                    n = n[1:n.find("]")]
                elif ":" in n:
                    n = n.rsplit(":", 1)[0]
                out.add(("http", n, client, server, False, t))
    return out


def hello_segments(path):
    """For each client's TCP flow to port 443, how many segments its first
    TLS record (the ClientHello) spans."""
    linktype, frames = g.read_capture(path)
    flows = {}
    for _, frame in frames:
        l4 = g.udp_tcp_payload(linktype, frame)
        if not l4 or l4[0] != 6 or l4[2] != 443 or not l4[3]:
            continue
        f = flows.setdefault(l4[1], [b"", 0])
        if len(f[0]) >= 5 and len(f[0]) >= 5 + int.from_bytes(f[0][3:5], "big"):
            continue
        f[0] += l4[3]
        f[1] += 1
    return [n for _, n in flows.values()]


def check(name, expect, with_tshark):
    path = os.path.join(PCAP, name)
    if name in SPLIT:
        segs = hello_segments(path)
        if not segs or min(segs) < SPLIT[name]:
            return "ClientHellos not split as expected: segments per hello %s" % segs
    got = sensor(path)
    keys = {"time", "client", "server", "protocol", "name", "platform", "ech", "flag"}
    for x in got:
        if set(x) != keys:
            return "keys %s" % sorted(x)
        if x["flag"] is not None:   # no DNS-over-HTTPS resolver or VPN port here
            return "flag %s" % x
    tuples = {(x["protocol"], x["name"], x["platform"], x["client"], x["server"], x["ech"]) for x in got}
    if tuples != expect:
        return "expected %s\n     got %s" % (sorted(expect, key=str), sorted(tuples, key=str))
    if name in COUNTS and len(got) != COUNTS[name]:
        return "expected %d lines, got %d: %s" % (COUNTS[name], len(got), got)
    if not TSHARK:
        return None
    theirs = tshark(path)
    ours = {(x["protocol"], x["name"], x["client"], x["server"], x["ech"], epoch(x["time"])) for x in got}
    if with_tshark and ours != theirs:
        return "tshark shows %s\n     sensor %s" % (sorted(theirs, key=str), sorted(ours, key=str))
    # where tshark may show more, the sensor still shows nothing it does not
    misses = {(m[0], m[1], m[3], m[4], m[5]) for m in MISSES.get(name, ())}
    extra = {x for x in ours if x not in theirs and x[:5] not in misses}
    if extra:
        return "not in tshark's dissection: %s (tshark: %s)" % (sorted(extra, key=str), sorted(theirs, key=str))
    return None


def main():
    crafted_cases()
    if not TSHARK:
        print("note: tshark not installed (apt-get install tshark): comparison with its dissection skipped")
    failed = n = 0
    for name, (expect, with_tshark) in CASES.items():
        n += 1
        try:
            err = check(name, expect, with_tshark)
        except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as e:
            err = str(e)
        tag = ""
        if TSHARK and not err:
            tag = " (= tshark)" if with_tshark else " (within tshark)"
        print("%s %s%s%s" % ("FAIL" if err else "ok  ", name, tag, "\n     " + err if err else ""))
        failed += bool(err)
    print("%d passed, %d failed" % (n - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
