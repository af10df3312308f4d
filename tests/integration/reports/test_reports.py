#!/usr/bin/env python3
"""
test_reports: `breaktime report` end to end — the real binary over a store
written by make_store.py (the real schema, rows with hand-checked answers
documented there), every report in every format: CSV parsed back, JSON
parsed, the numbers checked; pseudonyms, file modes, usage errors.

    test_reports.py BREAKTIME_BINARY SOURCE_ROOT

Runs on the integration runner (harness_run): every test_* function in
order, one line each, then "N passed, N failed, N skipped"; more arguments:
run only the tests whose name contains one. The temporary directory stays
when a test failed.
"""

import csv
import io
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import make_store  # noqa: E402
import harness  # noqa: E402
from harness import Context, check, eq  # noqa: E402

BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/reports/breaktime"
ROOT = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "."
TMP = tempfile.mkdtemp(prefix="bt-rep-")
DB = os.path.join(TMP, "bt.db")
make_store.build(DB, ROOT)
CONF = make_store.write_config(TMP, DB)
WEEK = ["--from", "2026-11-02", "--to", "2026-11-08"]


def run(*args):
    p = subprocess.run([BIN, "-c", CONF, "report"] + list(args), capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def ok(*args):
    rc, out, err = run(*args)
    eq(rc, 0, 'rc (args, rc, out, err = %r)' % ((args, rc, out, err),))
    check("ERROR" not in err and "runtime error" not in err,
          'expected "ERROR" not in err and "runtime error" not in err (err = %r)' % (err,))
    return out


def rows_json(*args):
    doc = json.loads(ok(*args, "--format", "json"))
    check(list(doc["rows"][0].keys()) == doc["columns"] if doc["rows"] else True,
          'expected list(doc["rows"][0].keys()) == doc["columns"] if doc["rows"] else True')
    return doc, doc["rows"]


def rows_csv(*args):
    p = subprocess.run([BIN, "-c", CONF, "report"] + list(args) + ["--format", "csv"],
                       capture_output=True, timeout=60)
    eq(p.returncode, 0, 'p.returncode (args, p.returncode, p.stderr = %r)' % ((args, p.returncode, p.stderr),))
    text = p.stdout.decode()
    check(text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""),
          'expected text.endswith("\\r\\n") and "\\n" not in text.replace("\\r\\n", "") (repr(text) '
          '= %r)' % (repr(text),))
    return list(csv.DictReader(io.StringIO(text, newline="")))


# ---- excessive ----

def test_excessive_numbers():
    doc, rows = rows_json("excessive", *WEEK)
    eq(doc["report"], "excessive", 'doc["report"]')
    eq(doc["period"], {"from": "2026-11-02", "to": "2026-11-08"}, 'doc["period"]')
    eq(doc["filters"], {"group": None, "user": None}, 'doc["filters"]')
    check(doc["pseudonymised"] is False, 'expected doc["pseudonymised"] is False')
    check("2048 bytes" in doc["active_minutes_method"], 'expected "2048 bytes" in doc["active_minutes_method"]')
    # alice: 40 minutes on a 30-minute day -> 10 over; 20 outside; severity first
    eq([r["user"] for r in rows], ["alice", "victor"], '[r["user"] for r in rows] (rows = %r)' % (rows,))
    a, v = rows
    eq((a["group"], a["allowance"], a["days_over"], a["minutes_over"]), ("staff", 30, 1, 10),
       '(a["group"], a["allowance"], a["days_over"], a["minutes_over"]) (a = %r)' % (a,))
    eq((a["outside_minutes"], a["active_minutes"], a["allowed_time_pct"]), (20, 60, 66),
       '(a["outside_minutes"], a["active_minutes"], a["allowed_time_pct"]) (a = %r)' % (a,))
    eq((a["blocked_students_present"], a["previous_minutes"], a["change"]), (3, 15, 45),
       '(a["blocked_students_present"], a["previous_minutes"], a["change"]) (a = %r)' % (a,))
    eq(a["platforms"], "facebook instagram", 'a["platforms"] (a = %r)' % (a,))
    # the 35-minute break allowance: Monday's lunch break (40 minutes) 5 over
    eq((a["break_allowance"], a["breaks_over"], a["break_minutes_over"]), (35, 1, 5),
       '(a["break_allowance"], a["breaks_over"], a["break_minutes_over"]) (a = %r)' % (a,))
    eq((v["break_allowance"], v["breaks_over"], v["break_minutes_over"]), (None, 0, 0),
       '(v["break_allowance"], v["breaks_over"], v["break_minutes_over"]) (v = %r)' % (v,))
    eq((v["days_over"], v["minutes_over"], v["outside_minutes"], v["active_minutes"]), (2, 25, 0, 85),
       '(v["days_over"], v["minutes_over"], v["outside_minutes"], v["active_minutes"]) (v = %r)' % (v,))
    eq((v["previous_minutes"], v["change"]), (0, 85), '(v["previous_minutes"], v["change"]) (v = %r)' % (v,))
    check(any("previous period" in n and "2026-10-26 .. 2026-11-01" in n for n in doc["notes"]),
          'expected any("previous period" in n and "2026-10-26 .. 2026-11-01" in n for n in doc["notes"])')


