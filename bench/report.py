#!/usr/bin/python3
"""Turn bench/run.sh's raw results into a table, ratios, goals and JSON.

  report.py RESULTS.txt [-o results.json]

RESULTS.txt has one "PROXY KEY VALUE" per line (VALUE is JSON when it
parses as JSON, text otherwise); "meta KEY VALUE" lines describe the run.
"""
import argparse
import json
import statistics
import sys

PROXIES = ["breaktimed", "squid", "tinyproxy"]
LOADS = [("ka", "keep-alive 1 KiB"), ("close", "Connection: close 1 KiB"),
         ("big", "keep-alive 64 KiB")]


def load(path):
    meta, raw = {}, {}
    with open(path) as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split(" ", 2)
            who, key = parts[0], parts[1]
            val = parts[2] if len(parts) > 2 else ""
            if who == "meta":
                meta[key] = val
                continue
            try:
                v = json.loads(val)
            except ValueError:
                v = val
            d = raw.setdefault(who, {})
            if key in REPEATED:
                d.setdefault(key, []).append(v)
            else:
                d[key] = v
    return meta, raw


# keys written once per round
REPEATED = {f"{k}_{s}" for k in ("ka", "close", "big")
            for s in ("wrk", "cpu_s", "core_busy_s", "other_cores")}
REPEATED.update({"connect_other_cores", "connect_core_busy_s", "connect_run"})


def derive(raw):
    """Per-proxy metrics from raw values; missing pieces become None."""
    out = {}
    direct_mbps = None
    speeds = [c["speed"] for c in raw.get("direct", {}).get("connect_run", [])]
    if speeds:
        direct_mbps = statistics.median(speeds) / 1e6
    out["direct"] = {"connect_MBps": direct_mbps}
    for p in PROXIES:
        r = raw.get(p)
        if r is None:
            continue
        m = {"status": str(r.get("status", "not run"))}
        for key, _ in LOADS:
            runs = [w for w in r.get(f"{key}_wrk", [])
                    if isinstance(w, dict) and w.get("requests")]
            if not runs:
                continue
            reqs = sum(w["requests"] for w in runs)
            secs = sum(w["duration_us"] for w in runs) / 1e6
            m[f"{key}_rounds"] = len(runs)
            m[f"{key}_rps"] = reqs / secs
            m[f"{key}_p50_ms"] = statistics.median(w["p50_us"] for w in runs) / 1e3
            m[f"{key}_p99_ms"] = statistics.median(w["p99_us"] for w in runs) / 1e3
            m[f"{key}_errors"] = sum(v for w in runs for k, v in w.items()
                                     if k.startswith("err_"))
            m[f"{key}_requests"] = reqs
            m[f"{key}_MBps"] = sum(w["bytes"] for w in runs) / secs / 1e6
            cpu = r.get(f"{key}_cpu_s", [])
            if len(cpu) == len(runs):
                m[f"{key}_cpu_per_10k"] = sum(map(float, cpu)) / reqs * 1e4
            busy = r.get(f"{key}_core_busy_s", [])
            if len(busy) == len(runs):
                m[f"{key}_core_busy_per_10k"] = sum(map(float, busy)) / reqs * 1e4
            bg = r.get(f"{key}_other_cores", [])
            if bg:
                m[f"{key}_other_cores"] = max(map(float, bg))
        runs = r.get("connect_run", [])
        if runs:
            m["connect_MBps"] = statistics.median(c["speed"] for c in runs) / 1e6
            if direct_mbps:
                m["connect_vs_direct"] = m["connect_MBps"] / direct_mbps
            if all(c.get("cpu_s") is not None for c in runs):
                # median over the downloads: one disturbed by other work
                # does not move it
                m["connect_cpu_per_GB"] = statistics.median(
                    c["cpu_s"] / (c["bytes"] / 1e9) for c in runs)
            sc = [c for c in runs if c.get("syscalls")]
            if sc:
                # system calls per MB (10^6 B), median over the downloads
                for k in sc[0]["syscalls"]:
                    m[f"connect_sc_{k}_per_MB"] = statistics.median(
                        c["syscalls"].get(k, 0) / (c["bytes"] / 1e6) for c in sc)
        ts = str(r.get("tunnels_status", ""))
        if ts and "tunnel_rss_after_kib" in r:
            opened = int(ts.split("opened=")[1].split()[0])
            m["tunnels_opened"] = opened
            m["tunnels_failed"] = int(ts.split("failed=")[1].split()[0])
            if opened:
                m["tunnel_KiB"] = ((r["tunnel_rss_after_kib"]
                                    - r["tunnel_rss_before_kib"]) / opened)
        if r.get("rss_start_kib") is not None:
            m["rss_start_MiB"] = r["rss_start_kib"] / 1024
        if r.get("died"):
            m["died"] = True
        bg = r.get("connect_other_cores", [])
        if bg:
            m["connect_other_cores"] = max(map(float, bg))
        out[p] = m
    return out


