#!/usr/bin/env python3
"""
test_cli: the `breaktime` command end to end (issue 3): the real binary,
temporary configuration files, its outputs and exit codes.

    test_cli.py BREAKTIME_BINARY SOURCE_ROOT

Run by `meson test` (suite integration) on the integration runner
(harness_run): every test_* function in order, one line each, then
"N passed, N failed, N skipped"; more arguments: run only the tests whose
name contains one.
"""

import json
import os
import subprocess
import sys
import tempfile

from harness import Context, check, eq
import harness

BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/reports/breaktime"
ROOT = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "."
TMP = tempfile.mkdtemp(prefix="bt-cli-")

PLATFORMS = """\
facebook social facebook.com fbcdn.net
instagram social instagram.com cdninstagram.com
youtube video youtube.com ytimg.com youtu.be
x social x.com twitter.com t.co
"""

SITE = """\
[proxy]
listen = 127.0.0.1:3128
[store]
database = {tmp}/bt.db
[site]
timezone = Europe/London
closed = 2026-05-04, 2026-12-21..2027-01-04
[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30, 13:15-15:30
breaks = mon-fri 10:30-10:45, 12:30-13:15
non_directed = mon-fri 15:30-17:30
late = sun 00:30-03:00
[catalog]
platforms = {tmp}/platforms.list
[group staff]
members = alice, bob
allowance = 30m
break_allowance = 10m
over_allowance = warn
sanctioned = youtube
[group comms]
members = carol
platforms = facebook, x
[group night]
members = nina
social = late
"""


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(*args, cwd=None):
    p = subprocess.run([BIN] + list(args), capture_output=True, text=True, cwd=cwd, timeout=30)
    return p.returncode, p.stdout, p.stderr


def site():
    return write("site.conf", SITE.format(tmp=TMP))


def explain_json(*args):
    rc, out, err = run("-c", site(), "explain", *args, "--json")
    eq(rc, 0, 'rc (rc, out, err = %r)' % ((rc, out, err),))
    return json.loads(out)


# ---- usage ----

def test_usage():
    rc, out, err = run()
    check(rc == 2 and "usage:" in err, 'expected rc == 2 and "usage:" in err (rc, err = %r)' % ((rc, err),))
    rc, out, err = run("--help")
    check(rc == 0 and "explain USER HOST" in out, 'expected rc == 0 and "explain USER HOST" in out')
    rc, out, err = run("--version")
    check(rc == 0 and out.startswith("breaktime "),
          'expected rc == 0 and out.startswith("breaktime ") (out = %r)' % (out,))
    rc, out, err = run("-c", site(), "frobnicate")
    check(rc == 2 and "unknown command `frobnicate`" in err,
          'expected rc == 2 and "unknown command `frobnicate`" in err (err = %r)' % (err,))
    rc, out, err = run("-c", site(), "check", "extra")
    eq(rc, 2, 'rc')


# ---- check ----

def test_check_shipped_sample():
    # the sample works as shipped, from the top of the source tree
    rc, out, err = run("-c", "config/breaktime.conf", "check", cwd=ROOT)
    eq(rc, 0, 'rc (rc, out, err = %r)' % ((rc, out, err),))
    check(out.startswith("config/breaktime.conf: ok (time zone Europe/London;"),
          'expected out.startswith("config/breaktime.conf: ok (time zone Europe/London;") (out = %r)' % (out,))
    eq(err, "", 'err')


def test_check_ok():
    rc, out, err = run("-c", site(), "check")
    eq(rc, 0, 'rc (rc, out, err = %r)' % ((rc, out, err),))
    check(out.endswith(": ok (time zone Europe/London; 4 windows, 2 closed periods; 7 groups, "
                      "4 members; 10 catalog domains)\n"),
          'expected out.endswith(": ok (time zone Europe/London; 4 windows, 2 closed periods; 7 '
          'groups, " "4 members; 10 catalog domains)\\n") (out = %r)' % (out,))