def test_excessive_text_and_csv():
    out = ok("excessive", *WEEK)
    check("period:         2026-11-02 .. 2026-11-08" in out,
          'expected "period: 2026-11-02 .. 2026-11-08" in out (out = %r)' % (out,))
    check("filters:        none" in out, 'expected "filters: none" in out')
    check("active minutes: " in out, 'expected "active minutes: " in out')
    lines = out.splitlines()
    hdr = next(i for i, l in enumerate(lines) if l.startswith("user "))
    eq(lines[hdr + 1].split()[:10], ["alice", "staff", "30", "1", "10", "35", "1", "5", "20", "60"],
       'lines[hdr + 1].split()[:10] (lines[hdr + 1] = %r)' % (lines[hdr + 1],))
    check("Listed: " in out and "Order: " in out, 'expected "Listed: " in out and "Order: " in out')
    rows = rows_csv("excessive", *WEEK)
    eq([r["user"] for r in rows], ["alice", "victor"], '[r["user"] for r in rows]')
    check(rows[0]["minutes_over"] == "10" and rows[1]["minutes_over"] == "25",
          'expected rows[0]["minutes_over"] == "10" and rows[1]["minutes_over"] == "25"')


def test_excessive_one_day_and_filters():
    # Tuesday alone: alice only outside, not over; her previous day (Mon) had 41? no: 40
    doc, rows = rows_json("excessive", "--from", "2026-11-03", "--to", "2026-11-03")
    check(len(rows) == 1 and rows[0]["user"] == "alice",
          'expected len(rows) == 1 and rows[0]["user"] == "alice" (rows = %r)' % (rows,))
    r = rows[0]
    eq((r["days_over"], r["minutes_over"], r["outside_minutes"], r["previous_minutes"]), (0, 0, 20, 40),
       '(r["days_over"], r["minutes_over"], r["outside_minutes"], r["previous_minutes"]) (r = %r)' % (r,))
    # --user
    doc, rows = rows_json("excessive", *WEEK, "--user", "victor")
    eq([r["user"] for r in rows], ["victor"], '[r["user"] for r in rows]')
    eq(doc["filters"]["user"], "victor", 'doc["filters"]["user"]')
    # --group volunteers, with names
    doc, rows = rows_json("excessive", *WEEK, "--group", "volunteers", "--names")
    check([r["user"] for r in rows] == ["victor"] and doc["pseudonymised"] is False,
          'expected [r["user"] for r in rows] == ["victor"] and doc["pseudonymised"] is False')
    # nothing in an empty week
    doc, rows = rows_json("excessive", "--from", "2026-11-09", "--to", "2026-11-15")
    eq(rows, [], 'rows')
    check("(no rows)" in ok("excessive", "--from", "2026-11-09", "--to", "2026-11-15"),
          'expected "(no rows)" in ok("excessive", "--from", "2026-11-09", "--to", "2026-11-15")')


# ---- pseudonyms ----

