#!/usr/bin/env python3
"""
test_web: `breaktime web` end to end — the real binary serving HTTPS on
loopback, over the store make_store.py writes (hand-checked numbers there),
with a self-signed certificate made by the openssl CLI and an htpasswd file
made by `htpasswd -B` (apache2-utils). Python's http.client talks TLS to it;
headless Chromium renders a logged-in report page saved to disk.

    test_web.py BREAKTIME_BINARY SOURCE_ROOT [ARTEFACT_DIR]

The screenshot (web-excessive.png) and the saved page stay in ARTEFACT_DIR
(the meson build directory). Every test_* function runs in order; one line
each, then "N passed, N failed". Logins that are meant to fail come from
their own loopback addresses (127.0.0.N), so the login limit of one test
does not spill into the next.
"""

import csv
import html.parser
import http.client
import http.server
import io
import os
import re
import shutil
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import make_store  # noqa: E402
import harness  # noqa: E402
from harness import Context, TestFailure, check, eq  # noqa: E402

BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/reports/breaktime"
ROOT = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "."
ART = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None
TMP = tempfile.mkdtemp(prefix="bt-web-")
DB = os.path.join(TMP, "bt.db")
ADMIN, ADMIN_PW = "root", "corr3ct horse!"
STAFF_PW = "alice-s3cret"
NOT_A_NAME = "hunter2-typed-in-the-name-box"  # a password in the wrong field: never logged
WEEK = "from=2026-11-02&to=2026-11-08"
CTX = ssl._create_unverified_context()  # our own self-signed certificate, on loopback


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


PORT = free_port()


def make_htpasswd(path):
    if shutil.which("htpasswd"):
        subprocess.run(["htpasswd", "-B", "-b", "-c", path, ADMIN, ADMIN_PW], check=True,
                       capture_output=True)
        subprocess.run(["htpasswd", "-B", "-b", path, "alice", STAFF_PW], check=True,
                       capture_output=True)
        return
    import crypt  # Python before 3.13: SHA-crypt ($6$), which breaktime accepts too
    with open(path, "w") as f:
        f.write("%s:%s\n" % (ADMIN, crypt.crypt(ADMIN_PW, crypt.mksalt(crypt.METHOD_SHA512))))
        f.write("alice:%s\n" % crypt.crypt(STAFF_PW, crypt.mksalt(crypt.METHOD_SHA512)))


def setup():
    make_store.build(DB, ROOT)
    conf = make_store.write_config(TMP, DB)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", os.path.join(TMP, "key.pem"),
                    "-out", os.path.join(TMP, "cert.pem"), "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    make_htpasswd(os.path.join(TMP, "users.htpasswd"))
    with open(conf, "a") as f:
        f.write("[group admin]\nmembers = %s\n[auth]\nhtpasswd = %s\n"
                "[web]\nlisten = 127.0.0.1:%d\ncertificate = %s\nprivate_key = %s\n"
                "login_attempts = 3\nsession_timeout = 1h\n"
                % (ADMIN, os.path.join(TMP, "users.htpasswd"), PORT,
                   os.path.join(TMP, "cert.pem"), os.path.join(TMP, "key.pem")))
    # today, for "today at a glance": bob on facebook these last three minutes
    now = datetime.now(ZoneInfo("Europe/London"))
    day, m = now.strftime("%Y-%m-%d"), now.hour * 60 + now.minute
    db = sqlite3.connect(DB)
    for i in range(max(0, m - 2), m + 1):
        db.execute("INSERT INTO usage_minutes (day, minute, user, platform, purpose, source, grp,"
                   " active, requests, bytes) VALUES (?, ?, 'bob', 'facebook', 'personal', 'proxy',"
                   " 'staff', 1, 1, 5000)", (day, i))
    db.commit()
    db.close()
    return conf


CONF = setup()
LOG = os.path.join(TMP, "web.log")
SERVER = None


def start():
    global SERVER
    log = open(LOG, "w")
    SERVER = subprocess.Popen([BIN, "-c", CONF, "web"], stdout=log, stderr=log)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=1) as s:
                with CTX.wrap_socket(s):
                    return
        except OSError:
            if SERVER.poll() is not None:
                raise TestFailure("breaktime web exited: " + open(LOG).read())
            time.sleep(0.1)
    raise TestFailure("breaktime web did not start: " + open(LOG).read())


HOST = "127.0.0.1"