def test_check_lists_every_error():
    path = write("bad.conf", """\
[proxy]
workers = lots
[site]
timezone = Europe/Londn
[schedule]
breaks = mon-fri 10:30-10:45
[group staff]
alowance = 30m
social = !students & brakes
[auth]
default_group = staf
[prxy]
listen = 127.0.0.1:3128
""")
    rc, out, err = run("-c", path, "check")
    eq(rc, 1, 'rc (rc, out, err = %r)' % ((rc, out, err),))
    eq(out, "", 'out')
    lines = err.strip().split("\n")
    want = [
        path + ":2: workers: `lots` is not a number from 0 to 256",
        path + ":8: unknown key `alowance` in [group staff]: did you mean `allowance`?",
        path + ":13: unknown section [prxy]: did you mean [proxy]?",
        path + ":4: timezone: unknown time zone `Europe/Londn`",
        path + ":9: social: `brakes` is not a [schedule] window",
        path + ":11: default_group: no group `staf`: did you mean `staff`?",
    ]
    eq(len(lines), len(want) + 1, 'len(lines) (lines = %r)' % (lines,))
    for got, w in zip(lines, want):
        check(got.startswith(w), 'expected got.startswith(w) (got, w = %r)' % ((got, w),))
    eq(lines[-1], "breaktime: %s: 6 errors" % path, 'lines[-1]')


def test_check_missing_file():
    rc, out, err = run("-c", os.path.join(TMP, "nope.conf"), "check")
    check(rc == 1 and "nope.conf: cannot open" in err,
          'expected rc == 1 and "nope.conf: cannot open" in err (rc, err = %r)' % ((rc, err),))


def test_check_warning():
    path = write("warn.conf", "[schedule]\nbrakes = mon 10:00-10:15\n[catalog]\nplatforms = %s/platforms.list\n" % TMP)
    rc, out, err = run("-c", path, "check")
    eq(rc, 0, 'rc (rc, err = %r)' % ((rc, err),))
    check("warning: " in err and "does not define all of its windows" in err,
          'expected "warning: " in err and "does not define all of its windows" in err (err = %r)' % (err,))


def test_check_unknown_platform():
    path = write("plat.conf", "[catalog]\nplatforms = %s/platforms.list\n[group staff]\nsanctioned = youtub\n" % TMP)
    rc, out, err = run("-c", path, "check")
    eq(rc, 1, 'rc')
    check(path + ":4: sanctioned: unknown platform `youtub`: did you mean `youtube`?" in err,
          'expected path + ":4: sanctioned: unknown platform `youtub`: did you mean `youtube`?" in err '
          '(err = %r)' % (err,))


# ---- classify ----

def test_classify():
    rc, out, err = run("-c", site(), "classify", "www.facebook.com", "scontent-lhr8-1.xx.fbcdn.net",
                       "notfacebook.com", "facebook.com.example.net", "WWW.YouTube.COM.", "x.com:443",
                       "192.0.2.1", "example.org")
    eq(rc, 0, 'rc (rc, err = %r)' % ((rc, err),))
    eq(out.split("\n")[:-1], [
        "www.facebook.com\tfacebook\tsocial",
        "scontent-lhr8-1.xx.fbcdn.net\tfacebook\tsocial",
        "notfacebook.com\t-",
        "facebook.com.example.net\t-",
        "WWW.YouTube.COM.\tyoutube\tvideo",
        "x.com:443\tx\tsocial",
        "192.0.2.1\t-",
        "example.org\t-",
    ], 'out.split("\\n")[:-1] (out = %r)' % (out,))


def test_classify_invalid():
    rc, out, err = run("-c", site(), "classify", "www.facebook.com", "bad host")
    eq(rc, 1, 'rc')
    eq(out, "www.facebook.com\tfacebook\tsocial\nbad host\t-\n", 'out')
    check("`bad host` is not a valid host name" in err, 'expected "`bad host` is not a valid host name" in err')


def test_classify_shipped_list():
    rc, out, err = run("-c", "config/breaktime.conf", "classify", "www.instagram.com", "www.tiktok.com",
                       "web.whatsapp.com", "www.bbc.co.uk", cwd=ROOT)
    eq(rc, 0, 'rc (err = %r)' % (err,))
    rows = [l.split("\t") for l in out.strip().split("\n")]
    check(rows[0][1] == "instagram" and rows[1][1] == "tiktok" and rows[2][1] == "whatsapp",
          'expected rows[0][1] == "instagram" and rows[1][1] == "tiktok" and rows[2][1] == "whatsapp" '
          '(rows = %r)' % (rows,))
    eq(rows[3], ["www.bbc.co.uk", "-"], 'rows[3] (rows = %r)' % (rows,))