def test_pseudonyms():
    # a group-level report is pseudonymised by default; the secret is created once
    doc, rows = rows_json("excessive", *WEEK, "--group", "staff")
    check(doc["pseudonymised"] is True, 'expected doc["pseudonymised"] is True')
    check(len(rows) == 1 and rows[0]["user"].startswith("p-") and len(rows[0]["user"]) == 12,
          'expected len(rows) == 1 and rows[0]["user"].startswith("p-") and len(rows[0]["user"]) == 12')
    p1 = rows[0]["user"]
    db = sqlite3.connect(DB)
    secret = db.execute("SELECT value FROM meta WHERE key = 'pseudonym_secret'").fetchone()[0]
    db.close()
    eq(len(secret), 64, 'len(secret)')
    # stable across reports and report kinds
    doc, rows = rows_json("excessive", *WEEK, "--pseudonymise")
    check(rows[0]["user"] == p1 and rows[1]["user"].startswith("p-") and rows[1]["user"] != p1,
          'expected rows[0]["user"] == p1 and rows[1]["user"].startswith("p-") and rows[1]["user"] != p1')
    brows = rows_csv("breaches", *WEEK, "--pseudonymise")
    eq(brows[0]["user"], p1, 'brows[0]["user"] (brows = %r)' % (brows,))
    out = ok("excessive", *WEEK, "--pseudonymise")
    check("alice" not in out and "victor" not in out and p1 in out,
          'expected "alice" not in out and "victor" not in out and p1 in out')
    check("names:          pseudonyms" in out, 'expected "names: pseudonyms" in out')
    # a named person's report, pseudonymised: the name appears nowhere
    for kind in ("excessive", "usage", "breaches", "user"):
        for fmt in ("text", "json", "html"):
            out = ok(kind, *WEEK, "--user", "alice", "--pseudonymise", "--format", fmt)
            check("alice" not in out and p1 in out,
                  'expected "alice" not in out and p1 in out (kind, fmt, out = %r)' % ((kind, fmt, out),))
    # HMAC-SHA256 keyed by the secret, first 40 bits
    import hashlib
    import hmac
    mac = hmac.new(bytes.fromhex(secret), b"alice", hashlib.sha256).hexdigest()
    eq(p1, "p-" + mac[:10], 'p1 (p1, mac = %r)' % ((p1, mac),))
    # the secret does not change
    db = sqlite3.connect(DB)
    eq(db.execute("SELECT count(*) FROM meta WHERE key = 'pseudonym_secret'").fetchone()[0], 1,
       'db.execute("SELECT count(*) FROM meta WHERE key = \'pseudonym_secret\'").fetchone()[0]')
    db.close()


# ---- usage ----

def test_usage_per_person():
    doc, rows = rows_json("usage", *WEEK)
    by = {(r["day"], r["user"], r["platform"]): r for r in rows}
    r = by[("2026-11-02", "alice", "facebook")]
    # 40 active minutes (the sensor's duplicate 12:31 once, the 100-byte minute not active);
    # requests 40 x 2; bytes 40 x 5000 + 4000 (sensor) + 100 (inactive minute)
    eq((r["active_minutes"], r["personal_minutes"], r["requests"], r["bytes"]), (40, 40, 80, 204100),
       '(r["active_minutes"], r["personal_minutes"], r["requests"], r["bytes"]) (r = %r)' % (r,))
    r = by[("2026-11-02", "carol", "facebook")]
    eq((r["active_minutes"], r["personal_minutes"], r["group"]), (60, 0, "comms"),
       '(r["active_minutes"], r["personal_minutes"], r["group"]) (r = %r)' % (r,))
    eq(len(rows), 7, 'len(rows) (rows = %r)' % (rows,))
    rows = rows_csv("usage", *WEEK, "--user", "victor")
    eq([(r["day"], r["active_minutes"]) for r in rows], [("2026-11-05", "50"),
                                                         ("2026-11-06", "35")],
       '[(r["day"], r["active_minutes"]) for r in rows]')


def test_usage_per_group():
    doc, rows = rows_json("usage", *WEEK, "--by", "group")
    eq(doc["columns"][:3], ["day", "people", "group"], 'doc["columns"][:3]')
    by = {(r["day"], r["group"], r["platform"]): r for r in rows}
    eq(by[("2026-11-02", "staff", "facebook")]["active_minutes"], 40,
       'by[("2026-11-02", "staff", "facebook")]["active_minutes"]')
    eq(by[("2026-11-02", "comms", "facebook")]["personal_minutes"], 0,
       'by[("2026-11-02", "comms", "facebook")]["personal_minutes"]')
    eq(by[("2026-11-05", "volunteers", "x")]["people"], 1, 'by[("2026-11-05", "volunteers", "x")]["people"]')
    doc, rows = rows_json("usage", *WEEK, "--by", "group", "--group", "staff")
    check({r["group"] for r in rows} == {"staff"} and len(rows) == 4,
          'expected {r["group"] for r in rows} == {"staff"} and len(rows) == 4 (rows = %r)' % (rows,))


