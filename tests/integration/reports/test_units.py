#!/usr/bin/env python3
"""
test_units: the systemd units as meson configured them.

    test_units.py BUILD_ROOT SOURCE_ROOT BREAKTIME_BINARY

- every unit passes `systemd-analyze verify` (with the installed binary
  paths pointed at the built ones, which is all verify needs to find);
- breaktime-report.service's ExecStartPre and ExecStart, run by a shell
  exactly as systemd would hand them over ($$ -> $, %% -> %, ${VAR}
  expanded), on a Monday morning (libfaketime) over the report tests' store,
  write last week's excessive-use report as HTML and CSV into
  $STATE_DIRECTORY/reports/, mode 0600, with the hand-checked people in it;
- the timer fires on Mondays at 06:00 (systemd-analyze calendar).

A check that cannot run here (no systemd-analyze, no faketime) is skipped
with the reason; the others still run. Runs on the integration runner
(harness_run): one line per test, then "N passed, N failed, N skipped".
"""

import csv
import glob
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import make_store  # noqa: E402
import harness  # noqa: E402
from harness import Context, TestSkip, check, eq  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
BIN = os.path.abspath(sys.argv[3])
TMP = tempfile.mkdtemp(prefix="bt-units-")


def units():
    out = sorted(glob.glob(os.path.join(BUILD, "systemd", "*.service")))
    out += sorted(glob.glob(os.path.join(ROOT, "systemd", "*.timer")))
    return out


BINARIES = {
    "breaktime": BIN,
    "breaktimed": os.path.join(BUILD, "proxy", "breaktimed"),
    "breaktime-sensor": os.path.join(BUILD, "sensor", "breaktime-sensor"),
}


def localise(text):
    """Point the installed paths (PREFIX/bin/breaktime...) at the build."""
    def sub(m):
        return BINARIES.get(m.group(2), m.group(0))
    return re.sub(r"(/[\w./-]*/s?bin)/(breaktime(?:d|-sensor)?)\b", sub, text)


def test_expected_units():
    """every unit is configured"""
    names = {os.path.basename(u) for u in units()}
    for n in ("breaktimed.service", "breaktime-sensor.service", "breaktime-web.service",
              "breaktime-report.service", "breaktime-report.timer"):
        check(n in names, 'expected n in names (n, names = %r)' % ((n, names),))


def test_verify():
    """systemd-analyze verify"""
    sa = shutil.which("systemd-analyze")
    if not sa:
        raise TestSkip("systemd-analyze is not installed: nothing to verify with")
    d = os.path.join(TMP, "verify")
    os.makedirs(d, exist_ok=True)
    paths = []
    for u in units():
        p = os.path.join(d, os.path.basename(u))
        with open(u) as f, open(p, "w") as g:
            g.write(localise(f.read()))
        paths.append(p)
    for p in paths:
        r = subprocess.run([sa, "verify", "--man=no", p], capture_output=True, text=True,
                           timeout=60)
        # only this unit's own complaints count (not the host's other units)
        mine = [ln for ln in (r.stdout + r.stderr).splitlines()
                if os.path.basename(p).split(".")[0] in ln]
        check(r.returncode == 0 and not mine,
              'expected r.returncode == 0 and not mine (p, '
              'r.returncode, r.stdout, r.stderr = %r)' % ((p, r.returncode, r.stdout, r.stderr),))


def exec_lines(path, key):
    """The values of KEY= in a unit, continuation lines joined."""
    with open(path) as f:
        text = f.read().replace("\\\n", " ")
    return [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith(key + "=")]


def systemd_unescape(cmd, env):
    cmd = re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), cmd)
    return cmd.replace("$$", "$").replace("%%", "%")


def test_report_service():
    """breaktime-report.service writes last week's report"""
    ft = shutil.which("faketime")
    if not ft:
        raise TestSkip("faketime is not installed: cannot run it on a Monday")
    db = os.path.join(TMP, "bt.db")
    make_store.build(db, ROOT)
    conf = make_store.write_config(TMP, db)
    state = os.path.join(TMP, "state")
    os.makedirs(state, mode=0o750)
    unit = os.path.join(BUILD, "systemd", "breaktime-report.service")
    env = dict(os.environ, STATE_DIRECTORY=state, TZ="UTC")
    cmds = exec_lines(unit, "ExecStartPre") + exec_lines(unit, "ExecStart")
    eq(len(cmds), 2, 'len(cmds) (cmds = %r)' % (cmds,))
    for c in cmds:
        c = localise(systemd_unescape(c, env))
        c = re.sub(r"-c \S+/breaktime\.conf", "-c " + conf, c)
        check(conf in c or c.startswith("/bin/mkdir"),
              'expected conf in c or c.startswith("/bin/mkdir") (c = %r)' % (c,))
        argv = __import__("shlex").split(c)
        # Monday 2026-11-09 06:00: last week is 2026-11-02 .. 2026-11-08
        r = subprocess.run([ft, "2026-11-09 06:00:00"] + argv, env=env, capture_output=True,
                           text=True, timeout=120)
        eq(r.returncode, 0,
           'r.returncode (argv, r.returncode, r.stdout, r.stderr '
           '= %r)' % ((argv, r.returncode, r.stdout, r.stderr),))
    html = os.path.join(state, "reports", "excessive-2026-11-09.html")
    csvf = os.path.join(state, "reports", "excessive-2026-11-09.csv")
    for p in (html, csvf):
        st = os.stat(p)
        eq(stat.S_IMODE(st.st_mode), 0o600,
           'stat.S_IMODE(st.st_mode) (p, oct(st.st_mode) = %r)' % ((p, oct(st.st_mode)),))
    with open(html) as f:
        h = f.read()
    check("2026-11-02" in h and "2026-11-08" in h and "<svg" in h,
          'expected "2026-11-02" in h and "2026-11-08" in h and "<svg" in h (h[:400] = %r)' % (h[:400],))
    with open(csvf, newline="") as f:
        rows = list(csv.DictReader(io.StringIO(f.read(), newline="")))
    people = {r["user"] for r in rows}
    check({"alice", "victor"} <= people and "bob" not in people,
          'expected {"alice", "victor"} <= people and "bob" not in people (rows = %r)' % (rows,))


def test_timer_monday():
    """breaktime-report.timer: Mondays 06:00"""
    sa = shutil.which("systemd-analyze")
    if not sa:
        raise TestSkip("systemd-analyze is not installed")
    spec = exec_lines(os.path.join(ROOT, "systemd", "breaktime-report.timer"), "OnCalendar")
    eq(spec, ["Mon *-*-* 06:00:00"], 'spec')
    r = subprocess.run([sa, "calendar", "--iterations=2", spec[0]], capture_output=True,
                       text=True, timeout=30, env=dict(os.environ, TZ="UTC"))
    eq(r.returncode, 0, 'r.returncode (r.stderr = %r)' % (r.stderr,))
    nexts = re.findall(r"(?:Next elapse|Iter\. #2): (\w+) \S+ (\S+)", r.stdout)
    check(len(nexts) == 2 and all(d == "Mon" and t == "06:00:00" for d, t in nexts),
          'expected len(nexts) == 2 and all(d == "Mon" and t == "06:00:00" for d, t in nexts) '
          '(r.stdout = %r)' % (r.stdout,))


if __name__ == "__main__":
    harness.run(globals(), context=lambda: Context(TMP), filters=sys.argv[4:], against=BIN)