def test_classify_needs_hosts():
    rc, out, err = run("-c", site(), "classify")
    eq(rc, 2, 'rc')


# ---- explain ----

def test_explain_break():
    j = explain_json("alice", "www.facebook.com", "--at", "2026-03-30 10:35")
    for key in ("user", "group", "host", "platform", "verdict", "reason", "until"):
        check(key in j, 'expected key in j (key = %r)' % (key,))
    check(j["user"] == "alice" and j["group"] == "staff" and j["host"] == "www.facebook.com",
          'expected j["user"] == "alice" and j["group"] == "staff" and j["host"] == "www.facebook.com"')
    check(j["platform"] == "facebook" and j["category"] == "social",
          'expected j["platform"] == "facebook" and j["category"] == "social"')
    check(j["verdict"] == "allow" and j["reason"] == "allowed",
          'expected j["verdict"] == "allow" and j["reason"] == "allowed" (j = %r)' % (j,))
    eq(j["at"], "2026-03-30T10:35:00+01:00", 'j["at"]')
    eq(j["until"], "2026-03-30T10:45:00+01:00", 'j["until"]')
    eq(j["then"], {"verdict": "block", "reason": "outside-allowed-time"}, 'j["then"]')
    check(j["windows"] == ["breaks"] and j["students_present"] is False,
          'expected j["windows"] == ["breaks"] and j["students_present"] is False')


def test_explain_lesson():
    j = explain_json("alice", "www.facebook.com", "--at", "2026-03-30 09:30")
    eq((j["verdict"], j["reason"], j["until"]), ("block", "outside-allowed-time", "2026-03-30T10:30:00+01:00"),
       '(j["verdict"], j["reason"], j["until"]) (j = %r)' % (j,))
    check(j["students_present"] is True and j["presence_source"] == "timetable",
          'expected j["students_present"] is True and j["presence_source"] == "timetable"')


def test_explain_students_override():
    j = explain_json("alice", "www.facebook.com", "--at", "2026-03-30 10:35", "--students", "yes")
    eq((j["verdict"], j["reason"], j["until"]), ("block", "students-present", None),
       '(j["verdict"], j["reason"], j["until"]) (j = %r)' % (j,))
    eq(j["presence_source"], "override", 'j["presence_source"]')
    j = explain_json("alice", "www.facebook.com", "--at", "2026-03-30 09:35", "--students", "no")
    eq((j["verdict"], j["reason"]), ("block", "outside-allowed-time"),
       '(j["verdict"], j["reason"]) (j = %r)' % (j,))


def test_explain_sanctioned():
    j = explain_json("bob", "m.youtube.com", "--at", "2026-03-30 09:35")
    eq((j["verdict"], j["reason"], j["until"]), ("allow", "sanctioned", "2026-03-30T17:30:00+01:00"),
       '(j["verdict"], j["reason"], j["until"]) (j = %r)' % (j,))


def test_explain_allowance():
    j = explain_json("alice", "www.facebook.com", "--at", "2026-03-30 10:35", "--used", "29")
    eq((j["verdict"], j["reason"]), ("allow", "allowed"), '(j["verdict"], j["reason"]) (j = %r)' % (j,))
    eq(j["used_break"], 5, 'j["used_break"] (j = %r)' % (j,))  # no more than the 5 minutes the break has lasted
    j = explain_json("alice", "www.facebook.com", "--at", "2026-03-30 10:35", "--used", "30")
    eq((j["verdict"], j["reason"], j["until"]), ("warn", "allowance-exhausted", "2026-03-30T10:45:00+01:00"),
       '(j["verdict"], j["reason"], j["until"]) (j = %r)' % (j,))
    j = explain_json("alice", "www.facebook.com", "--at", "2026-03-30 10:44", "--used", "12")
    eq((j["verdict"], j["reason"]), ("warn", "allowance-exhausted"), '(j["verdict"], j["reason"]) (j = %r)' % (j,))
    j = explain_json("alice", "www.facebook.com", "--at", "2026-03-30 10:44", "--used", "12", "--used-break", "3")
    eq((j["verdict"], j["reason"]), ("allow", "allowed"), '(j["verdict"], j["reason"]) (j = %r)' % (j,))
    check(j["allowance"] == 30 and j["break_allowance"] == 10 and j["over_allowance"] == "warn",
          'expected j["allowance"] == 30 and j["break_allowance"] == 10 and j["over_allowance"] == "warn"')