ROWS = [
    # (key, label, format, lower is better)
    ("ka_rps", "keep-alive 1 KiB: requests/s", "{:.0f}", False),
    ("ka_p50_ms", "keep-alive 1 KiB: p50 ms", "{:.2f}", True),
    ("ka_p99_ms", "keep-alive 1 KiB: p99 ms", "{:.2f}", True),
    ("ka_cpu_per_10k", "keep-alive 1 KiB: proxy CPU s/10k req", "{:.3f}", True),
    ("close_rps", "Connection: close 1 KiB: requests/s", "{:.0f}", False),
    ("close_p50_ms", "Connection: close 1 KiB: p50 ms", "{:.2f}", True),
    ("close_p99_ms", "Connection: close 1 KiB: p99 ms", "{:.2f}", True),
    ("close_cpu_per_10k", "Connection: close 1 KiB: proxy CPU s/10k req", "{:.3f}", True),
    ("big_rps", "keep-alive 64 KiB: requests/s", "{:.0f}", False),
    ("big_p50_ms", "keep-alive 64 KiB: p50 ms", "{:.2f}", True),
    ("big_p99_ms", "keep-alive 64 KiB: p99 ms", "{:.2f}", True),
    ("big_cpu_per_10k", "keep-alive 64 KiB: proxy CPU s/10k req", "{:.3f}", True),
    ("connect_MBps", "CONNECT 1 GiB TLS: MB/s", "{:.0f}", False),
    ("connect_vs_direct", "CONNECT 1 GiB TLS: fraction of no-proxy", "{:.3f}", False),
    ("connect_cpu_per_GB", "CONNECT 1 GiB TLS: proxy CPU s/GB", "{:.3f}", True),
    ("connect_sc_all_per_MB", "CONNECT 1 GiB TLS: proxy syscalls/MB", "{:.1f}", True),
    ("connect_sc_context-switches_per_MB", "CONNECT 1 GiB TLS: proxy ctx switches/MB", "{:.1f}", True),
    ("tunnel_KiB", "idle CONNECT tunnel: KiB RSS each", "{:.1f}", True),
    ("rss_start_MiB", "RSS after start, MiB", "{:.1f}", True),
]


