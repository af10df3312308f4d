"""
harness: the integration test kit for breaktimed (issue 2), the one module
the tests import.

It re-exports the kit, which is split by what each part starts:

  harness_run      the runner (run: test_* in order, pending.txt, time
                   limit, one line per test) and the failure convention
                   (check, eq, wait_for, TestFailure, TestSkip); Context;
                   process bookkeeping (_track, _end_proc) and clean_env
  harness_net      payload pattern, ports (free_port, wait_port), HTTP
                   message parsing (Reader, Request, Response, ...)
  harness_origin   Origin (HTTP/1.1), TcpOrigin (CONNECT peers), TlsOrigin
                   (openssl s_server) and make_cert
  harness_dns      DnsServer (UDP on 127.0.0.1)
  harness_daemon   Breaktimed, RefProxy, check_config, store_rows, /proc
                   readings, and Harness: the per-module context with the
                   peers and the daemons, checked after every test
  harness_clients  curl(), Raw sockets, http_get()

run(globals()) here runs a module with a Harness; harness_run.run with
context=Context (its default) runs scripts that start their own programs.

HYGIENE: every socket here binds or connects to loopback only, and every
proxy configuration names our own DNS server (dns_servers) and hosts file,
so no lookup ever reaches the machine's resolver. Processes are started
here and ended here, by PID. Temporary directories are removed at exit.
"""

import harness_run
from harness_clients import CurlResult, Raw, curl, http_get  # noqa: F401
from harness_daemon import (Breaktimed, Harness, RefProxy, SAN_IGNORE, check_config, parse_record,  # noqa: F401
                            proc_cpu_s, proc_fds, proc_rss_kb, proc_sanitized, proc_status, sanitizer_reports,
                            store_rows)
from harness_dns import DnsServer  # noqa: F401
from harness_net import (PERIOD, Head, Reader, Request, Response, check_payload, free_port, listening,  # noqa: F401
                         payload, payload_view, read_chunked, read_response, wait_port)
from harness_origin import Origin, TcpOrigin, TlsOrigin, make_cert  # noqa: F401
from harness_run import (BREAKTIMED, HERE, LOOPBACK, REF, ROOT, TEST_TIME_LIMIT, Context, TestFailure,  # noqa: F401
                         TestSkip, TestTimeout, _end_proc, _track, binary_sanitized, check, clean_env, current, eq,
                         end_all_procs, load_pending, ref_ok, short, wait_for)


def run(glb, context=Harness, **kw):
    """harness_run.run with a Harness (the peers and the daemons) by default."""
    harness_run.run(glb, context=context, **kw)