def test_explain_organisational():
    j = explain_json("carol", "twitter.com", "--at", "2026-03-30 09:35")
    eq((j["verdict"], j["reason"], j["until"]), ("allow", "organisational", None),
       '(j["verdict"], j["reason"], j["until"]) (j = %r)' % (j,))
    j = explain_json("carol", "www.instagram.com", "--at", "2026-03-30 09:35")
    eq((j["verdict"], j["reason"]), ("block", "outside-allowed-time"),
       '(j["verdict"], j["reason"]) (j = %r)' % (j,))


def test_explain_unidentified_and_not_social():
    j = explain_json("-", "www.facebook.com", "--at", "2026-03-30 10:35")
    check(j["user"] is None and j["group"] == "guests" and j["reason"] == "group-never",
          'expected j["user"] is None and j["group"] == "guests" and j["reason"] == "group-never" (j = %r)' % (j,))
    j = explain_json("alice", "www.example.org", "--at", "2026-03-30 09:35")
    eq((j["verdict"], j["reason"], j["platform"], j["until"]), ("allow", "not-social", None, None),
       '(j["verdict"], j["reason"], j["platform"], j["until"]) (j = %r)' % (j,))


def test_explain_closed():
    j = explain_json("alice", "www.facebook.com", "--at", "2026-12-18 17:30")
    eq((j["verdict"], j["until"]), ("block", "2027-01-05T10:30:00+00:00"),
       '(j["verdict"], j["until"]) (j = %r)' % (j,))
    j = explain_json("alice", "www.facebook.com", "--at", "2026-05-04 10:35")
    eq((j["reason"], j["closed"], j["until"]), ("closed", True, "2026-05-05T10:30:00+01:00"),
       '(j["reason"], j["closed"], j["until"]) (j = %r)' % (j,))


def test_explain_dst():
    # spring forward: 01:00-02:00 does not exist on 2026-03-29
    j = explain_json("nina", "www.facebook.com", "--at", "2026-03-29 00:45")
    eq((j["verdict"], j["until"]), ("allow", "2026-03-29T03:00:00+01:00"),
       '(j["verdict"], j["until"]) (j = %r)' % (j,))
    rc, out, err = run("-c", site(), "explain", "nina", "facebook.com", "--at", "2026-03-29 01:30")
    check(rc == 2 and "does not exist in Europe/London" in err,
          'expected rc == 2 and "does not exist in Europe/London" in err (rc, err = %r)' % ((rc, err),))
    # fall back: 01:30 happens twice on 2026-10-25; the first is taken, and said so
    j = explain_json("nina", "www.facebook.com", "--at", "2026-10-25 01:30")
    eq(j["at"], "2026-10-25T01:30:00+01:00", 'j["at"] (j = %r)' % (j,))
    check("happens twice" in j["note"], 'expected "happens twice" in j["note"] (j = %r)' % (j,))
    j = explain_json("nina", "www.facebook.com", "--at", "2026-10-25T01:30+00:00")
    check(j["at"] == "2026-10-25T01:30:00+00:00" and j["until"] == "2026-10-25T03:00:00+00:00",
          'expected j["at"] == "2026-10-25T01:30:00+00:00" and j["until"] == "2026-10-25T03:00:00+00:00" '
          '(j = %r)' % (j,))
    j = explain_json("nina", "www.facebook.com", "--at", "2026-10-25T00:30:00Z")
    eq(j["at"], "2026-10-25T01:30:00+01:00", 'j["at"] (j = %r)' % (j,))