def fmt(v, f):
    return "n/a" if v is None else f.format(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def goals(m):
    bt, sq = m.get("breaktimed", {}), m.get("squid", {})

    def g(name, value, limit, ok):
        return {"goal": name, "value": value, "limit": limit,
                "result": "n/a" if value is None else ("PASS" if ok(value) else "FAIL")}

    r_cpu = ratio(bt.get("ka_cpu_per_10k"), sq.get("ka_cpu_per_10k"))
    r_gb = ratio(bt.get("connect_cpu_per_GB"), sq.get("connect_cpu_per_GB"))
    r_rps = ratio(bt.get("ka_rps"), sq.get("ka_rps"))
    r_p99 = ratio(bt.get("ka_p99_ms"), sq.get("ka_p99_ms"))
    return [
        g("CPU per request (keep-alive 1 KiB) <= 0.5x squid", r_cpu, 0.5,
          lambda v: v <= 0.5),
        g("CPU per CONNECT GB <= 0.5x squid", r_gb, 0.5, lambda v: v <= 0.5),
        g("keep-alive requests/s >= 1.8x squid", r_rps, 1.8,
          lambda v: v >= 1.8),
        g("keep-alive p99 <= squid's", r_p99, 1.0, lambda v: v <= 1.0),
        g("CONNECT throughput >= 0.95x no proxy",
          bt.get("connect_vs_direct"), 0.95, lambda v: v >= 0.95),
        g("idle tunnel <= 8 KiB", bt.get("tunnel_KiB"), 8.0,
          lambda v: v <= 8.0),
    ]


def table(m):
    cols = ["breaktimed", "squid", "tinyproxy", "bt/squid", "bt/tinyproxy"]
    lw = max(len(r[1]) for r in ROWS) + 2
    lines = ["{:<{w}}".format("metric", w=lw)
             + "".join("{:>13}".format(c) for c in cols)]
    lines.append("-" * len(lines[0]))
    for key, label, f, _ in ROWS:
        vals = [m.get(p, {}).get(key) for p in PROXIES]
        cells = [fmt(v, f) for v in vals]
        for i, p in enumerate(PROXIES):
            if key.endswith("_rps") and m.get(p, {}).get(key[:-4] + "_errors"):
                cells[i] += "!"
        cells.append(fmt(ratio(vals[0], vals[1]), "{:.2f}"))
        cells.append(fmt(ratio(vals[0], vals[2]), "{:.2f}"))
        lines.append("{:<{w}}".format(label, w=lw)
                     + "".join("{:>13}".format(c) for c in cells))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("-o", "--output")
    args = ap.parse_args()
    meta, raw = load(args.results)
    m = derive(raw)
    gl = goals(m)

    print()
    print(f"breaktime bench  {meta.get('date', '')}  git {meta.get('git', '')}"
          f"  quick={meta.get('quick')}  wrk {meta.get('rounds', 1)} x "
          f"{meta.get('duration_s')} s x "
          f"{meta.get('wrk_connections')} conns  proxy on core "
          f"{meta.get('proxy_cpu')}, load+origin on core {meta.get('load_cpu')}"
          f"  nice {meta.get('nice', 0)}")
    print(f"squid {meta.get('squid_version')}, tinyproxy "
          f"{meta.get('tinyproxy_version')}, nginx {meta.get('nginx_version')}"
          f", wrk {meta.get('wrk_version')}")
    for p in PROXIES:
        if p in m and m[p]["status"] != "ok":
            print(f"{p}: {m[p]['status']}")
        elif p in m:
            extra = []
            for key, label in LOADS:
                if m[p].get(f"{key}_errors"):
                    kinds = {}
                    for w in raw[p].get(f"{key}_wrk", []):
                        for k, v in w.items():
                            if k.startswith("err_") and v:
                                kinds[k[4:]] = kinds.get(k[4:], 0) + v
                    extra.append(f"{label}: errors " + ", ".join(
                        f"{k} {v}" for k, v in kinds.items()))
            if m[p].get("tunnels_failed"):
                extra.append(f"{m[p]['tunnels_failed']} tunnels failed to open")
            busy = [f"{label} {m[p][k + '_other_cores']:.2f}"
                    for k, label in LOADS + [("connect", "CONNECT")]
                    if m[p].get(k + "_other_cores", 0) > 0.1]
            if busy:
                extra.append("cores used by other work during "
                             + ", ".join(busy) + " (suspect)")
            tail = str(raw[p].get("stderr_tail", ""))
            if " dropped" in tail:
                try:
                    dropped = int(tail.split(" dropped")[0].split()[-1])
                    lost = int(tail.split(" lost")[0].split()[-1])
                except (ValueError, IndexError):
                    dropped = lost = 0
                if dropped or lost:
                    extra.append(f"store dropped {dropped}, lost {lost} records")
            if m[p].get("died"):
                extra.append("process died during the run")
            if extra:
                print(f"{p}: " + "; ".join(extra))
    d = m["direct"].get("connect_MBps")
    other = raw.get("direct", {}).get("connect_other_cores", [])
    busy = (f"  (other work used up to {max(map(float, other)):.2f} cores: suspect)"
            if other and max(map(float, other)) > 0.1 else "")
    print(f"no-proxy 1 GiB TLS download: {fmt(d, '{:.0f}')} MB/s{busy}")
    print()
    print(table(m))
    print()
    print("goals for breaktimed:")
    for g in gl:
        print(f"  {g['result']:<5} {g['goal']:<52} "
              f"measured {fmt(g['value'], '{:.2f}')}")

    if args.output:
        doc = {"meta": meta, "raw": raw, "metrics": m, "goals": gl,
               "ratios": {
                   f"breaktimed/{o}": {key: ratio(m.get("breaktimed", {}).get(key),
                                                 m.get(o, {}).get(key))
                                      for key, *_ in ROWS}
                   for o in ("squid", "tinyproxy")}}
        with open(args.output, "w") as fh:
            json.dump(doc, fh, indent=2, sort_keys=True)
            fh.write("\n")
        print(f"\nraw results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