# ---- breaches ----

def test_breaches():
    rows = rows_csv("breaches", *WEEK)
    eq([(r["day"], r["user"], r["platform"], r["reason"], r["attempts"], r["first"], r["last"])
            for r in rows], [
        ("2026-11-03", "alice", "facebook", "students-present", "3", "14:30", "14:32"),
        ("2026-11-04", "bob", "x", "outside-allowed-time", "2", "09:05", "09:07")],
       '[(r["day"], r["user"], r["platform"], r["reason"], r["attempts"], r["first"], r["last"]) for '
       'r in rows] (rows = %r)' % (rows,))
    doc, rows = rows_json("breaches", *WEEK, "--user", "bob")
    check(len(rows) == 1 and rows[0]["attempts"] == 2 and rows[0]["hosts"] == "x.com",
          'expected len(rows) == 1 and rows[0]["attempts"] == 2 and rows[0]["hosts"] == "x.com"')
    out = ok("breaches", *WEEK)
    check("not a verdict" in out, 'expected "not a verdict" in out')


# ---- the others ----

def test_platforms_user_presence():
    doc, rows = rows_json("platforms", *WEEK)
    by = {(r["day"], r["platform"]): r for r in rows}
    eq(by[("2026-11-02", "facebook")]["active_minutes"], 100,
       'by[("2026-11-02", "facebook")]["active_minutes"]')  # alice 40 + carol 60
    eq(by[("2026-11-02", "facebook")]["people"], 2, 'by[("2026-11-02", "facebook")]["people"]')
    notes = [n.split() for n in doc["notes"] if n.startswith("  unclassified ")]
    eq(notes, [["unclassified", "example.org", "5", "5000"],
               ["unclassified", "bbc.co.uk", "1", "1000"]],
       'notes (doc["notes"] = %r)' % (doc["notes"],))
    rows = rows_csv("user", "--user", "alice", "--from", "2026-11-02", "--to", "2026-11-03")
    eq([(r["day"], r["platform"], r["start"], r["end"], r["active_minutes"]) for r in rows], [
        ("2026-11-02", "facebook", "12:31", "13:11", "40"),
        ("2026-11-02", "instagram", "12:31", "12:32", "1"),
        ("2026-11-03", "instagram", "14:00", "14:20", "20")],
       'the (day, platform, start, end, active_minutes) rows (rows = %r)' % (rows,))
    rows = rows_csv("presence", *WEEK)
    eq([(r["time"], r["state"], r["until"], r["cause"]) for r in rows], [
        ("2026-11-02 08:50", "on", "2026-11-02 10:00", "admin alice"),
        ("2026-11-02 09:40", "detected", "", "192.168.50.7 (students)"),
        ("2026-11-03 16:00", "auto", "", "admin bob")],
       'the (time, state, until, cause) rows (rows = %r)' % (rows,))


# ---- html ----

def check_html(text):
    check(text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>"),
          'expected text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")')
    low = text.lower()
    # self-contained: no scripts, nothing fetched (the only URL is the SVG namespace)
    for bad in ("<script", "src=", "href=", "@import", "url(http", "<link"):
        check(bad not in low, 'expected bad not in low (bad = %r)' % (bad,))
    eq(low.count("http://"), low.count('xmlns="http://www.w3.org/2000/svg"'),
       'low.count("http://") (low = %r)' % (low,))
    check("@page{size:A4" in text, 'expected "@page{size:A4" in text')