def test_explain_words():
    rc, out, err = run("-c", site(), "explain", "alice", "www.facebook.com", "--at", "2026-03-30 09:30")
    eq(rc, 0, 'rc (err = %r)' % (err,))
    check(out.startswith("BLOCKED for alice (group staff) on www.facebook.com, Mon 2026-03-30 09:30 (+01:00)"),
          'expected out.startswith("BLOCKED for alice (group staff) on www.facebook.com, Mon '
          '2026-03-30 09:30 (+01:00)") (out = %r)' % (out,))
    check("social = !students & (breaks | non_directed)" in out,
          'expected "social = !students & (breaks | non_directed)" in out')
    check("until:     Mon 2026-03-30 10:30 (+01:00), then allowed (allowed)" in out,
          'expected "until: Mon 2026-03-30 10:30 (+01:00), then allowed (allowed)" in out (out = %r)' % (out,))
    rc, out, err = run("-c", site(), "explain", "carol", "x.com", "--at", "2026-03-30 09:30")
    check("ALLOWED for carol (group comms)" in out and "no change by the clock alone" in out,
          'expected "ALLOWED for carol (group comms)" in out and "no change by the clock alone" in out '
          '(out = %r)' % (out,))


def test_explain_bad_arguments():
    s = site()
    for args, msg in [
        (["alice"], "give USER and HOST"),
        (["alice", "x.com", "extra"], "unexpected `extra`"),
        (["alice", "x.com", "--at", "tomorrow"], "is not a time like"),
        (["alice", "x.com", "--at", "2026-02-30 10:00"], "is not a time like"),
        (["alice", "x.com", "--students", "maybe"], "--students is yes or no"),
        (["alice", "x.com", "--used", "-3"], "is not a number of minutes"),
        (["alice", "x.com", "--frob"], "unknown option `--frob`"),
        (["alice", "x.com", "--at"], "--at needs a value"),
        (["alice", "bad host"], "is not a valid host name"),
    ]:
        rc, out, err = run("-c", s, "explain", *args)
        check(rc == 2 and msg in err, 'expected rc == 2 and msg in err (args, rc, err = %r)' % ((args, rc, err),))


def test_explain_bad_config():
    path = write("bad2.conf", "[group staff]\nsocial = (\n")
    rc, out, err = run("-c", path, "explain", "alice", "x.com")
    check(rc == 1 and ":2: social:" in err,
          'expected rc == 1 and ":2: social:" in err (rc, err = %r)' % ((rc, err),))


# ---- ca (the block-page CA) ----

# the 10 domains of PLATFORMS and the default visible_hostname
CA_NAMES = 11


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=30)
    eq(p.returncode, 0, "openssl %s (stderr = %r)" % (" ".join(args), p.stderr))
    return p.stdout


def make_ca(conf, name, *extra):
    d = os.path.join(TMP, name)
    rc, out, err = run("-c", conf, "ca", "create", "-o", d, *extra)
    eq(rc, 0, "ca create (rc, out, err = %r)" % ((rc, out, err),))
    return d, out


