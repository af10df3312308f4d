#!/usr/bin/env bash
# breaktime benchmark: breaktimed against squid and tinyproxy, same loads,
# same run. See bench/README.md.
#
#   bench/run.sh [-o results.json] [-p "breaktimed squid tinyproxy"]
#                [-t "tunnels http connect"]   (which parts; default all)
#   QUICK=1 bench/run.sh        # ~1.5 minutes instead of ~5
#
# Environment (all optional):
#   QUICK=1              short loads (3 s wrk runs, one CONNECT download each)
#   DURATION=10          seconds per wrk load
#   WARMUP=2             seconds of unmeasured warm-up load per proxy
#   CONNS=64             wrk connections (one wrk thread)
#   ROUNDS=1             times each wrk load is run per proxy (the figures
#                        are over all rounds; latencies are the median round)
#   CONNECT_REPS=3       1 GiB CONNECT downloads per proxy (median speed)
#   TUNNELS=2000         idle CONNECT tunnels for the memory test
#   BREAKTIMED=path      breaktimed binary (default build-bench/proxy/breaktimed;
#                        built with meson if missing, unless BUILD=0)
#   BREAKTIMED_ARGS=     extra arguments for breaktimed (e.g. -v)
#   BT_STORE=1           breaktimed logs like production: [store] database
#                        (SQLite) and a Squid-format access_log; BT_STORE=0:
#                        the database only, log_other = none, no access_log
#   BT_LOG_OTHER=hosts   [store] log_other (hosts: every request is a row,
#                        as social media traffic would be; counts: the default)
#   PROXY_CPU=0 LOAD_CPU=1   cores for the proxy / for wrk, curl and nginx
#   NICE=0               e.g. NICE=-10 on a machine busy with other work: runs
#                        proxies, load and origin at that nice level (root)
#   KEEP_TMP=1           keep the temporary directory (logs, configs)
#   (CONNECT downloads also count the proxy's system calls with perf when
#   its tracepoints are readable: syscalls per MB in the table)
#   AUTH=1               issue 5's setting: breaktimed with [auth] required and
#                        an htpasswd file (bcrypt, htpasswd -B), the full
#                        sample policy (config/breaktime.conf) and the store,
#                        against squid with basic_ncsa_auth on the same file;
#                        every request carries Proxy-Authorization. Defaults
#                        to -p "breaktimed squid" -t http.
#
# All traffic stays on 127.0.0.1. Every process this script starts is ended
# by PID on exit, and the temporary directory is removed.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
HELP="$PY $HERE/helpers.py"

OUT=""
AUTH=${AUTH:-0}
if [ "$AUTH" = 1 ]; then
    PROXIES="breaktimed squid"
    PARTS="http"
else
    PROXIES="breaktimed squid tinyproxy"
    PARTS="tunnels http connect"
fi
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }
while getopts "o:p:t:h" opt; do
    case $opt in
        o) OUT=$OPTARG ;;
        p) PROXIES=$OPTARG ;;
        t) PARTS=$OPTARG ;;
        h) usage 0 ;;
        *) usage 2 ;;
    esac
done

part_set() { [[ " $PARTS " == *" $1 "* ]]; }
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-3}; WARMUP=${WARMUP:-1}; CONNECT_REPS=${CONNECT_REPS:-1}
else
    DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; CONNECT_REPS=${CONNECT_REPS:-3}
fi
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-1}
TUNNELS=${TUNNELS:-2000}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BREAKTIMED=${BREAKTIMED:-$ROOT/build-bench/proxy/breaktimed}
BREAKTIMED_ARGS=${BREAKTIMED_ARGS:-}
BT_STORE=${BT_STORE:-1}
BT_LOG_OTHER=${BT_LOG_OTHER:-hosts}
BIG_SIZE=$((1024 * 1024 * 1024))

