#!/usr/bin/env python3
"""breaktime-sensor live on the loopback interface, while this test makes the
traffic itself: curl to a local HTTP server with Host: www.facebook.com,
openssl s_client -servername www.instagram.com to a local s_server, and the
RFC 9001 client Initial as one UDP datagram, and a DNS query sent as two IPv4
fragments through a raw socket (the later one has no ports: the capture
filter must pass it, and the sensor reassemble them). Only 127.0.0.1 is ever
contacted.

usage: test_sensor_live.py BREAKTIME_SENSOR SOURCE_ROOT

Needs root (or CAP_NET_RAW) for the capture and free ports 80 and 443 on
127.0.0.1 (the sensor's filter passes only its own ports); it is skipped
(exit 77) when either is missing. Checks the --json lines, then the rows a
second run writes to the store.
"""
import http.server
import json
import select
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapgen as g  # noqa: E402

SENSOR, ROOT = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="bt-sensor-live-")
SKIP = 77


def skip(why):
    print("skip:", why)
    sys.exit(SKIP)


if os.geteuid() != 0:
    skip("not root")
for tool in ("curl", "openssl"):
    if not shutil.which(tool):
        skip(tool + " missing")


def port_free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


if not port_free(80) or not port_free(443):
    skip("127.0.0.1:80 or :443 in use")

CONF = os.path.join(TMP, "sensor.conf")
with open(CONF, "w") as f:
    f.write("[proxy]\nlisten = 127.0.0.2:3128\n"
            "[store]\ndatabase = %s/bt.db\n"
            "[catalog]\nplatforms = %s/config/platforms.list\n"
            "[presence]\ndetect_subnets = 127.0.0.0/8\n" % (TMP, ROOT))


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def servers():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 80), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    key, crt = os.path.join(TMP, "k.pem"), os.path.join(TMP, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    tls = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:443", "-cert", crt, "-key", key,
                            "-naccept", "10", "-quiet"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if not port_free(443):
            break
        time.sleep(0.1)
    return httpd, tls


def start_sensor(json_mode):
    err = open(os.path.join(TMP, "stderr-%d" % json_mode), "w+")
    args = [SENSOR, "-c", CONF, "-i", "lo"] + (["--json"] if json_mode else [])
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
    for _ in range(100):
        err.seek(0)
        if "capturing on lo" in err.read():
            return p, err
        if p.poll() is not None:
            break
        time.sleep(0.1)
    p.kill()
    err.seek(0)
    raise SystemExit("sensor did not start: " + err.read())


def traffic():
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", "Host: www.facebook.com", "http://127.0.0.1:80/"],
                   check=True, timeout=20)
    subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:443", "-servername", "www.instagram.com"],
                   input=b"", capture_output=True, timeout=20)
    # a QUIC client's first datagram: the RFC 9001 A.2 Initial (example.com)
    # to UDP 127.0.0.1:443, where nothing listens
    with open(os.path.join(ROOT, "tests", "data", "pcap", "rfc9001-a2-client-initial.hex")) as f:
        initial = bytes.fromhex(f.read().replace("\n", ""))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(initial, ("127.0.0.1", 443))
    u.close()
    # a DNS query in two IPv4 fragments, the second (no ports) first
    dgram = g.udp(40053, 53, g.dns_query(0x5150, "www.tumblr.com"))
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    r.sendto(g.ipv4("127.0.0.1", "127.0.0.1", 17, dgram[16:], frag=2, ident=0x5150), ("127.0.0.1", 0))
    r.sendto(g.ipv4("127.0.0.1", "127.0.0.1", 17, dgram[:16], mf=True, ident=0x5150), ("127.0.0.1", 0))
    r.close()


def read_lines(p, n, timeout):
    """What the running sensor printed until n lines (or timeout seconds)."""
    fd = p.stdout.fileno()
    got = b""
    end = time.monotonic() + timeout
    while got.count(b"\n") < n and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        got += chunk
    return got.decode()


def stop(p):
    p.terminate()
    out, _ = p.communicate(timeout=30)
    return p.returncode, out


def main():
    httpd, tls = servers()
    failed = 0
    try:
        # 1. --json: one line per name, nothing in the store
        p, err = start_sensor(True)
        traffic()
        # the lines arrive while the sensor runs (flushed at each wake-up,
        # not only at exit): a person watching sees them promptly
        early = read_lines(p, 4, 5.0)
        rc, out = stop(p)
        out = early + out
        if early.count("\n") < 4:
            print("FAIL json: only %r within 5 s of the traffic (output not flushed)" % early)
            failed += 1
        got = sorted((d["protocol"], d["name"], d["platform"], d["client"], d["server"], d["ech"])
                     for d in map(json.loads, out.splitlines()))
        want = [("dns", "www.tumblr.com", "tumblr", "127.0.0.1", "127.0.0.1", False),
                ("http", "www.facebook.com", "facebook", "127.0.0.1", "127.0.0.1", False),
                ("quic", "example.com", None, "127.0.0.1", "127.0.0.1", False),
                ("tls", "www.instagram.com", "instagram", "127.0.0.1", "127.0.0.1", False)]
        ok = rc == 0 and got == want and not os.path.exists(os.path.join(TMP, "bt.db"))
        print("%s json (rc %d): %s" % ("ok  " if ok else "FAIL", rc, got))
        failed += not ok

        # 2. the store: a bypass row for each, and presence from 127.0.0.0/8
        p, err = start_sensor(False)
        traffic()
        time.sleep(1)
        rc, _ = stop(p)
        con = sqlite3.connect(os.path.join(TMP, "bt.db"))
        rows = sorted(con.execute("SELECT source, method, host, platform, reason, close, client FROM events"))
        want = [("sensor", "HTTP", "www.facebook.com", "facebook", "bypass", "sensor", "127.0.0.1"),
                ("sensor", "TLS", "www.instagram.com", "instagram", "bypass", "sensor", "127.0.0.1")]
        pres = con.execute("SELECT state, source FROM presence").fetchall()
        ok = rc == 0 and rows == want and pres == [("detected", "sensor")]
        print("%s store (rc %d): %s %s" % ("ok  " if ok else "FAIL", rc, rows, pres))
        failed += not ok
    finally:
        httpd.shutdown()
        tls.kill()
        tls.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