def test_html_excessive():
    path = os.path.join(TMP, "excessive.html")
    rc, out, err = run("excessive", *WEEK, "--format", "html", "-o", path)
    check(rc == 0 and out == "", 'expected rc == 0 and out == "" (rc, err = %r)' % ((rc, err),))
    eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, 'stat.S_IMODE(os.stat(path).st_mode)')
    text = open(path).read()
    check_html(text)
    # one chart per listed person against the allowance, and the heatmap
    check(text.count('<svg class="days"') == 2 and text.count('<svg class="heat"') == 1,
          'expected text.count(\'<svg class="days"\') == 2 and text.count(\'<svg class="heat"\') == 1')
    check("alice (allowance 30 min a day)" in text and "allowance 30</text>" in text,
          'expected "alice (allowance 30 min a day)" in text and "allowance 30</text>" in text')
    check("<title>2026-11-02: 40 min</title>" in text, 'expected "<title>2026-11-02: 40 min</title>" in text')
    check("<title>2026-11-05: 50 min</title>" in text, 'expected "<title>2026-11-05: 50 min</title>" in text')
    # heatmap: Mon 12:00-12:59 has alice's 29 minutes (12:31-12:59), 13:00-13:10 her 11
    check("<title>Mon 12:00-12:59: 29 min</title>" in text,
          'expected "<title>Mon 12:00-12:59: 29 min</title>" in text (text = %r)' % (text,))
    check("<title>Mon 13:00-13:59: 11 min</title>" in text,
          'expected "<title>Mon 13:00-13:59: 11 min</title>" in text')
    check("<title>Tue 14:00-14:59: 20 min</title>" in text,
          'expected "<title>Tue 14:00-14:59: 20 min</title>" in text')
    check("<td>alice</td><td>staff</td>" in text, 'expected "<td>alice</td><td>staff</td>" in text')
    check("2026-11-02 .. 2026-11-08" in text and "2048 bytes" in text,
          'expected "2026-11-02 .. 2026-11-08" in text and "2048 bytes" in text')
    # escaping: names go through the HTML escaper
    check("<td>victor</td>" in text, 'expected "<td>victor</td>" in text')
    # rendered by a real browser, when there is one: a screenshot as an artefact
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        shot = os.path.join(os.getcwd(), "report-excessive.png")
        p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--screenshot=" + shot, "--window-size=900,1400",
                            "file://" + path], capture_output=True, timeout=120)
        check(os.path.getsize(shot) > 10000, 'expected os.path.getsize(shot) > 10000 (p.stderr = %r)' % (p.stderr,))


def test_html_other_reports():
    for kind, extra in [("usage", ()), ("breaches", ()), ("platforms", ()),
                        ("presence", ()), ("user", ("--user", "alice")),
                        ("usage", ("--group", "staff"))]:
        text = ok(kind, *WEEK, *extra, "--format", "html")
        check_html(text)
        eq(text.count('<svg class="days"'), 1, 'text.count(\'<svg class="days"\') (kind = %r)' % (kind,))
    text = ok("user", "--user", "alice", *WEEK, "--format", "html")
    check("alice (allowance 30 min a day)" in text, 'expected "alice (allowance 30 min a day)" in text')
    text = ok("usage", "--group", "staff", *WEEK, "--format", "html")
    check("<title>2026-11-02: 41 min</title>" not in text,
          'expected "<title>2026-11-02: 41 min</title>" not in text')  # 12:31 once: 40
    check("<title>2026-11-02: 40 min</title>" in text, 'expected "<title>2026-11-02: 40 min</title>" in text')
    check("alice" not in text, 'expected "alice" not in text')  # a group report: pseudonyms


# ---- output and errors ----

def test_output_file_mode():
    path = os.path.join(TMP, "out.csv")
    with open(path, "w") as f:
        f.write("old content that is longer than the report will be" * 100)
    os.chmod(path, 0o644)
    rc, out, err = run("excessive", *WEEK, "--format", "csv", "-o", path)
    check(rc == 0 and out == "", 'expected rc == 0 and out == "" (rc, out, err = %r)' % ((rc, out, err),))
    eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, 'stat.S_IMODE(os.stat(path).st_mode)')
    check(open(path).read().startswith("user,group,allowance,"),
          'expected open(path).read().startswith("user,group,allowance,")')
    new = os.path.join(TMP, "new.json")
    old = os.umask(0)
    try:
        rc, out, err = run("usage", *WEEK, "--format", "json", "-o", new)
    finally:
        os.umask(old)
    check(rc == 0 and stat.S_IMODE(os.stat(new).st_mode) == 0o600,
          'expected rc == 0 and stat.S_IMODE(os.stat(new).st_mode) == 0o600')
    json.load(open(new))


def test_read_only():
    # the store is opened read-only: a report works on a read-only copy
    ro = os.path.join(TMP, "ro")
    os.mkdir(ro)
    shutil.copy(DB, os.path.join(ro, "bt.db"))
    conf = open(CONF).read().replace(DB, os.path.join(ro, "bt.db"))
    cpath = os.path.join(ro, "site.conf")
    open(cpath, "w").write(conf)
    os.chmod(os.path.join(ro, "bt.db"), 0o444)
    p = subprocess.run([BIN, "-c", cpath, "report", "usage"] + WEEK, capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0 and "alice" in p.stdout,
          'expected p.returncode == 0 and "alice" in p.stdout (p.returncode, '
          'p.stderr = %r)' % ((p.returncode, p.stderr),))