def request(method, path, form=None, cookies=None, src="127.0.0.1"):
    c = http.client.HTTPSConnection(HOST, PORT, context=CTX, timeout=30,
                                    source_address=(src, 0))
    h = {}
    if cookies:
        h["Cookie"] = "; ".join("%s=%s" % kv for kv in cookies.items())
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        h["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def set_cookies(r):
    """{name: (value, attributes)} from the Set-Cookie headers."""
    out = {}
    for v in r.msg.get_all("Set-Cookie") or []:
        parts = [p.strip() for p in v.split(";")]
        name, _, value = parts[0].partition("=")
        out[name] = (value, parts[1:])
    return out


def login_form(src="127.0.0.1"):
    r, d = request("GET", "/login", src=src)
    eq(r.status, 200, 'r.status')
    token = set_cookies(r)["bt_login"][0]
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', d.decode())
    check(m and m.group(1) == token, 'expected m and m.group(1) == token (d = %r)' % (d,))
    return token


def login(user, password, src="127.0.0.1"):
    token = login_form(src)
    return request("POST", "/login", {"csrf": token, "user": user, "password": password},
                   {"bt_login": token}, src=src)


SESSION = {}


def get(path):
    r, d = request("GET", path, cookies={"bt_session": SESSION["id"]})
    return r, d.decode()


def csrf_of(page):
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    check(m, 'expected m (page = %r)' % (page,))
    return m.group(1)


class Tables(html.parser.HTMLParser):
    """Every <table> as (header texts, rows of cell texts)."""

    def __init__(self, text):
        super().__init__()
        self.tables, self.cell, self.row = [], None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(([], []))
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            heads, rows = self.tables[-1]
            if not heads:
                heads.extend(self.row)
            else:
                rows.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table_with(page, column):
    for heads, rows in Tables(page).tables:
        if column in heads:
            return [dict(zip(heads, r)) for r in rows]
    raise TestFailure("no table with %s" % column)


def presence_rows():
    db = sqlite3.connect(DB)
    rows = db.execute("SELECT state, cause, source FROM presence ORDER BY id").fetchall()
    db.close()
    return rows


# ---- configuration ----

def test_config_checked():
    bad = os.path.join(TMP, "bad.conf")
    with open(CONF) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(text + "sesion_timeout = 2h\n")
    p = subprocess.run([BIN, "-c", bad, "check"], capture_output=True, text=True, timeout=60)
    line = len(text.splitlines()) + 1
    check(p.returncode == 1 and "bad.conf:%d: unknown key `sesion_timeout` in [web]: did you " \
       "mean `session_timeout`?" % line in p.stderr,
          'expected p.returncode == 1 and "bad.conf:%%d: unknown key `sesion_timeout` in [web]: '
          'did you " \\ "mean `session_timeout`?" %% line in p.stderr (p.stderr = %r)' % (p.stderr,))
    # HTTPS only: no certificate, no web UI
    with open(bad, "w") as f:
        f.write(re.sub(r"(?m)^(certificate|private_key) = .*\n", "", text))
    p = subprocess.run([BIN, "-c", bad, "web"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "certificate and private_key are needed" in p.stderr,
          'expected p.returncode == 1 and "certificate and private_key are needed" in p.stderr '
          '(p.stderr = %r)' % (p.stderr,))


def test_starts():
    start()


def test_https_only():
    # plain HTTP to the listener gets no HTTP answer
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
        s.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            answer = s.recv(4096)
        except OSError:
            answer = b""
    check(not answer.startswith(b"HTTP/"), 'expected not answer.startswith(b"HTTP/") (answer = %r)' % (answer,))


def test_login_page_and_headers():
    r, d = request("GET", "/login")
    eq(r.status, 200, 'r.status')
    csp = r.getheader("Content-Security-Policy")
    check(csp.startswith("default-src 'none'; style-src 'self' 'sha256-"),
          'expected csp.startswith("default-src \'none\'; style-src \'self\' \'sha256-") (csp = %r)' % (csp,))
    check("script-src" not in csp and "frame-ancestors 'none'" in csp,
          'expected "script-src" not in csp and "frame-ancestors \'none\'" in csp (csp = %r)' % (csp,))
    eq(r.getheader("X-Frame-Options"), "DENY", 'r.getheader("X-Frame-Options")')
    eq(r.getheader("Cache-Control"), "no-store", 'r.getheader("Cache-Control")')
    check(b'type="password"' in d and b"<script" not in d,
          'expected b\'type="password"\' in d and b"<script" not in d')
    r, d = request("GET", "/style.css")
    check(r.status == 200 and r.getheader("Content-Type").startswith("text/css") and b"nav" in d,
          'expected r.status == 200 and r.getheader("Content-Type").startswith("text/css") and b"nav" in d')


def test_pages_need_a_login():
    for path in ["/", "/excessive", "/excessive.csv?" + WEEK, "/user?name=alice", "/presence"]:
        r, d = request("GET", path)
        check(r.status == 303 and r.getheader("Location") == "/login",
              'expected r.status == 303 and r.getheader("Location") == "/login" (path, '
              'r.status = %r)' % ((path, r.status),))
        check(b"alice" not in d, 'expected b"alice" not in d')
    r, d = request("POST", "/presence", {"state": "on"})
    eq(r.status, 403, 'r.status')
    r, d = request("GET", "/", cookies={"bt_session": "0" * 64})
    eq(r.status, 303, 'r.status')


def test_wrong_password_refused():
    r, d = login(ADMIN, "not the password", src="127.0.0.2")
    eq(r.status, 401, 'r.status')
    check("bt_session" not in set_cookies(r), 'expected "bt_session" not in set_cookies(r)')
    check(b"Wrong user name or password" in d, 'expected b"Wrong user name or password" in d')
    r, d = login(NOT_A_NAME, "whatever", src="127.0.0.2")
    check(r.status == 401 and "bt_session" not in set_cookies(r),
          'expected r.status == 401 and "bt_session" not in set_cookies(r)')


def test_non_admin_refused():
    # alice's password is right, but she is staff, not admin
    r, d = login("alice", STAFF_PW, src="127.0.0.3")
    eq(r.status, 403, 'r.status')
    check("bt_session" not in set_cookies(r), 'expected "bt_session" not in set_cookies(r)')
    check(b"not an administrator" in d, 'expected b"not an administrator" in d')


def test_login_form_needs_its_token():
    token = login_form()
    r, d = request("POST", "/login", {"csrf": token, "user": ADMIN, "password": ADMIN_PW})
    check(r.status == 403 and "bt_session" not in set_cookies(r),
          'expected r.status == 403 and "bt_session" not in set_cookies(r) (r.status = %r)' % (r.status,))
    r, d = request("POST", "/login", {"csrf": "1" * 64, "user": ADMIN, "password": ADMIN_PW},
                   {"bt_login": token})
    check(r.status == 403 and "bt_session" not in set_cookies(r),
          'expected r.status == 403 and "bt_session" not in set_cookies(r) (r.status = %r)' % (r.status,))


def test_admin_logs_in():
    r, d = login(ADMIN, ADMIN_PW)
    check(r.status == 303 and r.getheader("Location") == "/",
          'expected r.status == 303 and r.getheader("Location") == "/" (r.status = %r)' % (r.status,))
    value, attrs = set_cookies(r)["bt_session"]
    check(re.fullmatch(r"[0-9a-f]{64}", value),
          'expected re.fullmatch(r"[0-9a-f]{64}", value) (value = %r)' % (value,))
    for a in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"]:
        check(a in attrs, 'expected a in attrs (a, attrs = %r)' % ((a, attrs),))
    SESSION["id"] = value
    # a second login is another random session
    r2, _ = login(ADMIN, ADMIN_PW)
    check(set_cookies(r2)["bt_session"][0] != value, 'expected set_cookies(r2)["bt_session"][0] != value')


def test_today_at_a_glance():
    r, page = get("/")
    check(r.status == 200 and r.getheader("Cache-Control") == "no-store",
          'expected r.status == 200 and r.getheader("Cache-Control") == "no-store"')
    check("Today at a glance" in page, 'expected "Today at a glance" in page')
    now = table_with(page, "Platform")
    eq([(x["Person"], x["Group"], x["Platform"]) for x in now], [("bob", "staff", "facebook")],
       '[(x["Person"], x["Group"], x["Platform"]) for x in now] (now = %r)' % (now,))
    today = table_with(page, "Personal minutes")
    eq([(x["Person"], x["Personal minutes"], x["Allowance"]) for x in today], [("bob", "3", "30")],
       '[(x["Person"], x["Personal minutes"], x["Allowance"]) for x in today] (today = %r)' % (today,))
    check(re.search(r"Students present now: <strong>(yes|no)</strong>", page),
          'expected re.search(r"Students present now: <strong>(yes|no)</strong>", page) (page = %r)' % (page,))
    # the last change by hand, with its cause (make_store: "admin bob", auto)
    check("Last set by hand: <strong>auto</strong>" in page and "admin bob" in page,
          'expected "Last set by hand: <strong>auto</strong>" in page and "admin bob" in page (page = '
          '%r)' % (page,))


def test_excessive_report_numbers():
    r, page = get("/excessive?" + WEEK)
    check(r.status == 200 and r.getheader("Cache-Control") == "no-store",
          'expected r.status == 200 and r.getheader("Cache-Control") == "no-store"')
    rows = table_with(page, "user")
    eq([x["user"] for x in rows], ["alice", "victor"], '[x["user"] for x in rows] (rows = %r)' % (rows,))
    a, v = rows
    eq((a["group"], a["allowance"], a["days_over"], a["minutes_over"]), ("staff", "30", "1", "10"),
       '(a["group"], a["allowance"], a["days_over"], a["minutes_over"]) (a = %r)' % (a,))
    eq((a["outside_minutes"], a["active_minutes"], a["allowed_time_pct"]), ("20", "60", "66"),
       '(a["outside_minutes"], a["active_minutes"], a["allowed_time_pct"]) (a = %r)' % (a,))
    eq((a["blocked_students_present"], a["previous_minutes"], a["change"]), ("3", "15", "45"),
       '(a["blocked_students_present"], a["previous_minutes"], a["change"]) (a = %r)' % (a,))
    eq((v["days_over"], v["minutes_over"], v["active_minutes"]), ("2", "25", "85"),
       '(v["days_over"], v["minutes_over"], v["active_minutes"]) (v = %r)' % (v,))
    check("<svg" in page and 'name="from" value="2026-11-02"' in page,
          'expected "<svg" in page and \'name="from" value="2026-11-02"\' in page')
    # the report's own stylesheet is exactly what the CSP allows by hash
    import base64
    import hashlib
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    check("'sha256-%s'" % digest in r.getheader("Content-Security-Policy"),
          'expected "\'sha256-%s\'" % digest in r.getheader("Content-Security-Policy")')


def test_excessive_group_filter():
    r, page = get("/excessive?%s&group=staff" % WEEK)
    rows = table_with(page, "user")
    check(len(rows) == 1 and re.fullmatch(r"p-[0-9a-f]{10}", rows[0]["user"]),
          'expected len(rows) == 1 and re.fullmatch(r"p-[0-9a-f]{10}", rows[0]["user"]) '
          '(rows = %r)' % (rows,))  # pseudonyms
    r, page = get("/excessive?%s&group=staff&names=1" % WEEK)
    eq([x["user"] for x in table_with(page, "user")], ["alice"], '[x["user"] for x in table_with(page, "user")]')
    r, page = get("/excessive?%s&group=volunteers&names=1" % WEEK)
    eq([x["user"] for x in table_with(page, "user")], ["victor"], '[x["user"] for x in table_with(page, "user")]')
    r, page = get("/excessive?%s&group=nosuch" % WEEK)
    eq(r.status, 400, 'r.status')
    r, page = get("/excessive?from=2026-13-01")
    eq(r.status, 400, 'r.status')
    # malformed queries: a bad escape, a NUL, too many fields
    for q in ["from=%zz", "group=%00", "&".join("a%d=1" % i for i in range(17))]:
        r, page = get("/excessive?" + q)
        eq(r.status, 400, 'r.status (q, r.status = %r)' % ((q, r.status),))


def test_csv_download_parses_back():
    r, data = get("/excessive.csv?" + WEEK)
    check(r.status == 200 and r.getheader("Content-Type").startswith("text/csv"),
          'expected r.status == 200 and r.getheader("Content-Type").startswith("text/csv")')
    eq(r.getheader("Content-Disposition"), 'attachment; filename="breaktime-excessive-2026-11-02-2026-11-08.csv"',
       'r.getheader("Content-Disposition")')
    rows = list(csv.DictReader(io.StringIO(data, newline="")))
    eq([(x["user"], x["days_over"], x["minutes_over"], x["active_minutes"]) for x in rows],
       [("alice", "1", "10", "60"), ("victor", "2", "25", "85")],
       'the (user, days_over, minutes_over, active_minutes) rows (rows = %r)' % (rows,))
    # the same bytes as the CLI's CSV
    p = subprocess.run([BIN, "-c", CONF, "report", "excessive", "--from", "2026-11-02", "--to",
                        "2026-11-08", "--format", "csv"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and p.stdout.replace("\r\n", "\n") == data.replace("\r\n", "\n"),
          'expected p.returncode == 0 and p.stdout.replace("\\r\\n", "\\n") == data.replace("\\r\\n", "\\n")')


def test_html_download():
    r, data = get("/excessive.html?%s&group=staff&names=1" % WEEK)
    check(r.status == 200 and r.getheader("Content-Disposition").startswith("attachment; "),
          'expected r.status == 200 and r.getheader("Content-Disposition").startswith("attachment; ")')
    check(data.startswith("<!DOCTYPE html>") and "<svg" in data and "alice" in data,
          'expected data.startswith("<!DOCTYPE html>") and "<svg" in data and "alice" in data')


def test_timeline():
    r, page = get("/user?name=alice&from=2026-11-02&to=2026-11-03")
    eq(r.status, 200, 'r.status')
    rows = table_with(page, "start")
    eq([(x["day"], x["platform"], x["start"], x["end"], x["active_minutes"]) for x in rows], [
        ("2026-11-02", "facebook", "12:31", "13:11", "40"),
        ("2026-11-02", "instagram", "12:31", "12:32", "1"),
        ("2026-11-03", "instagram", "14:00", "14:20", "20")],
       'the (day, platform, start, end, active_minutes) rows (rows = %r)' % (rows,))
    # a name is escaped wherever it is shown
    r, page = get("/user?name=%3Cb%3Ex%22%0A%3C3%3Eforged")
    check(r.status == 200 and "<b>x" not in page and "&lt;b&gt;x&quot;" in page,
          'expected r.status == 200 and "<b>x" not in page and "&lt;b&gt;x&quot;" in page')


def test_csrf_refused():
    before = presence_rows()
    cookies = {"bt_session": SESSION["id"]}
    r, d = request("POST", "/presence", {"state": "on"}, cookies)
    eq(r.status, 403, 'r.status')
    r, d = request("POST", "/presence", {"state": "on", "csrf": "0" * 64}, cookies)
    eq(r.status, 403, 'r.status')
    r, page = get("/presence")
    token = csrf_of(page)
    r, d = request("POST", "/presence", {"state": "on", "csrf": token[:-1] + "x"}, cookies)
    eq(r.status, 403, 'r.status')
    eq(presence_rows(), before, 'presence_rows()')


def test_presence_toggle():
    r, page = get("/presence")
    check(r.status == 200 and '<select name="state">' in page,
          'expected r.status == 200 and \'<select name="state">\' in page')
    before = presence_rows()
    r, d = request("POST", "/presence", {"state": "on", "until": "", "csrf": csrf_of(page)},
                   {"bt_session": SESSION["id"]})
    check(r.status == 303 and r.getheader("Location") == "/presence",
          'expected r.status == 303 and r.getheader("Location") == "/presence" (r.status = %r)' % (r.status,))
    after = presence_rows()
    check(after[:-1] == before and after[-1] == ("on", "root (breaktime web)", "web"),
          'expected after[:-1] == before and after[-1] == ("on", "root (breaktime web)", "web") '
          '(after[-1] = %r)' % (after[-1],))
    r, page = get("/presence")
    check("Students present now: <strong>yes</strong> (set by hand)" in page,
          'expected "Students present now: <strong>yes</strong> (set by hand)" in page (page = %r)' % (page,))
    # what breaktime presence (and so breaktimed) reads
    p = subprocess.run([BIN, "-c", CONF, "presence"], capture_output=True, text=True, timeout=60)
    check("last change: on" in p.stdout and "by root (breaktime web)" in p.stdout,
          'expected "last change: on" in p.stdout and "by root (breaktime web)" in p.stdout '
          '(p.stdout = %r)' % (p.stdout,))
    check("students present now: yes (override)" in p.stdout,
          'expected "students present now: yes (override)" in p.stdout (p.stdout = %r)' % (p.stdout,))
    r, d = request("POST", "/presence", {"state": "off", "until": "25:00", "csrf": csrf_of(page)},
                   {"bt_session": SESSION["id"]})
    check(r.status == 400 and presence_rows() == after, 'expected r.status == 400 and presence_rows() == after')
    # off until a time: the override's expiry is recorded (today or tomorrow at HH:MM)
    until = (datetime.now(ZoneInfo("Europe/London")) + timedelta(hours=1)).strftime("%H:%M")
    r, d = request("POST", "/presence", {"state": "off", "until": until, "csrf": csrf_of(page)},
                   {"bt_session": SESSION["id"]})
    eq(r.status, 303, 'r.status')
    db = sqlite3.connect(DB)
    state, expires = db.execute("SELECT state, expires_ms FROM presence ORDER BY id DESC").fetchone()
    db.close()
    left = expires / 1000 - time.time()
    check(state == "off" and 0 < left <= 3600,
          'expected state == "off" and 0 < left <= 3600 (state, left = %r)' % ((state, left),))
    r, page = get("/presence")
    check("Students present now: <strong>no</strong> (set by hand), until " in page,
          'expected "Students present now: <strong>no</strong> (set by hand), until " in page (page = '
          '%r)' % (page,))
    r, d = request("POST", "/presence", {"state": "auto", "csrf": csrf_of(page)},
                   {"bt_session": SESSION["id"]})
    check(r.status == 303 and presence_rows()[-1] == ("auto", "root (breaktime web)", "web"),
          'expected r.status == 303 and presence_rows()[-1] == ("auto", "root (breaktime web)", "web")')


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    raise TestFailure("chromium is not installed (tools/deps.sh TEST_PACKAGES installs it)")


def browse(url, *extra):
    prof = tempfile.mkdtemp(prefix="chromium-", dir=TMP)
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--ignore-certificate-errors",
           "--user-data-dir=" + prof, "--window-size=1200,1600"] + list(extra) + [url]
    env = dict(os.environ, HOME=prof)
    p = subprocess.run(cmd, capture_output=True, timeout=120, env=env, cwd=TMP)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def test_chromium_renders_the_report():
    # the logged-in page, saved with its stylesheet beside it (the page links "style.css")
    out = ART or TMP
    os.makedirs(out, exist_ok=True)
    r, page = get("/excessive?" + WEEK)
    saved = os.path.join(out, "web-excessive.html")
    with open(saved, "w") as f:
        f.write(page)
    r, css = request("GET", "/style.css")
    with open(os.path.join(out, "style.css"), "wb") as f:
        f.write(css)
    png = os.path.join(out, "web-excessive.png")
    if os.path.exists(png):
        os.unlink(png)
    rc, _, err = browse("file://" + saved, "--screenshot=" + png)
    check(rc == 0 and os.path.exists(png),
          'expected rc == 0 and os.path.exists(png) (rc, err[-2000:] = %r)' % ((rc, err[-2000:]),))
    with open(png, "rb") as f:
        head = f.read(24)
    eq(head[:8], b"\x89PNG\r\n\x1a\n", 'head[:8] (head = %r)' % (head,))
    w, h = struct.unpack(">II", head[16:24])
    check((w, h) == (1200, 1600) and os.path.getsize(png) > 30000,
          'expected (w, h) == (1200, 1600) and os.path.getsize(png) > 30000 '
          '(w, h, os.path.getsize(png) = %r)' % ((w, h, os.path.getsize(png)),))
    rc, dom, err = browse("file://" + saved, "--dump-dom")
    eq(rc, 0, 'rc (rc, err[-2000:] = %r)' % ((rc, err[-2000:]),))
    check("<svg" in dom and "<rect" in dom,
          'expected "<svg" in dom and "<rect" in dom (dom[:2000] = %r)' % (dom[:2000],))
    for element in ['<form class="filters" method="get" action="/excessive">', 'name="from"',
                    'name="to"', '<select name="group">', 'type="checkbox"', '<button type="submit">',
                    'action="/logout"']:
        check(element in dom, 'expected element in dom (element = %r)' % (element,))
    check("alice" in dom and "victor" in dom, 'expected "alice" in dom and "victor" in dom')
    print("    screenshot: %s (%d bytes)" % (png, os.path.getsize(png)))


class Relay(http.server.BaseHTTPRequestHandler):
    """Plain HTTP on loopback -> breaktime web, adding the session cookie: Chromium then loads
    the live pages with their real headers (the CSP above all) without a login form to fill."""

    def do_GET(self):
        tamper = self.path.startswith("/tamper/")  # the control: a style our CSP must block
        r, d = request("GET", self.path[7:] if tamper else self.path,
                       cookies={"bt_session": SESSION["id"]})
        if tamper:
            d = d.replace(b"<main>", b"<main><style>h1{color:red}</style>", 1)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date",
                                 "strict-transport-security"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(d)))
        self.end_headers()
        self.wfile.write(d)

    def log_message(self, *args):
        pass


