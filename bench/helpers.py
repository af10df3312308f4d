#!/usr/bin/python3
"""Small helpers for bench/run.sh (stdlib only).

  helpers.py ports N               print N free TCP ports on 127.0.0.1
  helpers.py tree PID              print PID and all its descendants
  helpers.py cpu PID               CPU seconds (user+system, plus reaped
                                   children) of PID and all its descendants
  helpers.py rss PID               VmRSS in KiB summed over PID and descendants
  helpers.py corebusy CORE         busy seconds (all but idle and iowait) of
                                   one CPU from /proc/stat, all processes and
                                   interrupts included
  helpers.py snap PID ROOT CORE    one line: CPU s of PID's tree, CPU s of
                                   ROOT's tree (the benchmark itself), busy s
                                   of the whole machine, busy s of CORE,
                                   monotonic time
  helpers.py waitport PORT SECS    wait until 127.0.0.1:PORT accepts (exit 1
                                   on timeout)
  helpers.py waitline FILE TEXT SECS
                                   wait until FILE contains TEXT
"""
import os
import socket
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """Return the fields of /proc/PID/stat after the command name."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # The command name is in parentheses and may contain spaces.
    return data[data.rindex(")") + 2:].split()


def tree(root):
    """PIDs of root and all its live descendants."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(_stat(name)[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if not os.path.exists(f"/proc/{pid}"):
            continue
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu(root):
    total = 0
    for pid in tree(root):
        try:
            f = _stat(pid)
        except OSError:
            continue
        # fields after comm: state(0) ppid(1) ... utime(11) stime(12)
        # cutime(13) cstime(14)
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / CLK_TCK


def rss(root):
    total = 0
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def corebusy(core):
    with open("/proc/stat") as fh:
        for line in fh:
            f = line.split()
            if f[0] == f"cpu{core}":
                v = [int(x) for x in f[1:]]
                # user nice system idle iowait irq softirq steal guest gnice;
                # guest time is already inside user.
                return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK
    raise ValueError(f"no cpu{core} in /proc/stat")


def allbusy():
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


def ports(n):
    socks, out = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        out.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return out


def waitport(port, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def waitline(path, text, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as fh:
                if text in fh.read():
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "ports":
        print(" ".join(map(str, ports(int(argv[2])))))
    elif cmd == "tree":
        print(" ".join(map(str, tree(int(argv[2])))))
    elif cmd == "cpu":
        print(f"{cpu(int(argv[2])):.2f}")
    elif cmd == "corebusy":
        print(f"{corebusy(int(argv[2])):.2f}")
    elif cmd == "snap":
        t = time.monotonic()
        print(f"{cpu(int(argv[2])):.2f} {cpu(int(argv[3])):.2f} "
              f"{allbusy():.2f} {corebusy(int(argv[4])):.2f} {t:.3f}")
    elif cmd == "rss":
        print(rss(int(argv[2])))
    elif cmd == "waitport":
        return 0 if waitport(int(argv[2]), float(argv[3])) else 1
    elif cmd == "waitline":
        return 0 if waitline(argv[2], argv[3], float(argv[4])) else 1
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