def test_retention():
    # [store] retention = 30d: nothing older than today - 30 days is shown
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo
    today = datetime.now(ZoneInfo("Europe/London")).date()
    conf = os.path.join(TMP, "ret.conf")
    open(conf, "w").write(open(CONF).read().replace("retention = 10000d", "retention = 30d"))
    p = subprocess.run([BIN, "-c", conf, "report", "usage", "--from", "2000-01-01",
                        "--format", "json"], capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, 'p.returncode (p.stderr = %r)' % (p.stderr,))
    doc = json.loads(p.stdout)
    kept = (today - timedelta(days=30)).isoformat()
    check(doc["period"]["from"] in (kept, (today - timedelta(days=29)).isoformat()),
          'expected doc["period"]["from"] in (kept, (today - '
          'timedelta(days=29)).isoformat()) (doc["period"] = %r)' % (doc["period"],))
    check(any("nothing older is shown" in n for n in doc["notes"]),
          'expected any("nothing older is shown" in n for n in doc["notes"]) (doc["notes"] = %r)' % (doc["notes"],))
    if today > date(2026, 12, 9):  # the generated data is older than 30 days: none of it
        eq(doc["rows"], [], 'doc["rows"]')
    p = subprocess.run([BIN, "-c", conf, "report", "usage", "--from", "2000-01-01", "--to",
                        "2000-01-31"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "keeps 30 days" in p.stderr,
          'expected p.returncode == 1 and "keeps 30 days" in p.stderr '
          '(p.returncode, p.stderr = %r)' % ((p.returncode, p.stderr),))


def test_usage_errors():
    for args, msg in [((), "give a report"),
                      (("nonsense",), "unknown report `nonsense`"),
                      (("usage", "--format", "xml"), "unknown format `xml`"),
                      (("usage", "--from", "2026-02-30"), "not a date"),
                      (("usage", "--from", "2026-11-09", "--to", "2026-11-02"), "after --to"),
                      (("usage", "--from"), "needs a value"),
                      (("usage", "--bogus"), "unknown option"),
                      (("user",), "--user"),
                      (("usage", "--by", "platform"), "--by is user or group")]:
        rc, out, err = run(*args)
        check(rc == 2 and msg in err, 'expected rc == 2 and msg in err (args, rc, err = %r)' % ((args, rc, err),))
    missing = os.path.join(TMP, "missing.conf")
    open(missing, "w").write(open(CONF).read().replace(DB, os.path.join(TMP, "nope.db")))
    p = subprocess.run([BIN, "-c", missing, "report", "usage"], capture_output=True, text=True)
    check(p.returncode == 1 and "nope.db" in p.stderr,
          'expected p.returncode == 1 and "nope.db" in p.stderr (p.returncode, '
          'p.stderr = %r)' % ((p.returncode, p.stderr),))
    check(not os.path.exists(os.path.join(TMP, "nope.db")),
          'expected not os.path.exists(os.path.join(TMP, "nope.db"))')


# ---- control bytes in stored text (hardening item 9) ----

def test_text_output_escapes_control_bytes():
    # a store with an ESC sequence in a user name, a group and a presence cause (as an
    # older breaktimed or another writer may have left them): the text reports and
    # `breaktime presence` show \xNN, never the bytes themselves
    tmp = os.path.join(TMP, "ctl")
    os.makedirs(tmp, exist_ok=True)
    db = os.path.join(tmp, "bt.db")
    shutil.copy(DB, db)
    conf = make_store.write_config(tmp, db)
    c = sqlite3.connect(db)
    c.execute("UPDATE usage_minutes SET user = 'ali\x1b[31mce', grp = 'st\x07aff' WHERE user = 'alice'")
    c.execute("UPDATE events SET user = 'ali\x1b[31mce', grp = 'st\x07aff' WHERE user = 'alice'")
    c.execute("UPDATE presence SET cause = 'admin \x1b]0;pwned\x07\x1b[2J\tbob\x9b1m' WHERE cause = 'admin bob'")
    c.commit()
    c.close()
    outs = []
    for args in (["report", "excessive"] + WEEK, ["report", "usage"] + WEEK, ["report", "breaches"] + WEEK,
                 ["report", "presence"] + WEEK, ["report", "user", "--user", "ali\x1b[31mce"] + WEEK,
                 ["presence"]):
        p = subprocess.run([BIN, "-c", conf] + args, capture_output=True, timeout=60)
        eq(p.returncode, 0, 'p.returncode (args, p.returncode, p.stderr = %r)' % ((args, p.returncode, p.stderr),))
        out = p.stdout.decode("utf-8", "replace")
        bad = [ch for ch in out if (ord(ch) < 0x20 and ch != "\n") or 0x7f <= ord(ch) < 0xa0]
        check(not bad, 'expected not bad (args, bad, out = %r)' % ((args, bad, out),))
        outs.append(out)
    excessive, usage, breaches, presence, user, now = outs
    check("ali\\x1b[31mce" in excessive and "st\\x07aff" in excessive,
          'expected "ali\\\\x1b[31mce" in excessive and "st\\\\x07aff" in excessive (excessive = %r)' % (excessive,))
    check("user=ali\\x1b[31mce" in user, 'expected "user=ali\\\\x1b[31mce" in user (user = %r)' % (user,))
    check("admin \\x1b]0;pwned\\x07\\x1b[2J\\x09bob\\xc2\\x9b1m" in presence,
          'expected "admin \\\\x1b]0;pwned\\\\x07\\\\x1b[2J\\\\x09bob\\\\xc2\\\\x9b1m" in presence (presence '
          '= %r)' % (presence,))
    check("by admin \\x1b]0;pwned" in now, 'expected "by admin \\\\x1b]0;pwned" in now (now = %r)' % (now,))
    # the columns still line up (widths count the escapes as shown)
    table = presence.split("\n\n")[1].splitlines()
    eq(len({ln.index("source") if i == 0 else len(ln) - len(ln.split()[-1]) for i, ln in enumerate(table)}), 1,
       'len({ln.index("source") if i == 0 else len(ln) - len(ln.split()[-1]) for i, ln in '
       'enumerate(table)}) (table = %r)' % (table,))


def test_presence_by_refuses_control_bytes():
    tmp = os.path.join(TMP, "by")
    os.makedirs(tmp, exist_ok=True)
    db = os.path.join(tmp, "bt.db")
    shutil.copy(DB, db)
    conf = make_store.write_config(tmp, db)
    before = sqlite3.connect(db).execute("SELECT count(*) FROM presence").fetchone()[0]
    for by in ("\x1b[31m", "head\x1b[2J", "a\tb", "a\nb", "x\x7f", "c1\xc2\x9b", ""):
        p = subprocess.run([BIN, "-c", conf, "presence", "on", "--by", by.encode("utf-8", "surrogateescape")],
                           capture_output=True, timeout=60)
        check(p.returncode == 2 and b"--by" in p.stderr,
              'expected p.returncode == 2 and b"--by" in p.stderr (by, '
              'p.returncode, p.stderr = %r)' % ((by, p.returncode, p.stderr),))
        check(b"\x1b" not in p.stdout + p.stderr,
              'expected b"\\x1b" not in p.stdout + p.stderr (by, p.stdout, '
              'p.stderr = %r)' % ((by, p.stdout, p.stderr),))
    eq(sqlite3.connect(db).execute("SELECT count(*) FROM presence").fetchone()[0], before,
       'sqlite3.connect(db).execute("SELECT count(*) FROM presence").fetchone()[0]')
    # a name with letters beyond ASCII is a name
    p = subprocess.run([BIN, "-c", conf, "presence", "on", "--by", "Zoë"], capture_output=True, timeout=60)
    eq(p.returncode, 0, 'p.returncode (p.returncode, p.stderr = %r)' % ((p.returncode, p.stderr),))
    p = subprocess.run([BIN, "-c", conf, "presence"], capture_output=True, timeout=60)
    check("by Zoë (breaktime presence)" in p.stdout.decode(),
          'expected "by Zoë (breaktime presence)" in p.stdout.decode() (p.stdout = %r)' % (p.stdout,))


class Reports(Context):
    """TMP, kept when a test failed."""
    keep_on_failure = True


if __name__ == "__main__":
    harness.run(globals(), context=lambda: Reports(TMP), filters=sys.argv[3:], against=BIN)
