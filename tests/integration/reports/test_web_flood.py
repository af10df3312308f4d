#!/usr/bin/env python3
"""
test_web_flood: `breaktime web` under floods that need no login — the
real binary serving HTTPS on loopback, attacked by raw sockets:

  * one TLS connection pipelining `GET /login` without ever reading the
    answers: the process must stop reading that connection (its RSS stays
    under a ceiling while the flood runs), and give the memory and the
    descriptors back once the client leaves;
  * 70 idle TCP connections from one address (127.0.0.2): over [web]
    max_connections_per_client they are closed at once, one line in the
    log says so, and a client from another address (127.0.0.1) still gets
    the login page promptly;
  * [web] max_connections_per_client set in the file is the one obeyed.

    test_web_flood.py BREAKTIME_BINARY

Runs on the integration runner (harness_run): every test_* function in
order, one line each, then "N passed, N failed, N skipped"; more arguments:
run only the tests whose name contains one. Only 127.0.0.0/8 is used; every process started is ended by
its PID. The floods are bounded in time (a few seconds) and size.
"""

import http.client
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import Context, TestFailure, check, eq, proc_fds, proc_rss_kb, proc_sanitized  # noqa: E402

BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/reports/breaktime"
TMP = tempfile.mkdtemp(prefix="bt-webflood-")
CTX = ssl._create_unverified_context()  # our own self-signed certificate, on loopback
ADMIN, ADMIN_PW = "root", "flood-test-pw"

# The RSS ceilings. `breaktime web` idles at about 9 MB here. A connection
# that does not read costs at most its bounded input (WEB_READ_HIGH, 64 KB),
# one response and OpenSSL's record buffers: well under 1 MB. 32 MB over the
# idle figure leaves room for allocator slack on any machine, and is far
# below what an unbounded server reaches: before the fix it took in the
# flood as fast as loopback carried it (about 100 MB a second here).
FLOOD_CEILING_KB = 32 * 1024
# the flood stops after this long or after this much was sent, whichever is first
FLOOD_SECONDS = 4.0
FLOOD_BYTES = 128 << 20
# after the client left: back within this much of the idle figure
AFTER_SLACK_KB = 8 * 1024
IDLE_FROM_ONE = 70              # more than the default max_connections_per_client (16)
DEFAULT_PER_CLIENT = 16
PROMPT_S = 3.0                  # a legitimate client's login page, under the idle flood


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def setup():
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", os.path.join(TMP, "key.pem"),
                    "-out", os.path.join(TMP, "cert.pem"), "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    users = os.path.join(TMP, "users.htpasswd")
    if shutil.which("htpasswd"):
        subprocess.run(["htpasswd", "-B", "-b", "-c", users, ADMIN, ADMIN_PW], check=True,
                       capture_output=True)
    else:
        import crypt  # Python before 3.13: SHA-crypt, which breaktime accepts too
        with open(users, "w") as f:
            f.write("%s:%s\n" % (ADMIN, crypt.crypt(ADMIN_PW, crypt.mksalt(crypt.METHOD_SHA512))))


class Web:
    """One `breaktime web` on its own port; extra is appended to [web]."""

    def __init__(self, name, extra=""):
        self.port = free_port()
        self.conf = os.path.join(TMP, name + ".conf")
        with open(self.conf, "w") as f:
            f.write("[store]\ndatabase = %s\n[group admin]\nmembers = %s\n[auth]\nhtpasswd = %s\n"
                    "[web]\nlisten = 127.0.0.1:%d\ncertificate = %s\nprivate_key = %s\n%s"
                    % (os.path.join(TMP, name + ".db"), ADMIN,
                       os.path.join(TMP, "users.htpasswd"), self.port,
                       os.path.join(TMP, "cert.pem"), os.path.join(TMP, "key.pem"), extra))
        self.logpath = os.path.join(TMP, name + ".log")
        with open(self.logpath, "w") as log:
            self.p = subprocess.Popen([BIN, "-c", self.conf, "web"], stdout=log, stderr=log)
        for _ in range(100):
            try:
                self.get_login()
                return
            except OSError:
                if self.p.poll() is not None:
                    raise TestFailure("breaktime web exited: " + self.log())
                time.sleep(0.1)
        self.p.kill()
        self.p.wait()
        raise TestFailure("breaktime web did not start: " + self.log())

    def log(self):
        with open(self.logpath) as f:
            return f.read()

    def rss(self):
        return proc_rss_kb(self.p.pid)

    def fds(self):
        return proc_fds(self.p.pid)

    def get_login(self, src="127.0.0.1", timeout=10):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=CTX, timeout=timeout,
                                        source_address=(src, 0))
        try:
            c.request("GET", "/login")
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    def stop(self):
        self.p.terminate()
        rc = self.p.wait(timeout=30)
        text = self.log()
        check(rc == 0 and "Sanitizer" not in text and "runtime error" not in text,
              'expected rc == 0 and "Sanitizer" not in text and "runtime error" not in text '
              '(rc, text = %r)' % ((rc, text),))
        return text

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def settle(web, what, want, timeout=10):
    """Wait until what(web) <= want; the last value seen."""
    end = time.monotonic() + timeout
    v = what(web)
    while v > want and time.monotonic() < end:
        time.sleep(0.1)
        v = what(web)
    return v