def test_chromium_live_page_under_its_csp():
    out = ART or TMP
    relay = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    png = os.path.join(out, "web-excessive-live.png")
    if os.path.exists(png):
        os.unlink(png)
    try:
        url = "http://127.0.0.1:%d/excessive?%s" % (relay.server_address[1], WEEK)
        rc, _, err = browse(url, "--screenshot=" + png, "--enable-logging=stderr", "--v=0")
        check(rc == 0 and os.path.exists(png) and os.path.getsize(png) > 30000,
              'expected rc == 0 and os.path.exists(png) and os.path.getsize(png) > 30000 '
              '(rc, err[-2000:] = %r)' % ((rc, err[-2000:]),))
        # nothing of ours was blocked: the stylesheet and the report's inline style are allowed
        check("Content Security Policy" not in err,
              'expected "Content Security Policy" not in err (the lines naming it: %r)'
              % ([l for l in err.splitlines() if "Policy" in l],))
        rc, dom, err = browse(url, "--dump-dom")
        check(rc == 0 and "<svg" in dom and '<select name="group">' in dom,
              'expected rc == 0 and "<svg" in dom and \'<select name="group">\' in dom '
              '(rc, err[-2000:] = %r)' % ((rc, err[-2000:]),))
        # the control: the same page with one stray inline style is blocked, and says so
        rc, _, err = browse(url.replace("/excessive", "/tamper/excessive"), "--dump-dom",
                            "--enable-logging=stderr", "--v=0")
        check(rc == 0 and "Content Security Policy" in err,
              'expected rc == 0 and "Content Security Policy" in err (err[-2000:] = %r)' % (err[-2000:],))
    finally:
        relay.shutdown()
        relay.server_close()


