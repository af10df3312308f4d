"""
harness_run: the test runner and the one failure convention of the
integration tests.

Starts nothing itself. It runs the test_* functions of a test module in
definition order (run(globals(), context=...)), each with the module's
context, and prints one line per test:

  ok   module::test_name (0.12s)
  FAIL module::test_name (0.12s)
       what was expected, got what  at file.py:LINE <- ...
  SKIP module::test_name (the reason)

then "N passed, N failed, N skipped", and exits 0, 1 (a failure) or, when
every test was skipped, all_skipped_rc (77 for meson's "skipped").

The convention: a test fails by raising TestFailure, through check(cond,
msg), eq(got, want, what) or wait_for(pred, timeout, what=...); it is
skipped, with its reason, by raising TestSkip(reason). Any other exception
fails the test too, named by its type. Each test has a time limit
(TEST_TIME_LIMIT seconds by default).

Cleans up: the context's deferred cleanups after each test (last first);
at the end every process registered with _track (ended by PID: SIGTERM, then
SIGKILL) and the context's temporary directory (kept when its keep_env
variable, IT_KEEP by default, is set).

Context is the bare per-module context (a temporary directory and
cleanups) for scripts that start their own programs; harness_daemon.Harness
adds the peers and the daemons (harness.run uses it by default).

Environment:
  BREAKTIMED        path of the daemon (default: build-it/proxy/breaktimed)
  IT_PROXY          "squid" or "tinyproxy": run the tests marked @ref_ok
                    against that proxy instead (to validate the tests)
  IT_RUN_PENDING=1  also run the tests listed in pending.txt
  IT_KEEP=1         keep the temporary directory
  argv[1:]          substrings: run only tests whose name contains one
                    (filters=... for scripts that take other arguments)
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BREAKTIMED = os.environ.get('BREAKTIMED') or os.path.join(ROOT, 'build-it', 'proxy', 'breaktimed')
REF = os.environ.get('IT_PROXY', '')
LOOPBACK = '127.0.0.1'
TEST_TIME_LIMIT = 90


# --------------------------------------------------------------------------
# the failure convention


class TestFailure(AssertionError):
    pass


class TestSkip(Exception):
    pass


class TestTimeout(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what):
    if got != want:
        raise TestFailure('%s: expected %s, got %s' % (what, short(want) if isinstance(want, bytes) else repr(want),
                                                       short(got) if isinstance(got, bytes) else repr(got)))


def wait_for(pred, timeout, step=0.05, what='condition'):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise TestFailure('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(step)


def short(b, n=300):
    if isinstance(b, (bytes, bytearray)):
        b = bytes(b)
        return repr(b[:n]) + ('...(%d bytes)' % len(b) if len(b) > n else '')
    return str(b)[:n]


# --------------------------------------------------------------------------
# process bookkeeping: everything the kit starts is ended here, by PID

_procs = []


def _track(p):
    _procs.append(p)
    return p


def _end_proc(p, sig=signal.SIGTERM, timeout=5):
    if p.poll() is not None:
        return p.returncode
    try:
        os.kill(p.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return p.wait(5)


def end_all_procs():
    for p in _procs:
        try:
            _end_proc(p, timeout=3)
        except Exception:
            pass
    _procs.clear()


def clean_env(extra=None, minimal=False):
    """The environment of the processes the kit starts: this one without proxy
    variables, LC_ALL=C. minimal: only PATH, LANG, TZ=UTC and the sanitizer
    settings (no user config at all; ASAN_OPTIONS gets verify_asan_link_order=0
    because libfaketime may be preloaded before ASan's runtime). extra: more."""
    if minimal:
        env = {'PATH': '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', 'LANG': 'C.UTF-8', 'TZ': 'UTC'}
        for k in ('UBSAN_OPTIONS', 'LSAN_OPTIONS'):
            if k in os.environ:
                env[k] = os.environ[k]
        asan = os.environ.get('ASAN_OPTIONS', '')
        env['ASAN_OPTIONS'] = (asan + ':' if asan else '') + 'verify_asan_link_order=0'
    else:
        env = {k: v for k, v in os.environ.items() if 'proxy' not in k.lower()}
        env['LC_ALL'] = 'C'
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------
# the per-module context

_current = [None]


def current():
    """The context of the module being run (None before run() made it)."""
    return _current[0]


class Context:
    """The bare per-module context: a temporary directory (tmp, removed at the
    end unless the keep_env variable is set), deferred cleanups (run after each
    test, last first), and at the end every tracked process ended by PID.
    harness_daemon.Harness adds the peers and the daemons."""

    tmp_prefix = 'bt-it-'
    keep_env = 'IT_KEEP'
    keep_on_failure = False     # keep tmp when a test failed, even without keep_env

    def __init__(self, tmp=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix=self.tmp_prefix)
        self._id = 0
        self.cleanups = []
        self.failures = []      # the ids of the tests that failed so far (run() fills it)

    def next_id(self):
        self._id += 1
        return self._id

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, 'w') as f:
            f.write(text)
        return p

    def defer(self, fn):
        self.cleanups.append(fn)

    def run_cleanups(self):
        """Run the deferred cleanups, last first; returns the problems they raised."""
        problems = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                problems.append('cleanup: %r' % e)
        self.cleanups = []
        return problems

    def end_test(self):
        """After each test: a problem string ('' when none)."""
        return '\n'.join(self.run_cleanups())

    def stop_peers(self):
        pass

    def close(self):
        """At the end: end every tracked process, stop the peers, remove tmp;
        returns the problems seen (a failure of the module)."""
        end_all_procs()
        self.stop_peers()
        if os.environ.get(self.keep_env) or (self.keep_on_failure and self.failures):
            print('kept', self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return []


# --------------------------------------------------------------------------
# what runs: @ref_ok, pending.txt


def ref_ok(fn):
    """Mark a test as meaningful against squid/tinyproxy too (for validating it)."""
    fn.ref_ok = True
    return fn


def binary_sanitized(path=None):
    """True when the daemon binary was built with -fsanitize (address or undefined)."""
    try:
        with open(path or BREAKTIMED, 'rb') as f:
            data = f.read()
    except OSError:
        return False
    return b'__asan_init' in data or b'__ubsan_handle' in data


def load_pending(path=os.path.join(HERE, 'pending.txt')):
    """pending.txt: `test_file::test_name reason`, or `[sanitizer] test_file::test_name reason`
    for a failure that only a sanitizer build shows (skipped only there)."""
    out = {}
    sanitized = None
    if os.path.exists(path):
        for ln in open(path):
            ln = ln.strip()
            if not ln or ln.startswith('#'):
                continue
            if ln.startswith('[sanitizer]'):
                if sanitized is None:
                    sanitized = binary_sanitized()
                if not sanitized:
                    continue
                ln = ln[len('[sanitizer]'):].strip()
            tid, _, reason = ln.partition(' ')
            out[tid] = reason.strip()
    return out


_limit = [TEST_TIME_LIMIT]


def _alarm(signum, frame):
    raise TestTimeout('test took longer than %ds' % _limit[0])


def _call(fn, ctx):
    """A test takes the module's context, or nothing."""
    code = fn.__code__
    if code.co_argcount - len(fn.__defaults__ or ()) >= 1:
        return fn(ctx)
    return fn()


def run(glb, context=Context, pending_file=None, run_pending_env='IT_RUN_PENDING', all_skipped_rc=0, ref=None,
        filters=None, against=None, time_limit=TEST_TIME_LIMIT):
    """Run the test_* functions of a module in definition order, each with the
    module's context (context(): a Context) or none (a test without
    parameters); exit 0, 1 (a failure) or, when every test was skipped,
    all_skipped_rc. ref: IT_PROXY by default. filters: name substrings
    (default argv[1:]). against: what the header line names (default the
    daemon). time_limit: seconds per test."""
    ref = REF if ref is None else ref
    mod = os.path.splitext(os.path.basename(glb['__file__']))[0]
    tests = [(n, f) for n, f in glb.items() if n.startswith('test_') and callable(f) and hasattr(f, '__code__')]
    tests.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
    filters = sys.argv[1:] if filters is None else filters
    if filters:
        tests = [(n, f) for n, f in tests if any(x in n for x in filters)]
    pending = load_pending(pending_file) if pending_file else load_pending()
    run_pending = os.environ.get(run_pending_env) == '1'
    _limit[0] = time_limit
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    passed = failed = skipped = 0
    failures = []
    print('# %s against %s' % (mod, against or ref or BREAKTIMED), flush=True)
    H = _current[0] = context()
    H.failures = failures
    try:
        for name, fn in tests:
            tid = '%s::%s' % (mod, name)
            if ref and not getattr(fn, 'ref_ok', False):
                continue
            if tid in pending and not run_pending and not ref:
                skipped += 1
                print('SKIP %s (pending: %s)' % (tid, pending[tid]), flush=True)
                continue
            t0 = time.monotonic()
            err = None
            signal.alarm(time_limit)
            try:
                _call(fn, H)
            except TestSkip as e:
                err = 'skip'
                msg = str(e)
            except Exception as e:
                err = 'fail'
                # the call site, innermost first (the frames of run and _call left out)
                where = ' <- '.join('%s:%d' % (os.path.basename(fr.filename), fr.lineno)
                                    for fr in reversed(traceback.extract_tb(e.__traceback__)[2:]))
                msg = '%s%s\n  at %s' % ('' if isinstance(e, TestFailure) else type(e).__name__ + ': ', e, where)
            finally:
                signal.alarm(0)
            problem = H.end_test()
            if problem and err != 'fail':
                err = 'fail'
                msg = problem
            elif problem:
                msg += '\n' + problem
            dt = time.monotonic() - t0
            if err is None:
                passed += 1
                print('ok   %s (%.2fs)' % (tid, dt), flush=True)
            elif err == 'skip':
                skipped += 1
                print('SKIP %s (%s)' % (tid, msg), flush=True)
            else:
                failed += 1
                failures.append(tid)
                print('FAIL %s (%.2fs)\n     %s' % (tid, dt, msg.replace('\n', '\n     ')), flush=True)
    finally:
        problems = H.close()
    if problems:
        failed += 1
        failures.append('%s::<shared proxy at exit>' % mod)
        print('FAIL %s::<shared proxy at exit>\n     %s' % (mod, '\n'.join(problems).replace('\n', '\n     ')), flush=True)
    if failures:
        print('failed: ' + ' '.join(failures))
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped), flush=True)
    sys.exit(1 if failed else (all_skipped_rc if skipped and not passed else 0))