# Never let a proxy variable from the environment redirect our clients.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
      no_proxy NO_PROXY

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools
need_install=()
for pair in nginx:nginx-light squid:squid tinyproxy:tinyproxy wrk:wrk \
            curl:curl taskset:util-linux openssl:openssl \
            $([ "$AUTH" = 1 ] && echo htpasswd:apache2-utils); do
    cmd=${pair%%:*}; pkg=${pair#*:}
    PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null || need_install+=("$pkg")
done
if [ ${#need_install[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing packages: ${need_install[*]} (run as root to install)"
    log "installing ${need_install[*]}"
    apt-get update -qq >/dev/null && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null \
        || die "apt-get install ${need_install[*]} failed"
fi
export PATH=$PATH:/usr/sbin:/sbin
[ -x "$PY" ] || die "$PY not found"
# The debian packages' own services may run; we never touch them, and we use
# ports of our own.

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
[ "$(ulimit -n)" -ge $((TUNNELS * 2 + 512)) ] || \
    log "warning: ulimit -n is $(ulimit -n), too low for $TUNNELS tunnels"

ncpu=$(nproc)
if [ "$ncpu" -lt 2 ]; then
    log "warning: only $ncpu CPU; proxy and load share it"
    PROXY_CPU=0; LOAD_CPU=0
fi
NICE=${NICE:-0}
PIN_PROXY="taskset -c $PROXY_CPU"
PIN_LOAD="taskset -c $LOAD_CPU"
if [ "$NICE" != 0 ]; then
    # On a machine shared with other work: give the benchmark's processes a
    # larger share of their cores (negative values need root).
    PIN_PROXY="nice -n $NICE $PIN_PROXY"
    PIN_LOAD="nice -n $NICE $PIN_LOAD"
fi

# ---------------------------------------------------------------- cleanup
T=$(mktemp -d /tmp/breaktime-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$T"
STARTED=()          # PIDs of everything started in the background

proc_alive() {      # alive and not a zombie
    local st
    st=$(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

stop_pid() {        # stop_pid PID [grace seconds]: TERM, wait, KILL; also its descendants
    local pid=$1 grace=${2:-10} kids i
    proc_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kids=$($HELP tree "$pid" 2>/dev/null)
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 10; i++)); do
        proc_alive "$pid" || break
        sleep 0.1
    done
    for k in $kids; do
        proc_alive "$k" && kill -KILL "$k" 2>/dev/null
    done
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${STARTED[@]}"; do stop_pid "$p" 5; done
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        log "kept $T"
    else
        rm -rf "$T"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- results
RES=$T/results.txt
: >"$RES"
put() { printf '%s %s %s\n' "$1" "$2" "${3//$'\n'/ }" >>"$RES"; }   # put PROXY KEY VALUE
meta() { echo "meta $1 $2" >>"$RES"; }

meta quick "$QUICK"; meta duration_s "$DURATION"; meta warmup_s "$WARMUP"
meta wrk_connections "$CONNS"; meta rounds "$ROUNDS"; meta connect_reps "$CONNECT_REPS"
meta tunnels "$TUNNELS"; meta parts "$PARTS"; meta proxy_cpu "$PROXY_CPU"; meta load_cpu "$LOAD_CPU"
meta nice "$NICE"; meta nproc "$ncpu"; meta kernel "$(uname -r)"; meta auth "$AUTH"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta git "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
meta squid_version "$(squid -v 2>/dev/null | sed -n 's/.*Version //p' | head -1)"
meta tinyproxy_version "$(tinyproxy -v 2>&1 | awk '{print $2}' | head -1)"
meta nginx_version "$(nginx -v 2>&1 | sed 's|.*/||')"
meta wrk_version "$(wrk -v 2>&1 | awk 'NR==1{print $2}')"

# ---------------------------------------------------------------- origin
read -r HTTP_PORT TLS_PORT PORT_BT PORT_SQ PORT_TP <<<"$($HELP ports 5)"
meta http_port "$HTTP_PORT"; meta tls_port "$TLS_PORT"

mkdir -p "$T/www" "$T/nginx/tmp"
head -c 1024 /dev/urandom >"$T/www/1k"
head -c 65536 /dev/urandom >"$T/www/64k"
# Sparse 1 GiB file: nginx reads zero pages from the page cache, so the disk
# plays no part. Fine for a proxy benchmark (TLS encrypts it anyway).
truncate -s "$BIG_SIZE" "$T/www/1g"
chmod 644 "$T/www/"*
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/nginx/key.pem" -out "$T/nginx/cert.pem" -days 2 \
    -subj /CN=origin.bench.test -addext subjectAltName=IP:127.0.0.1 \
    >/dev/null 2>&1 || die "openssl req failed"

N=$T/nginx
cat >"$N/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $N/nginx.pid;
error_log $N/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_header_timeout 300s;
    client_body_temp_path $N/tmp/body;
    proxy_temp_path $N/tmp/proxy;
    fastcgi_temp_path $N/tmp/fastcgi;
    uwsgi_temp_path $N/tmp/uwsgi;
    scgi_temp_path $N/tmp/scgi;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        root $T/www;
    }
    server {
        listen 127.0.0.1:$TLS_PORT ssl;
        ssl_certificate $N/cert.pem;
        ssl_certificate_key $N/key.pem;
        root $T/www;
    }
}
EOF
$PIN_LOAD nginx -e "$N/error.log" -p "$N/" -c "$N/nginx.conf" >"$N/stdout.log" 2>&1 &
NGINX_PID=$!
STARTED+=("$NGINX_PID")
$HELP waitport "$HTTP_PORT" 10 && $HELP waitport "$TLS_PORT" 5 || {
    cat "$N/error.log" "$N/stdout.log" >&2; die "nginx did not start"; }
log "nginx origin on 127.0.0.1:$HTTP_PORT (http) and :$TLS_PORT (tls), pid $NGINX_PID"

# ---------------------------------------------------------------- auth
# AUTH=1: one user in the sample policy's staff group, a bcrypt htpasswd file
# both proxies check (each caches a verified password, so the steady state is
# the cached path, as in production), and the header every request carries.
AUTH_USER=alice AUTH_PASS=bench-pw
BENCH_AUTH=""
CURL_AUTH=()
if [ "$AUTH" = 1 ]; then
    htpasswd -B -C 5 -c -b "$T/htpasswd" "$AUTH_USER" "$AUTH_PASS" 2>/dev/null \
        || die "htpasswd -B failed"
    chmod 644 "$T/htpasswd"
    BENCH_AUTH="Basic $(printf '%s:%s' "$AUTH_USER" "$AUTH_PASS" | base64)"
    CURL_AUTH=(--proxy-user "$AUTH_USER:$AUTH_PASS")
    if part_set tunnels; then
        log "AUTH=1: the idle-tunnel test has no credentials; skipped"
        PARTS=${PARTS//tunnels/}
    fi
fi
export BENCH_AUTH

# ---------------------------------------------------------------- measurements
LAST_BENCHJSON=""
# run_wrk PROXY NAME PROXYPORT PATH CLOSE PIDOFPROXY
# Around each measurement: snap_begin PID; ...; snap_end PROXY NAME sets
# D_CPU (proxy CPU s), D_CORE (proxy core busy s) and D_OTHER (cores used by
# processes that are not the benchmark's, on average) and records the last two.
snap_begin() { SNAP0=$($HELP snap "$1" $$ "$PROXY_CPU"); SNAP_PID=$1; }
snap_end() {
    local s1
    s1=$($HELP snap "$SNAP_PID" $$ "$PROXY_CPU")
    read -r D_CPU D_CORE D_OTHER <<<"$(echo "$SNAP0 $s1" | awk '{
        printf "%.2f %.2f %.2f", $6-$1, $9-$4, (($8-$3)-($7-$2))/($10-$5) }')"
    put "$1" "${2}_core_busy_s" "$D_CORE"
    put "$1" "${2}_other_cores" "$D_OTHER"
    awk -v b="$D_OTHER" 'BEGIN{exit !(b > 0.1)}' && \
        log "  warning: other work used $D_OTHER cores during $1 $2"
    return 0
}

run_wrk() {
    local p=$1 name=$2 port=$3 path=$4 close=$5 pid=$6 line
    snap_begin "$pid"
    line=$(BENCH_TARGET="http://127.0.0.1:$HTTP_PORT$path" BENCH_HOST="127.0.0.1:$HTTP_PORT" \
        BENCH_CLOSE=$close $PIN_LOAD wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s \
        -s "$HERE/proxy.lua" "http://127.0.0.1:$port/" 2>"$T/wrk.err" | grep '^BENCHJSON ')
    snap_end "$p" "$name"
    if [ -z "$line" ]; then
        log "  $p $name: wrk failed: $(head -3 "$T/wrk.err")"
        return 1
    fi
    echo "$p ${name}_wrk ${line#BENCHJSON }" >>"$RES"
    put "$p" "${name}_cpu_s" "$D_CPU"
    log "  $p $name: $($PY -c 'import json,sys; d=json.loads(sys.argv[1]); e=sum(v for k,v in d.items() if k.startswith("err_")); print("%.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors" % (d["requests"]/d["duration_us"]*1e6, d["p50_us"]/1e3, d["p99_us"]/1e3, e))' "${line#BENCHJSON }"), proxy cpu $D_CPU s (core $PROXY_CPU busy $D_CORE s)"
}

# warm PROXYPORT: unmeasured load
warm() {
    [ "$WARMUP" -gt 0 ] || return 0
    BENCH_TARGET="http://127.0.0.1:$HTTP_PORT/1k" BENCH_HOST="127.0.0.1:$HTTP_PORT" \
        $PIN_LOAD wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$HERE/proxy.lua" \
        "http://127.0.0.1:$1/" >/dev/null 2>&1
}

# download PROXYPORT|"" -> prints "speed_bytes_per_s size http_code"
download() {
    local px=(--noproxy '*')
    [ -n "$1" ] && px=(-x "http://127.0.0.1:$1")
    [ -n "$1" ] && px+=("${CURL_AUTH[@]}")
    $PIN_LOAD curl -sS -k "${px[@]}" --max-time 120 -o /dev/null \
        -w '%{speed_download} %{size_download} %{http_code}\n' \
        "https://127.0.0.1:$TLS_PORT/1g" 2>>"$T/curl.err"
}

# connect_once PROXY PROXYPORT|"" PID|"": one 1 GiB download, recorded as
# "PROXY connect_run {speed, bytes, cpu_s}"
connect_once() {
    local p=$1 port=$2 pid=$3 out speed size code sc=null
    [ -n "$pid" ] && perf_begin "$pid"
    snap_begin "${pid:-$$}"
    out=$(download "$port")
    snap_end "$p" connect
    [ -n "$pid" ] && perf_end && sc=$PERF_JSON
    read -r speed size code <<<"$out"
    if [ "${code:-}" != 200 ] || [ "${size:-0}" != "$BIG_SIZE" ]; then
        log "  $p connect: download failed (code ${code:-none}, ${size:-0} bytes): $(tail -1 "$T/curl.err" 2>/dev/null)"
        return 1
    fi
    [ -n "$pid" ] || D_CPU=null
    put "$p" connect_run "{\"speed\": $speed, \"bytes\": $size, \"cpu_s\": $D_CPU, \"syscalls\": $sc}"
    log "  $p connect 1 GiB: $(awk -v s="$speed" 'BEGIN{printf "%.0f", s/1e6}') MB/s${pid:+, proxy cpu $D_CPU s}${sc:+ syscalls $sc}"
}

# System calls of the proxy process (all its threads; not its child
# processes) during a download, counted by perf on tracepoints when the
# kernel lets us (perf_event_paranoid, tracefs): a steadier figure than MB/s
# on a shared machine. perf_begin PID; ...; perf_end sets PERF_JSON to a
# JSON object (event -> count) or null.
PERF_EVENTS=raw_syscalls:sys_enter,context-switches
for e in read readv recvfrom recvmsg write writev sendto sendmsg splice epoll_wait epoll_ctl; do
    PERF_EVENTS+=,syscalls:sys_enter_$e
done
PERF_OK=0
command -v perf >/dev/null && perf stat -x, -e "$PERF_EVENTS" -o /dev/null true 2>/dev/null && PERF_OK=1
perf_begin() {
    PERF_PID=""
    [ "$PERF_OK" = 1 ] || return 0
    rm -f "$T/perf.csv"
    perf stat -x, -e "$PERF_EVENTS" -p "$1" -o "$T/perf.csv" 2>/dev/null &
    PERF_PID=$!
    sleep 0.3   # attached before the download starts
}
perf_end() {   # sets PERF_JSON (not in a subshell: it waits for perf)
    PERF_JSON=null
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null
    PERF_JSON=$(awk -F, 'BEGIN{printf "{"} $1 ~ /^[0-9]+$/ {n=$3; sub(/.*sys_enter_?/, "", n);
        if (n == "") n = "all"; printf "%s\"%s\": %s", (k++ ? ", " : ""), n, $1}
        END{printf "}"}' "$T/perf.csv" 2>/dev/null) || PERF_JSON=null
    [ "$PERF_JSON" != "{}" ] || PERF_JSON=null
}

# run_tunnels PROXY PROXYPORT PID
run_tunnels() {
    local p=$1 port=$2 pid=$3 r0 r1 tpid st ready=$T/tunnels.ready rel=$T/tunnels.release
    rm -f "$ready" "$rel"
    sleep 1
    r0=$($HELP rss "$pid")
    $PIN_LOAD "$PY" "$HERE/tunnels.py" --proxy "127.0.0.1:$port" \
        --target "127.0.0.1:$TLS_PORT" -n "$TUNNELS" --ready "$ready" \
        --release "$rel" --hold-max 180 2>"$T/tunnels.err" &
    tpid=$!
    STARTED+=("$tpid")
    if ! $HELP waitline "$ready" opened= 150; then
        log "  $p tunnels: not ready in time: $(tail -2 "$T/tunnels.err")"
        stop_pid "$tpid" 5
        return 1
    fi
    sleep 2                       # let the proxy settle
    r1=$($HELP rss "$pid")
    st=$(cat "$ready")
    touch "$rel"
    stop_pid "$tpid" 20
    put "$p" tunnels_status "$st"
    put "$p" tunnel_rss_before_kib "$r0"
    put "$p" tunnel_rss_after_kib "$r1"
    log "  $p tunnels: $st; rss $r0 -> $r1 KiB"
}

# ---------------------------------------------------------------- proxies
PROXY_PID=""

# try_conf FILE TEXT: append TEXT to FILE if breaktimed -t accepts the result
try_conf() {
    cp "$1" "$1.try"
    printf '%s\n' "$2" >>"$1.try"
    if "$BREAKTIMED" -t -c "$1.try" >/dev/null 2>&1; then
        mv "$1.try" "$1"
    else
        rm -f "$1.try"
        return 1
    fi
}

start_breaktimed() {
    local D=$T/breaktimed port=$PORT_BT
    mkdir -p "$D"
    if [ ! -x "$BREAKTIMED" ] && [ "${BUILD:-1}" = 1 ] && [ "$BREAKTIMED" = "$ROOT/build-bench/proxy/breaktimed" ]; then
        log "building breaktimed in build-bench (log: $D/build.log)"
        { [ -d "$ROOT/build-bench" ] || meson setup "$ROOT/build-bench" "$ROOT" --buildtype=release; } \
            >"$D/build.log" 2>&1 && meson compile -C "$ROOT/build-bench" >>"$D/build.log" 2>&1 \
            || { log "  build failed: $(tail -3 "$D/build.log" | tr '\n' ' ')"; }
    fi
    [ -x "$BREAKTIMED" ] || { WHY="binary $BREAKTIMED not found"; return 1; }
    cat >"$D/breaktimed.conf" <<EOF
[proxy]
listen = 127.0.0.1:$port
workers = 1
allow_loopback_upstream = yes
connect_ports = $TLS_PORT
max_connections = 20000
max_connections_per_client = 20000
EOF
    # Keep name lookups off the machine's resolver, and log as in production
    # (the store records every request, plus a Squid-format access log), as
    # far as this build knows the keys.
    try_conf "$D/breaktimed.conf" "dns_servers = 127.0.0.1:53"
    # The store is always in the temporary directory (its default path is
    # /var/lib/breaktime); BT_STORE=0 keeps as little as it can.
    if [ "$BT_STORE" = 1 ]; then
        try_conf "$D/breaktimed.conf" "[store]
database = $D/breaktime.db
log_other = $BT_LOG_OTHER
access_log = $D/access.log" || log "  breaktimed: this build refuses the [store] settings"
    else
        try_conf "$D/breaktimed.conf" "[store]
database = $D/breaktime.db
log_other = none" || log "  breaktimed: this build refuses the [store] settings"
    fi
    if [ "$AUTH" = 1 ]; then
        # the sample configuration's policy ([site] to the end), its platform
        # list, and sign-in required against the bench htpasswd file
        sed -n '/^\[site\]/,$p' "$ROOT/config/breaktime.conf" | \
            sed -e "s|^platforms = config/platforms.list\$|platforms = $ROOT/config/platforms.list|" \
                -e "s|^\[auth\]|[auth]\nrequired = yes\nhtpasswd = $T/htpasswd|" >"$D/policy.conf"
        try_conf "$D/breaktimed.conf" "$(cat "$D/policy.conf")" || {
            cat "$D/breaktimed.conf" "$D/policy.conf" >"$D/refused.conf"
            WHY="refuses the sample policy with auth: $("$BREAKTIMED" -t -c "$D/refused.conf" 2>&1 | head -3 | tr '\n' ' ')"
            return 1; }
    fi
    put breaktimed config "$(grep -v '^#' "$D/breaktimed.conf")"
    # shellcheck disable=SC2086
    $PIN_PROXY "$BREAKTIMED" -c "$D/breaktimed.conf" $BREAKTIMED_ARGS >"$D/stdout.log" 2>"$D/stderr.log" &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
    if ! $HELP waitline "$D/stderr.log" '<6>ready' 15 || ! $HELP waitport "$port" 5; then
        WHY="did not become ready: $(tail -3 "$D/stderr.log" | tr '\n' ' ')"
        return 1
    fi
}

start_squid() {
    local D=$T/squid port=$PORT_SQ
    mkdir -p "$D"
    if [ "$(id -u)" = 0 ] && id proxy >/dev/null 2>&1; then chown proxy:proxy "$D"; fi
    local SQUID_ACCESS="http_access allow localhost"
    if [ "$AUTH" = 1 ]; then
        # basic_ncsa_auth checks bcrypt through crypt(3); squid caches a
        # verified password for credentialsttl
        SQUID_ACCESS="auth_param basic program /usr/lib/squid/basic_ncsa_auth $T/htpasswd
auth_param basic children 5 startup=1 idle=1
auth_param basic realm bench
auth_param basic credentialsttl 2 hours
acl authed proxy_auth REQUIRED
http_access allow localhost authed"
    fi
    cat >"$D/squid.conf" <<EOF
http_port 127.0.0.1:$port
workers 1
visible_hostname bench.invalid
dns_nameservers 127.0.0.1
pinger_enable off
icp_port 0
htcp_port 0
acl SSL_ports port $TLS_PORT
http_access deny CONNECT !SSL_ports
$SQUID_ACCESS
http_access deny all
cache deny all
access_log daemon:$D/access.log squid
cache_log $D/cache.log
cache_store_log none
netdb_filename none
pid_filename $D/squid.pid
coredump_dir $D
max_filedescriptors 65536
shutdown_lifetime 1 seconds
logfile_rotate 0
EOF
    $PIN_PROXY squid -N -f "$D/squid.conf" >"$D/stdout.log" 2>&1 &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
    if ! $HELP waitport "$port" 30; then
        WHY="did not start: $(tail -3 "$D/cache.log" "$D/stdout.log" 2>/dev/null | tr '\n' ' ')"
        return 1
    fi
}

start_tinyproxy() {
    local D=$T/tinyproxy port=$PORT_TP user=""
    mkdir -p "$D"
    if [ "$(id -u)" = 0 ]; then
        chown nobody:nogroup "$D"
        user=$'User nobody\nGroup nogroup'
    fi
    cat >"$D/tinyproxy.conf" <<EOF
$user
Port $port
Listen 127.0.0.1
Timeout 600
DefaultErrorFile "/usr/share/tinyproxy/default.html"
LogFile "$D/tinyproxy.log"
LogLevel Info
PidFile "$D/tinyproxy.pid"
MaxClients 10000
Allow 127.0.0.1
ConnectPort $TLS_PORT
ViaProxyName "tinyproxy"
EOF
    $PIN_PROXY tinyproxy -d -c "$D/tinyproxy.conf" >"$D/stdout.log" 2>&1 &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
    if ! $HELP waitport "$port" 15; then
        WHY="did not start: $(tail -3 "$D/stdout.log" "$D/tinyproxy.log" 2>/dev/null | tr '\n' ' ')"
        return 1
    fi
}

# ---------------------------------------------------------------- run
# Fill the page cache with the (sparse) file and warm nginx and curl up.
cat "$T/www/1g" >/dev/null
download "" >/dev/null
connect_once direct_check "" "" || die "direct download failed; origin broken"

# Start every proxy; they run side by side (idle unless under load), and each
# load is run against each proxy in turn, so that a change in whatever else
# the machine does hits all of them alike.
ACTIVE=()
declare -A PORT PID
for p in $PROXIES; do
    case $p in
        breaktimed) PORT[$p]=$PORT_BT ;;
        squid) PORT[$p]=$PORT_SQ ;;
        tinyproxy) PORT[$p]=$PORT_TP ;;
        *) die "unknown proxy $p" ;;
    esac
    log "$p: starting on 127.0.0.1:${PORT[$p]} (core $PROXY_CPU)"
    PROXY_PID=""
    WHY=""
    "start_$p" || {
        log "  $p: n/a: $WHY"
        put "$p" status "n/a: $WHY"
        [ -n "$PROXY_PID" ] && stop_pid "$PROXY_PID" 5
        continue
    }
    PID[$p]=$PROXY_PID
    # sanity: one request through it
    chk=$(curl -sS -x "http://127.0.0.1:${PORT[$p]}" "${CURL_AUTH[@]}" --max-time 10 -o /dev/null \
        -w '%{http_code} %{size_download}' "http://127.0.0.1:$HTTP_PORT/1k" 2>&1)
    if [ "$chk" != "200 1024" ]; then
        log "  $p: n/a: check request gave '$chk'"
        put "$p" status "n/a: check request gave '$chk'"
        stop_pid "$PROXY_PID" 10
        continue
    fi
    put "$p" status ok
    put "$p" pids "$($HELP tree "$PROXY_PID")"
    put "$p" rss_start_kib "$($HELP rss "$PROXY_PID")"
    ACTIVE+=("$p")