def test_ca_create():
    conf = write("ca-host.conf", SITE.format(tmp=TMP).replace(
        "[proxy]\n", "[proxy]\nvisible_hostname = proxy.school.lan\n"))
    d, out = make_ca(conf, "ca-create")
    pem, key = os.path.join(d, "breaktime-ca.pem"), os.path.join(d, "breaktime-ca.key")
    eq(oct(os.stat(key).st_mode & 0o7777), "0o600", "key mode")
    eq(oct(os.stat(pem).st_mode & 0o7777), "0o644", "certificate mode")
    check("permitting %d names (the catalog's domains and proxy.school.lan)" % CA_NAMES in out,
          "the count and the page host (out = %r)" % (out,))
    # the fingerprint printed is the certificate's
    fp = openssl("x509", "-noout", "-fingerprint", "-sha256", "-in", pem).strip().split("=", 1)[1]
    check("fingerprint: SHA-256 %s\n" % fp in out, "fingerprint %s in %r" % (fp, out))
    check("block_ca = %s\n" % pem in out and "block_ca_key = %s\n" % key in out,
          "the config lines (out = %r)" % (out,))
    for step in ("update-ca-certificates", "certutil -d sql:", "Trusted Root Certification Authorities",
                 "Certificate payload", "Google Admin console"):
        check(step in out, "deployment step %r missing (out = %r)" % (step, out))
    # what openssl reads in it: a constrained CA, 825 days by default
    text = openssl("x509", "-noout", "-text", "-in", pem)
    for want in ("X509v3 Name Constraints: critical", "DNS:proxy.school.lan", "DNS:youtu.be",
                 "DNS:t.co", "IP:0.0.0.0/0.0.0.0", "CA:TRUE, pathlen:0", "ASN1 OID: prime256v1",
                 "Certificate Sign, CRL Sign", "TLS Web Server Authentication"):
        check(want in text, "%r not in the certificate: %s" % (want, text))
    check("DNS:breaktime" not in text, "the default page host is not there when another is set")
    # a second create into the same place is refused and changes nothing
    rc, out2, err = run("-c", conf, "ca", "create", "-o", d)
    check(rc == 1 and "exists" in err, "second create (rc, err = %r)" % ((rc, err),))
    eq(openssl("x509", "-noout", "-fingerprint", "-sha256", "-in", pem).strip().split("=", 1)[1], fp,
       "fingerprint after the refused create")
    # a visible_hostname that is an address cannot be named
    conf_ip = write("ca-ip.conf", SITE.format(tmp=TMP).replace(
        "[proxy]\n", "[proxy]\nvisible_hostname = 192.168.1.1\n"))
    d3, out3 = make_ca(conf_ip, "ca-ip")
    check("permitting %d names (the catalog's domains and not visible_hostname 192.168.1.1)"
          % (CA_NAMES - 1) in out3 and "192.168.1.1 is an address" in out3, "out = %r" % (out3,))
    text = openssl("x509", "-noout", "-text", "-in", os.path.join(d3, "breaktime-ca.pem"))
    check("DNS:192.168.1.1" not in text and "IP:192.168.1.1" not in text, "the address is in the CA")
    # --days
    d2, out2 = make_ca(conf, "ca-days", "--days", "30")
    text = openssl("x509", "-noout", "-enddate", "-in", os.path.join(d2, "breaktime-ca.pem"))
    check(openssl("x509", "-noout", "-checkend", str(29 * 86400), "-in", os.path.join(d2, "breaktime-ca.pem")),
          "valid for 29 days")
    p = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(31 * 86400), "-in",
                        os.path.join(d2, "breaktime-ca.pem")], capture_output=True, timeout=30)
    eq(p.returncode, 1, "not valid for 31 days (%s)" % text)


def test_ca_check_covered_then_not():
    d, _ = make_ca(site(), "ca-check")
    pem, key = os.path.join(d, "breaktime-ca.pem"), os.path.join(d, "breaktime-ca.key")
    rc, out, err = run("-c", site(), "ca", "check", pem)
    eq(rc, 0, "ca check (out, err = %r)" % ((out, err),))
    check(out.startswith("%s: covers the catalog (%d names; the CA permits %d)" % (pem, CA_NAMES, CA_NAMES)),
          "out = %r" % (out,))
    # the catalog grows: a [catalog] list adds tiktok (and a name under a covered one)
    write("tiktok.list", "tiktok.com\nwww.tiktok.com\nm.facebook.com\n")
    grown = SITE.format(tmp=TMP).replace(
        "[catalog]\n", "[catalog]\nlists = %s/tiktok.list\nplatform = tiktok\n" % TMP).replace(
        "[proxy]\n", "[proxy]\nblock_ca = %s\nblock_ca_key = %s\n" % (pem, key))
    conf = write("ca-grown.conf", grown)
    rc, out, err = run("-c", conf, "ca", "check", pem)
    eq(rc, 1, "ca check after the catalog grew (out, err = %r)" % ((out, err),))
    check("does not cover 1 of the catalog's %d names: a catalog update may need a new CA" % (CA_NAMES + 1)
          in err and "\n  tiktok.com\n" in err and "facebook" not in err, "err = %r" % (err,))
    # without PATH: the configured one, with its key
    rc, out, err = run("-c", conf, "ca", "check")
    check(rc == 1 and "tiktok.com" in err, "ca check, configured (rc, err = %r)" % ((rc, err),))
    # breaktime check: loads it, and warns
    rc, out, err = run("-c", conf, "check")
    eq(rc, 0, "check (out, err = %r)" % ((out, err),))
    check("warning: %s does not cover 1 of the catalog's" % pem in err and "tiktok.com" in err,
          "err = %r" % (err,))
    check(": ok (" in out, "out = %r" % (out,))
    # a new CA for the grown catalog covers it
    d2, out = make_ca(conf, "ca-check-new")
    check("permitting %d names" % (CA_NAMES + 1) in out, "out = %r" % (out,))
    rc, out, err = run("-c", conf, "ca", "check", os.path.join(d2, "breaktime-ca.pem"))
    eq(rc, 0, "the new CA (err = %r)" % (err,))


