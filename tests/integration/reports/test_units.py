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

A check that cannot run here (no systemd-analyze, no faketime) says so and
is skipped; the others still run.
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
import make_store  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
BIN = os.path.abspath(sys.argv[3])
TMP = tempfile.mkdtemp(prefix="bt-units-")
failed = 0
passed = 0


def check(name, fn):
    global failed, passed
    try:
        r = fn()
        if r == "skip":
            print(f"SKIP {name}")
        else:
            print(f"ok   {name}")
            passed += 1
    except Exception as e:  # noqa: BLE001
        failed += 1
        print(f"FAIL {name}: {e!r}")


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


def t_expected_units():
    names = {os.path.basename(u) for u in units()}
    for n in ("breaktimed.service", "breaktime-sensor.service", "breaktime-web.service",
              "breaktime-report.service", "breaktime-report.timer"):
        assert n in names, (n, names)


def t_verify():
    sa = shutil.which("systemd-analyze")
    if not sa:
        print("  (systemd-analyze is not installed: nothing to verify with)")
        return "skip"
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
        assert r.returncode == 0 and not mine, (p, r.returncode, r.stdout, r.stderr)


def exec_lines(path, key):
    """The values of KEY= in a unit, continuation lines joined."""
    with open(path) as f:
        text = f.read().replace("\\\n", " ")
    return [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith(key + "=")]


def systemd_unescape(cmd, env):
    cmd = re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), cmd)
    return cmd.replace("$$", "$").replace("%%", "%")


def t_report_service():
    ft = shutil.which("faketime")
    if not ft:
        print("  (faketime is not installed: cannot run it on a Monday)")
        return "skip"
    db = os.path.join(TMP, "bt.db")
    make_store.build(db, ROOT)
    conf = make_store.write_config(TMP, db)
    state = os.path.join(TMP, "state")
    os.makedirs(state, mode=0o750)
    unit = os.path.join(BUILD, "systemd", "breaktime-report.service")
    env = dict(os.environ, STATE_DIRECTORY=state, TZ="UTC")
    cmds = exec_lines(unit, "ExecStartPre") + exec_lines(unit, "ExecStart")
    assert len(cmds) == 2, cmds
    for c in cmds:
        c = localise(systemd_unescape(c, env))
        c = re.sub(r"-c \S+/breaktime\.conf", "-c " + conf, c)
        assert conf in c or c.startswith("/bin/mkdir"), c
        argv = __import__("shlex").split(c)
        # Monday 2026-11-09 06:00: last week is 2026-11-02 .. 2026-11-08
        r = subprocess.run([ft, "2026-11-09 06:00:00"] + argv, env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, (argv, r.returncode, r.stdout, r.stderr)
    html = os.path.join(state, "reports", "excessive-2026-11-09.html")
    csvf = os.path.join(state, "reports", "excessive-2026-11-09.csv")
    for p in (html, csvf):
        st = os.stat(p)
        assert stat.S_IMODE(st.st_mode) == 0o600, (p, oct(st.st_mode))
    with open(html) as f:
        h = f.read()
    assert "2026-11-02" in h and "2026-11-08" in h and "<svg" in h, h[:400]
    with open(csvf, newline="") as f:
        rows = list(csv.DictReader(io.StringIO(f.read(), newline="")))
    people = {r["user"] for r in rows}
    assert {"alice", "victor"} <= people and "bob" not in people, rows


def t_timer_monday():
    sa = shutil.which("systemd-analyze")
    if not sa:
        print("  (systemd-analyze is not installed)")
        return "skip"
    spec = exec_lines(os.path.join(ROOT, "systemd", "breaktime-report.timer"), "OnCalendar")
    assert spec == ["Mon *-*-* 06:00:00"], spec
    r = subprocess.run([sa, "calendar", "--iterations=2", spec[0]], capture_output=True,
                       text=True, timeout=30, env=dict(os.environ, TZ="UTC"))
    assert r.returncode == 0, r.stderr
    nexts = re.findall(r"(?:Next elapse|Iter\. #2): (\w+) \S+ (\S+)", r.stdout)
    assert len(nexts) == 2 and all(d == "Mon" and t == "06:00:00" for d, t in nexts), r.stdout


check("every unit is configured", t_expected_units)
check("systemd-analyze verify", t_verify)
check("breaktime-report.service writes last week's report", t_report_service)
check("breaktime-report.timer: Mondays 06:00", t_timer_monday)
shutil.rmtree(TMP, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