done
[ ${#ACTIVE[@]} -gt 0 ] || die "no proxy could be measured"

# order ROTATION: the active proxies, rotated by ROTATION places
order() {
    local n=${#ACTIVE[@]} i
    for ((i = 0; i < n; i++)); do echo "${ACTIVE[$(((i + $1) % n))]}"; done
}


# Idle tunnels first, while each proxy is fresh: its heap holds nothing from
# earlier loads that the tunnels could reuse unseen.
part() { [[ " $PARTS " == *" $1 "* ]]; }
part tunnels && for p in "${ACTIVE[@]}"; do
    run_tunnels "$p" "${PORT[$p]}" "${PID[$p]}"
done

part http && for p in "${ACTIVE[@]}"; do warm "${PORT[$p]}"; done
rot=0
part http && for ((round = 1; round <= ROUNDS; round++)); do
    for load in "ka /1k 0" "close /1k 1" "big /64k 0"; do
        read -r name path close <<<"$load"
        for p in $(order $rot); do
            run_wrk "$p" "$name" "${PORT[$p]}" "$path" "$close" "${PID[$p]}"
        done
        rot=$((rot + 1))
    done
done
# CONNECT downloads: each round goes through every proxy and once with no
# proxy, so that the no-proxy figure is taken under the same conditions.
ACTIVE+=(direct)
PORT[direct]=""; PID[direct]=""
part connect && for ((i = 0; i < CONNECT_REPS; i++)); do
    for p in $(order $rot); do
        connect_once "$p" "${PORT[$p]}" "${PID[$p]}"
    done
    rot=$((rot + 1))
done
unset 'ACTIVE[-1]'

for p in "${ACTIVE[@]}"; do
    pid=${PID[$p]}
    proc_alive "$pid" || { log "  $p: died during the run"; put "$p" died true; }
    for f in "$T/$p"/access.log "$T/$p"/tinyproxy.log; do
        [ -f "$f" ] && put "$p" log_bytes "$(stat -c %s "$f")" && break
    done
    stop_pid "$pid" 10
    if [ "$p" = breaktimed ]; then
        [ -f "$T/$p/breaktime.db" ] && put "$p" db_bytes "$(stat -c %s "$T/$p/breaktime.db")"
        put "$p" stderr_tail "$(grep -v '^<7>' "$T/$p/stderr.log" | tail -5)"
    fi
done

$PY "$HERE/report.py" "$RES" ${OUT:+-o "$OUT"}