def test_ca_configured_problems():
    d, _ = make_ca(site(), "ca-bad")
    d2, _ = make_ca(site(), "ca-other")
    pem, key = os.path.join(d, "breaktime-ca.pem"), os.path.join(d, "breaktime-ca.key")
    other_key = os.path.join(d2, "breaktime-ca.key")

    def conf_with(lines):
        return write("ca-bad.conf", SITE.format(tmp=TMP).replace("[proxy]\n", "[proxy]\n" + lines))

    # one without the other: file:line
    path = conf_with("block_ca = %s\n" % pem)
    rc, out, err = run("-c", path, "check")
    check(rc == 1 and "%s:2: block_ca without block_ca_key" % path in err, "err = %r" % (err,))
    # a key others can read
    os.chmod(key, 0o640)
    path = conf_with("block_ca = %s\nblock_ca_key = %s\n" % (pem, key))
    rc, out, err = run("-c", path, "check")
    check(rc == 1 and "accessible to group or others (mode 0640)" in err and out == "",
          "rc, out, err = %r" % ((rc, out, err),))
    rc, out, err = run("-c", path, "ca", "check")
    check(rc == 1 and "accessible to group or others" in err, "rc, err = %r" % ((rc, err),))
    os.chmod(key, 0o600)
    rc, out, err = run("-c", path, "check")
    eq(rc, 0, "check with the key fixed (err = %r)" % (err,))
    eq(err, "", "nothing to warn about")
    # the key of another CA
    path = conf_with("block_ca = %s\nblock_ca_key = %s\n" % (pem, other_key))
    rc, out, err = run("-c", path, "check")
    check(rc == 1 and "does not match" in err, "rc, err = %r" % ((rc, err),))
    # not a certificate
    path = conf_with("block_ca = %s\nblock_ca_key = %s\n" % (key, key))
    rc, out, err = run("-c", path, "check")
    check(rc == 1 and "not a PEM certificate" in err, "rc, err = %r" % ((rc, err),))


def test_ca_usage():
    conf = site()
    for args, want in ((["ca"], "give create or check"),
                       (["ca", "create"], "-o DIR"),
                       (["ca", "create", "-o"], "a value is missing"),
                       (["ca", "create", "--days", "0", "-o", TMP], "--days is a number of days"),
                       (["ca", "create", "--days", "-5", "-o", TMP], "--days is a number of days"),
                       (["ca", "create", "-o", TMP, "--frob"], "unexpected `--frob`"),
                       (["ca", "check", "a", "b"], "at most one PATH"),
                       (["ca", "frob"], "unknown subcommand `frob`")):
        rc, out, err = run("-c", conf, *args)
        check(rc == 2 and want in err and "usage: breaktime ca create" in err,
              "%s: rc, err = %r" % (args, (rc, err)))
    rc, out, err = run("-c", conf, "ca", "check")
    check(rc == 1 and "sets no [proxy] block_ca" in err, "rc, err = %r" % ((rc, err),))
    rc, out, err = run("-c", conf, "ca", "check", os.path.join(TMP, "nope.pem"))
    check(rc == 1 and "nope.pem: No such file" in err, "rc, err = %r" % ((rc, err),))
    rc, out, err = run("--help")
    check("ca create [--days N] -o DIR" in out and "ca check [PATH]" in out, "help: %r" % (out,))


def main():
    write("platforms.list", PLATFORMS)
    harness.run(globals(), context=lambda: Context(TMP), filters=sys.argv[3:], against=BIN)


if __name__ == "__main__":
    main()