def test_logout():
    r, page = get("/")
    r, d = request("POST", "/logout", {"csrf": csrf_of(page)}, {"bt_session": SESSION["id"]})
    check(r.status == 303 and r.getheader("Location") == "/login",
          'expected r.status == 303 and r.getheader("Location") == "/login"')
    eq(set_cookies(r)["bt_session"][0], "", 'set_cookies(r)["bt_session"][0]')
    r, d = get("/")
    check(r.status == 303 and r.getheader("Location") == "/login",
          'expected r.status == 303 and r.getheader("Location") == "/login"')


def test_session_expires_and_ipv6():
    # a second server, on [::1], whose sessions last 2 s
    global PORT, HOST
    port = free_port()
    conf = os.path.join(TMP, "short.conf")
    with open(CONF) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("127.0.0.1:%d" % PORT, "[::1]:%d" % port)
                .replace("session_timeout = 1h", "session_timeout = 2s"))
    log = open(os.path.join(TMP, "short.log"), "w")
    p = subprocess.Popen([BIN, "-c", conf, "web"], stdout=log, stderr=log)
    saved = PORT
    try:
        PORT, HOST = port, "::1"
        for _ in range(100):
            try:
                socket.create_connection(("::1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        r, d = login(ADMIN, ADMIN_PW, src="::1")
        value, attrs = set_cookies(r)["bt_session"]
        check("Max-Age=2" in attrs, 'expected "Max-Age=2" in attrs (attrs = %r)' % (attrs,))
        r, d = request("GET", "/", cookies={"bt_session": value}, src="::1")
        eq(r.status, 200, 'r.status')
        time.sleep(2.5)
        r, d = request("GET", "/", cookies={"bt_session": value}, src="::1")
        check(r.status == 303 and r.getheader("Location") == "/login",
              'expected r.status == 303 and r.getheader("Location") == "/login" (r.status = %r)' % (r.status,))
        # the login limit over IPv6 (counted per /64)
        for _ in range(3):
            r, d = login(ADMIN, "wrong", src="::1")
            eq(r.status, 401, 'r.status')
        r, d = login(ADMIN, ADMIN_PW, src="::1")
        eq(r.status, 429, 'r.status')
    finally:
        PORT, HOST = saved, "127.0.0.1"
        p.terminate()
        rc = p.wait(timeout=30)
        log.close()
    text = open(os.path.join(TMP, "short.log")).read()
    check(rc == 0 and "Sanitizer" not in text and "runtime error" not in text,
          'expected rc == 0 and "Sanitizer" not in text and "runtime error" not in text (rc, '
          'text = %r)' % ((rc, text),))
    check("login refused for root (wrong user name or password)" in text,
          'expected "login refused for root (wrong user name or password)" in text (text = %r)' % (text,))


def test_login_limit():
    src = "127.0.0.4"
    for _ in range(3):  # [web] login_attempts = 3
        r, d = login(ADMIN, "wrong", src=src)
        eq(r.status, 401, 'r.status')
    r, d = login(ADMIN, ADMIN_PW, src=src)  # even the right password, for a minute
    check(r.status == 429 and r.getheader("Retry-After") == "60",
          'expected r.status == 429 and r.getheader("Retry-After") == "60" (r.status = %r)' % (r.status,))
    check("bt_session" not in set_cookies(r), 'expected "bt_session" not in set_cookies(r)')
    r, d = login(ADMIN, ADMIN_PW, src="127.0.0.5")  # another address is not affected
    eq(r.status, 303, 'r.status')


# ---- SIGHUP, the [auth] helper, connection limits ----

def extra_server(name, replace=(), append=""):
    """A second `breaktime web` on its own port from CONF edited: (process, port, log path)."""
    port = free_port()
    conf = os.path.join(TMP, name + ".conf")
    with open(CONF) as f:
        text = f.read().replace("127.0.0.1:%d" % PORT, "127.0.0.1:%d" % port)
    for a, b in replace:
        check(a in text, 'expected a in text (a = %r)' % (a,))
        text = text.replace(a, b)
    with open(conf, "w") as f:
        f.write(text + append)
    logpath = os.path.join(TMP, name + ".log")
    log = open(logpath, "w")
    p = subprocess.Popen([BIN, "-c", conf, "web"], stdout=log, stderr=log)
    log.close()
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port, logpath
        except OSError:
            if p.poll() is not None:
                raise TestFailure("breaktime web exited: " + open(logpath).read())
            time.sleep(0.1)
    p.kill()
    raise TestFailure("breaktime web did not start: " + open(logpath).read())


def stop_server(p, logpath):
    p.terminate()
    rc = p.wait(timeout=30)
    text = open(logpath).read()
    check(rc == 0 and "Sanitizer" not in text and "runtime error" not in text,
          'expected rc == 0 and "Sanitizer" not in text and "runtime error" not in text (rc, '
          'text = %r)' % ((rc, text),))
    return text


def wait_log(path, needle, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        text = open(path).read()
        if needle in text:
            return text
        time.sleep(0.05)
    raise TestFailure("no %r in the log:\n%s" % (needle, open(path).read()))


def peer_cert(port=None):
    with socket.create_connection(("127.0.0.1", port or PORT), timeout=10) as s:
        with CTX.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def test_sighup_reloads_the_certificate_keeping_sessions():
    r, d = login(ADMIN, ADMIN_PW, src="127.0.0.6")
    eq(r.status, 303, 'r.status')
    cookie = set_cookies(r)["bt_session"][0]
    # a connection open before the reload, kept alive across it
    old_conn = http.client.HTTPSConnection(HOST, PORT, context=CTX, timeout=30)
    old_conn.request("GET", "/", headers={"Cookie": "bt_session=" + cookie})
    old_resp = old_conn.getresponse()
    old_resp.read()
    eq(old_resp.status, 200, 'old_resp.status')
    before = peer_cert()
    cert, key = os.path.join(TMP, "cert.pem"), os.path.join(TMP, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key + ".new",
                    "-out", cert + ".new", "-days", "2", "-subj", "/CN=reloaded.localhost"],
                   check=True, capture_output=True)
    new_der = ssl.PEM_cert_to_DER_cert(open(cert + ".new").read())
    check(new_der != before, 'expected new_der != before')
    os.replace(key + ".new", key)
    os.replace(cert + ".new", cert)
    SERVER.send_signal(1)  # SIGHUP
    wait_log(LOG, "configuration reloaded")
    check(SERVER.poll() is None, 'expected SERVER.poll() is None')
    eq(peer_cert(), new_der, 'peer_cert()')  # a new connection: the new certificate
    r, d = request("GET", "/", cookies={"bt_session": cookie})
    eq(r.status, 200, 'r.status')  # the session outlived the reload
    old_conn.request("GET", "/", headers={"Cookie": "bt_session=" + cookie})
    old_resp = old_conn.getresponse()
    old_resp.read()
    eq(old_resp.status, 200, 'old_resp.status')  # and so did the open connection
    old_conn.close()
    SESSION["reload"] = cookie


def test_sighup_bad_config_keeps_the_old_one():
    with open(CONF) as f:
        good = f.read()
    bad_line = good.count("\n") + 2
    try:
        with open(CONF, "a") as f:
            f.write("[web]\nmax_connections = lots\n")
        SERVER.send_signal(1)
        text = wait_log(LOG, "reload refused: the configuration above has errors")
        check("%s:%d:" % (CONF, bad_line) in text and "max_connections" in text,
              'expected "%%s:%%d:" %% (CONF, bad_line) in text and "max_connections" in text (text = %r)' % (text,))
        time.sleep(0.2)
        check(SERVER.poll() is None, 'expected SERVER.poll() is None')
        r, d = request("GET", "/", cookies={"bt_session": SESSION["reload"]})
        eq(r.status, 200, 'r.status')
        # a certificate that cannot be read: refused too, the old one serves on
        with open(CONF, "w") as f:
            f.write(good.replace(os.path.join(TMP, "cert.pem"), os.path.join(TMP, "none.pem")))
        SERVER.send_signal(1)
        wait_log(LOG, "reload refused: see above")
        check("none.pem: cannot use it" in open(LOG).read(), 'expected "none.pem: cannot use it" in open(LOG).read()')
        check(SERVER.poll() is None, 'expected SERVER.poll() is None')
        r, d = request("GET", "/", cookies={"bt_session": SESSION["reload"]})
        eq(r.status, 200, 'r.status')
    finally:
        with open(CONF, "w") as f:
            f.write(good)


NCSA = "/usr/lib/squid/basic_ncsa_auth"  # squid (tools/deps.sh TEST_PACKAGES)


def test_login_through_the_auth_helper():
    check(os.access(NCSA, os.X_OK), NCSA + " is missing: apt-get install squid")
    users = os.path.join(TMP, "users.htpasswd")
    p, port, logpath = extra_server(
        "helper", [("htpasswd = " + users, "helper = %s %s" % (NCSA, users))])
    global PORT
    saved = PORT
    try:
        PORT = port
        r, d = login(ADMIN, "wrong", src="127.0.0.7")
        eq(r.status, 401, 'r.status')
        check("bt_session" not in set_cookies(r), 'expected "bt_session" not in set_cookies(r)')
        r, d = login("alice", STAFF_PW, src="127.0.0.7")  # right password, not an admin
        eq(r.status, 403, 'r.status')
        t0 = time.monotonic()
        r, d = login(ADMIN, ADMIN_PW, src="127.0.0.7")
        eq(r.status, 303, 'r.status (r.status, d = %r)' % ((r.status, d),))
        print("     login through basic_ncsa_auth (bcrypt): %.3f s (form and POST)"
              % (time.monotonic() - t0))
        cookie = set_cookies(r)["bt_session"][0]
        r, d = request("GET", "/", cookies={"bt_session": cookie})
        eq(r.status, 200, 'r.status')
    finally:
        PORT = saved
        text = stop_server(p, logpath)
    check("root logged in" in text and "login refused for root (wrong" in text,
          'expected "root logged in" in text and "login refused for root (wrong" in text (text = %r)' % (text,))
    check("login refused for alice (not in the admin group)" in text,
          'expected "login refused for alice (not in the admin group)" in text (text = %r)' % (text,))
    check(ADMIN_PW not in text and STAFF_PW not in text, 'expected ADMIN_PW not in text and STAFF_PW not in text')


def test_hung_auth_helper_does_not_freeze_the_ui():
    hung = os.path.join(TMP, "hung_helper.py")
    with open(hung, "w") as f:
        f.write("import sys, time\nsys.stdin.readline()\ntime.sleep(3600)\n")
    users = os.path.join(TMP, "users.htpasswd")
    p, port, logpath = extra_server(
        "hung", [("htpasswd = " + users, "helper = %s %s" % (sys.executable, hung))])
    global PORT
    saved = PORT
    result = {}
    try:
        PORT = port
        token = login_form("127.0.0.8")

        def slow_login():
            t0 = time.monotonic()
            r, d = request("POST", "/login", {"csrf": token, "user": ADMIN, "password": ADMIN_PW},
                           {"bt_login": token}, src="127.0.0.8")
            result["status"], result["took"] = r.status, time.monotonic() - t0

        th = threading.Thread(target=slow_login)
        th.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        for _ in range(3):  # the UI answers while the helper hangs
            r, d = request("GET", "/login")
            eq(r.status, 200, 'r.status')
        fast = time.monotonic() - t0
        th.join(timeout=30)
        check(fast < 1.5, 'expected fast < 1.5 (fast = %r)' % (fast,))
        check(result.get("status") == 503 and 4 <= result["took"] < 9,
              'expected result.get("status") == 503 and 4 <= result["took"] < 9 (result = %r)' % (result,))
        print("     hung helper: 3 GET /login in %.3f s meanwhile; the login 503 after %.2f s"
              % (fast, result["took"]))
    finally:
        PORT = saved
        text = stop_server(p, logpath)
    check("did not answer in 5 s" in text, 'expected "did not answer in 5 s" in text (text = %r)' % (text,))


def test_connection_limit_and_request_deadline():
    p, port, logpath = extra_server("limits", append="max_connections = 2\nidle_timeout = 2s\n")
    try:
        # two silent connections fill [web] max_connections = 2
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        time.sleep(0.3)
        third = socket.create_connection(("127.0.0.1", port), timeout=1)  # the kernel's backlog
        try:
            CTX.wrap_socket(third)
            raise TestFailure("a third connection was served over max_connections = 2")
        except (socket.timeout, TimeoutError):
            pass
        third.close()
        # idle_timeout = 2s closes the silent ones (no request, no handshake)...
        t0 = time.monotonic()
        for s in idle:
            s.settimeout(10)
            eq(s.recv(1), b"", 's.recv(1)')
        took = time.monotonic() - t0
        check(took < 4, 'expected took < 4 (took = %r)' % (took,))
        print("     2 silent connections closed %.2f s after the third gave up" % took)
        # ...and then a new connection is served at once
        check(peer_cert(port), 'expected peer_cert(port)')
        # slowloris: a request trickling in a byte every 0.4 s is cut at 2 s all the same
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            t = CTX.wrap_socket(raw)
            t0 = time.monotonic()
            closed = False
            for ch in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
                try:
                    t.send(bytes([ch]))
                except OSError:
                    closed = True
                    break
                time.sleep(0.4)
                if time.monotonic() - t0 > 8:
                    break
            if not closed:
                t.settimeout(5)
                try:
                    closed = t.recv(1) == b""
                except OSError:
                    closed = True
            took = time.monotonic() - t0
            check(closed and took < 5, 'expected closed and took < 5 (closed, took = %r)' % ((closed, took),))
            print("     slowloris (a byte every 0.4 s) cut after %.2f s" % took)
        # a keep-alive client that asks in time is served twice on one connection
        c = http.client.HTTPSConnection("127.0.0.1", port, context=CTX, timeout=10)
        for _ in range(2):
            c.request("GET", "/login")
            r = c.getresponse()
            r.read()
            eq(r.status, 200, 'r.status')
            time.sleep(0.5)
        c.close()
    finally:
        text = stop_server(p, logpath)
    check("2 connections open ([web] max_connections)" in text,
          'expected "2 connections open ([web] max_connections)" in text (text = %r)' % (text,))


def test_passwords_never_logged():
    SERVER.terminate()
    eq(SERVER.wait(timeout=30), 0, 'SERVER.wait(timeout=30)')
    log = open(LOG).read()
    for pw in [ADMIN_PW, STAFF_PW, "not the password", NOT_A_NAME]:
        check(pw not in log, 'expected pw not in log (log = %r)' % (log,))
    check("root logged in" in log and "login refused for alice (not in the admin group)" in log,
          'expected "root logged in" in log and "login refused for alice (not in the admin group)" in '
          'log (log = %r)' % (log,))
    check("login refused for an unknown user (wrong user name or password)" in log,
          'expected "login refused for an unknown user (wrong user name or password)" in log (log = %r)' % (log,))
    check("timeline of <b>x\"?<3>forged " in log,
          'expected "timeline of <b>x\\"?<3>forged " in log')  # escaped in pages, one line in the log
    r = re.compile(r"[^\x20-\x7e\n]")
    check(not r.search(log), 'expected not r.search(log) (r.findall(log) = %r)' % (r.findall(log),))
    check("runtime error" not in log and "Sanitizer" not in log,
          'expected "runtime error" not in log and "Sanitizer" not in log (log = %r)' % (log,))


class WebContext(Context):
    """TMP; at the end the server is ended, and its log printed when a test failed."""

    def close(self):
        if SERVER and SERVER.poll() is None:
            SERVER.kill()
            SERVER.wait()
        if self.failures:
            print("server log:\n" + open(LOG).read() if os.path.exists(LOG) else "")
        return super().close()


if __name__ == "__main__":
    harness.run(globals(), context=lambda: WebContext(TMP), filters=sys.argv[4:], against=BIN, time_limit=300)