def idle_figures(web):
    """RSS and fds at rest, after a few ordinary requests warmed the allocator up."""
    for _ in range(3):
        eq(web.get_login(), 200, 'web.get_login()')
    time.sleep(0.3)
    return web.rss(), web.fds()


def test_pipelined_flood_without_reading():
    web = Web("pipeline")
    try:
        rss0, fds0 = idle_figures(web)
        sanitized = proc_sanitized(web.p.pid)
        raw = socket.socket()
        raw.bind(("127.0.0.3", 0))
        raw.settimeout(10)
        raw.connect(("127.0.0.1", web.port))
        t = CTX.wrap_socket(raw)
        t.setblocking(False)
        chunk = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 256
        sent = peak = 0
        t0 = time.monotonic()
        next_sample = t0
        while time.monotonic() - t0 < FLOOD_SECONDS and sent < FLOOD_BYTES:
            _, w, _ = select.select([], [t], [], 0.05)
            if w:
                try:
                    sent += t.send(chunk)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
            if time.monotonic() >= next_sample:
                peak = max(peak, web.rss())
                next_sample += 0.1
        took = time.monotonic() - t0
        peak = max(peak, web.rss())
        # still alive and serving others while the flood is held
        eq(web.get_login(), 200, 'web.get_login()')
        raw_fd_open = web.fds()
        t.close()
        rss1 = settle(web, lambda w: w.rss(), rss0 + AFTER_SLACK_KB)
        fds1 = settle(web, lambda w: w.fds(), fds0)
        print("     flood %.1f s, %d KB sent; RSS %d KB idle, %d KB peak, %d KB after; "
              "fds %d idle, %d during, %d after"
              % (took, sent >> 10, rss0, peak, rss1, fds0, raw_fd_open, fds1))
        if not sanitized:  # AddressSanitizer's own heap says nothing about ours
            check(peak - rss0 < FLOOD_CEILING_KB,
                  'expected peak - rss0 < FLOOD_CEILING_KB (rss0, peak, sent = %r)' % ((rss0, peak, sent),))
            check(rss1 - rss0 < AFTER_SLACK_KB,
                  'expected rss1 - rss0 < AFTER_SLACK_KB (rss0, rss1 = %r)' % ((rss0, rss1),))
        check(fds1 <= fds0, 'expected fds1 <= fds0 (fds0, fds1 = %r)' % ((fds0, fds1),))
        eq(web.get_login(), 200, 'web.get_login()')
    finally:
        web.stop()


def test_pipelined_requests_that_are_read_are_all_answered():
    """The read bound must not stall a client that does read: requests
    pipelined first without reading (so the server stops reading this
    connection), then read, every one answered."""
    web = Web("piperead")
    n = 5000
    status_200 = b"HTTP/1.1 200 OK\r\n"
    try:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", web.port))
        t = CTX.wrap_socket(raw)
        t.setblocking(False)
        # 4 KB a request: the input outgrows WEB_READ_HIGH many times over
        out = (b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"p" * 4000
               + b"\r\n\r\n") * n
        total = len(out)
        got = b""
        answered = 0
        t0 = time.monotonic()
        reading_from = t0 + 2.0  # the first two seconds only write
        sent_unread = None
        while answered < n and time.monotonic() - t0 < 60:
            reading = time.monotonic() >= reading_from
            if reading and sent_unread is None:
                sent_unread = total - len(out)
            r, w, _ = select.select([t] if reading else [], [t] if out else [], [], 0.1)
            if w:
                try:
                    out = out[t.send(out[:16384]):]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            if r or (reading and t.pending()):
                try:
                    data = t.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
                if not data:
                    break
                got += data
                answered += got.count(status_200)
                got = got[-(len(status_200) - 1):]  # a status line cut in two, never a whole one
        t.close()
        print("     %d of %d pipelined requests (%d KB) answered in %.2f s; %d KB went in "
              "while the client did not read" % (answered, n, total >> 10,
                                                   time.monotonic() - t0, (sent_unread or 0) >> 10))
        eq(answered, n, 'answered')
        # the case this guards: the server had stopped reading this connection
        # (else the kernel's buffers took it all, and more requests are needed)
        check(sent_unread < total,
              'expected sent_unread < total (sent_unread, total = %r)' % ((sent_unread, total),))
    finally:
        web.stop()


