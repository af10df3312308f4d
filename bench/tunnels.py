#!/usr/bin/python3
"""Open N idle CONNECT tunnels through a proxy and hold them.

Each tunnel: TCP connect to the proxy, "CONNECT host:port HTTP/1.1", wait for
a 2xx answer, then a full TLS handshake with the origin through the tunnel
(a real ClientHello with an SNI, so a proxy that peeks at it sees a real TLS
session), then nothing: the tunnel stays open and idle.

When all are open (or have failed), writes "opened=N failed=M first_error=..."
to --ready, then holds the tunnels until --release exists (or --hold-max
seconds pass), closes them and exits. Traffic goes to loopback only.

With --direct, connects straight to the target (no CONNECT): used to check
the helper itself.
"""
import argparse
import concurrent.futures
import os
import resource
import socket
import ssl
import sys
import time


def open_one(args, ctx):
    ph, pp = args.proxy.rsplit(":", 1)
    s = socket.create_connection((ph, int(pp)), timeout=args.timeout)
    try:
        if not args.direct:
            req = (f"CONNECT {args.target} HTTP/1.1\r\n"
                   f"Host: {args.target}\r\n\r\n").encode()
            s.sendall(req)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("proxy closed before answering CONNECT")
                buf += chunk
                if len(buf) > 65536:
                    raise OSError("CONNECT answer head too long")
            status = buf.split(b"\r\n", 1)[0].decode("latin-1")
            parts = status.split()
            if len(parts) < 2 or not parts[1].startswith("2"):
                raise OSError(f"CONNECT refused: {status!r}")
            if buf.index(b"\r\n\r\n") + 4 != len(buf):
                raise OSError("proxy sent bytes after the CONNECT answer")
        t = ctx.wrap_socket(s, server_hostname=args.sni,
                            do_handshake_on_connect=False)
        t.do_handshake()
        t.settimeout(None)
        return t
    except BaseException:
        s.close()
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--proxy", required=True, help="HOST:PORT of the proxy")
    ap.add_argument("--target", required=True, help="HOST:PORT to CONNECT to")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--sni", default="origin.bench.test")
    ap.add_argument("--ready", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--hold-max", type=float, default=120)
    ap.add_argument("--timeout", type=float, default=15)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--direct", action="store_true")
    args = ap.parse_args()

    for h in (args.proxy, args.target):
        if not (h.startswith("127.") or h.startswith("[::1]")):
            sys.exit(f"refusing non-loopback address {h}")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.n + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    held, failed, first_error = [], 0, ""
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as ex:
        futs = [ex.submit(open_one, args, ctx) for _ in range(args.n)]
        for f in futs:
            try:
                held.append(f.result())
            except Exception as e:  # noqa: BLE001 - report, keep going
                failed += 1
                if not first_error:
                    first_error = f"{type(e).__name__}: {e}"
    took = time.monotonic() - t0
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(f"opened={len(held)} failed={failed} seconds={took:.1f} "
                 f"first_error={first_error!r}\n")
    os.rename(tmp, args.ready)

    deadline = time.monotonic() + args.hold_max
    while time.monotonic() < deadline and not os.path.exists(args.release):
        time.sleep(0.1)
    for t in held:
        try:
            t.close()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