def open_idle(n, src, port):
    out = []
    for _ in range(n):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        out.append(s)
    return out


def closed_by_server(socks, wait):
    """How many of socks the server closed within wait seconds."""
    end = time.monotonic() + wait
    closed = set()
    while time.monotonic() < end and len(closed) < len(socks):
        r, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.1)
        for s in r:
            try:
                if s.recv(1) == b"":
                    closed.add(s)
            except OSError:
                closed.add(s)
    return len(closed)


def test_idle_connections_from_one_address():
    web = Web("idle")
    socks = []
    try:
        rss0, fds0 = idle_figures(web)
        socks = open_idle(IDLE_FROM_ONE, "127.0.0.2", web.port)
        # a client from elsewhere is served at once, not after idle_timeout (30 s)
        t0 = time.monotonic()
        try:
            status = web.get_login(src="127.0.0.1", timeout=PROMPT_S + 2)
        except OSError as e:
            status = repr(e)
        took = time.monotonic() - t0
        n_closed = closed_by_server(socks, 2)
        fds_during = web.fds()
        print("     %d idle connections from 127.0.0.2: %d closed at once; 127.0.0.1 served "
              "in %.2f s; fds %d idle, %d during" % (len(socks), n_closed, took, fds0, fds_during))
        check(status == 200 and took < PROMPT_S,
              'expected status == 200 and took < PROMPT_S (status, took = %r)' % ((status, took),))
        # the first ones, up to the cap, stay (until idle_timeout); the rest go
        eq(n_closed, IDLE_FROM_ONE - DEFAULT_PER_CLIENT, 'n_closed')
        for s in socks:
            s.close()
        socks = []
        fds1 = settle(web, lambda w: w.fds(), fds0)
        rss1 = web.rss()
        print("     after: fds %d, RSS %d KB (idle %d KB)" % (fds1, rss1, rss0))
        check(fds1 <= fds0, 'expected fds1 <= fds0 (fds0, fds1 = %r)' % ((fds0, fds1),))
        if not proc_sanitized(web.p.pid):
            check(rss1 - rss0 < AFTER_SLACK_KB,
                  'expected rss1 - rss0 < AFTER_SLACK_KB (rss0, rss1 = %r)' % ((rss0, rss1),))
    finally:
        for s in socks:
            s.close()
        text = web.stop()
    # rate-limited: one line for the whole burst, not one per connection
    lines = [ln for ln in text.splitlines() if "max_connections_per_client" in ln]
    eq(len(lines), 1, 'len(lines) (text = %r)' % (text,))
    check("127.0.0.2" in lines[0], 'expected "127.0.0.2" in lines[0] (lines = %r)' % (lines,))


def test_max_connections_per_client_from_the_file():
    web = Web("percl", "max_connections_per_client = 2\n")
    socks = []
    try:
        socks = open_idle(3, "127.0.0.4", web.port)
        eq(closed_by_server(socks, 2), 1, 'closed_by_server(socks, 2)')
        # another address has its own count
        eq(web.get_login(src="127.0.0.5"), 200, 'web.get_login(src="127.0.0.5")')
        # once one of them leaves, the address may open another
        for s in socks:
            s.close()
        socks = []
        time.sleep(0.3)
        eq(web.get_login(src="127.0.0.4"), 200, 'web.get_login(src="127.0.0.4")')
    finally:
        for s in socks:
            s.close()
        text = web.stop()
    check(re.search(r"127\.0\.0\.4: .*max_connections_per_client", text),
          'expected re.search(r"127\\.0\\.0\\.4: .*max_connections_per_client", text) (text = %r)' % (text,))
    # and a value out of range is refused with its line
    bad = os.path.join(TMP, "bad.conf")
    with open(web.conf) as f:
        good = f.read()
    with open(bad, "w") as f:
        f.write(good.replace("max_connections_per_client = 2", "max_connections_per_client = 0"))
    p = subprocess.run([BIN, "-c", bad, "check"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "max_connections_per_client" in p.stderr,
          'expected p.returncode == 1 and "max_connections_per_client" in p.stderr (p.stderr = %r)' % (p.stderr,))



if __name__ == "__main__":
    setup()
    harness.run(globals(), context=lambda: Context(TMP), filters=sys.argv[2:], against=BIN)
