#!/bin/sh
# breaktime-sensor benchmark (issue 7): packets per CPU-second on a capture
# file of mixed traffic (goal >= 1,000,000 on one core), and the memory
# used by a flood of distinct flows (goal: bounded by the flow-table limit
# whatever the input).
#
#   bench/sensor.sh [BUILD_DIR] [PACKETS] [RUNS]
#
# BUILD_DIR defaults to ./build and must have sensor/breaktime-sensor built;
# measure a release build:
#   meson setup build-bench --buildtype=release -Db_ndebug=if-release
#   meson compile -C build-bench sensor/breaktime-sensor
# PACKETS (default 3,000,000) is the size of each capture file; RUNS
# (default 3) how often each mixed-traffic run is repeated (the lowest CPU
# time counts: a shared machine's other load only ever adds to it).
#
# The capture files are generated once by bench/sensor_gen.py
# (deterministic: the same bytes on every machine; ~2.5 GB for the mixed
# file of 3 M packets, ~1.6 GB for the flood) and kept in
# $SENSOR_BENCH_DIR (default $TMPDIR or /tmp) for the next run; delete them
# when done. QUIC Initials need python3's `cryptography` package
# (python3-cryptography). The configuration and the store's SQLite
# database live in a temporary directory, removed on exit.
#
# Figures: CPU is user+system time of the sensor process (all its threads:
# with a store, the store's writer thread too) from wait4(2); max RSS from
# the same rusage. The sensor is single-threaded, so packets per
# CPU-second is packets per second on one core.
#
# Modes: "json"  --json > /dev/null (names printed, nothing stored)
#        "store" the real mode: records for social traffic into SQLite
# Flood: a second file where every packet is a new flow, run with
# --max-flows 16384, the default 65536 and 262144; RSS follows the limit.
#
# CALLGRIND=1 also counts instructions per packet with valgrind's
# callgrind (repeatable, unlike time): the instructions of the mixed file's
# first 400,000 packets minus those of its first 200,000 (the same stream's
# prefixes), divided by 200,000 -- start-up costs cancel out.
# NICE=-10 (root) runs the sensor at that nice level.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${1:-$src/build}
packets=${2:-3000000}
runs=${3:-3}
sensor=$build/sensor/breaktime-sensor
gen=$here/sensor_gen.py
dir=${SENSOR_BENCH_DIR:-${TMPDIR:-/tmp}}
nice=""
if [ -n "${NICE:-}" ]; then
	nice="nice -n $NICE"
fi

if [ ! -x "$sensor" ]; then
	echo "sensor.sh: $sensor is missing; run: meson compile -C $build sensor/breaktime-sensor" >&2
	exit 1
fi
if ! python3 -c 'import cryptography' 2>/dev/null; then
	echo "sensor.sh: python3 has no cryptography package (python3-cryptography):" \
		"QUIC flows will carry no Initial" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bt-sensor-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
cat > "$tmp/sensor.conf" <<EOF
[proxy]
listen = 10.50.255.1:3128
[store]
database = $tmp/bt.db
[catalog]
platforms = $src/config/platforms.list
[presence]
detect_subnets = 10.52.0.0/16
[auth]
devices = $tmp/devices
EOF
printf '10.50.0.8/29 bob\n10.50.0.9/32 alice\n' > "$tmp/devices"

# capture FILE: generate it unless it is there already
capture() {
	kind=$1 n=$2
	f=$dir/breaktime-sensor-bench-v1-$kind-$n.pcap
	if [ ! -s "$f" ]; then
		echo "generating $f ..." >&2
		python3 "$gen" "$kind" "$f" "$n" >&2
	fi
	echo "$f"
}

# measure LABEL ARGS...: one run; prints "user sys maxrss_kib wall rc" into $tmp/ru
measure() {
	rm -f "$tmp"/bt.db*
	# shellcheck disable=SC2086
	$nice python3 "$gen" rusage "$tmp/ru" -- "$sensor" -c "$tmp/sensor.conf" "$@" \
		> /dev/null 2> "$tmp/err" || {
		echo "sensor.sh: breaktime-sensor $* failed:" >&2
		cat "$tmp/err" >&2
		exit 1
	}
}

stats_line() {
	sed -n 's/^<6>frames /frames /p' "$tmp/err" | tail -n 1
}

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //') x $(nproc)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sensor: $sensor ($("$sensor" -V))"

mixed=$(capture mixed "$packets")
echo "mixed: $mixed ($(du -m "$mixed" | cut -f1) MB, $packets packets)"
for mode in json store; do
	best=""
	for i in $(seq 1 "$runs"); do
		if [ "$mode" = json ]; then
			measure -r "$mixed" --json
		else
			measure -r "$mixed"
		fi
		read -r user sys rss wall rc < "$tmp/ru"
		cpu=$(echo "$user $sys" | awk '{printf "%.3f", $1 + $2}')
		rate=$(echo "$packets $cpu" | awk '{printf "%d", $1 / $2}')
		printf '  %-5s run %d: %8s packets/CPU-s  (user %s s, sys %s s, wall %s s, max RSS %s KiB)\n' \
			"$mode" "$i" "$rate" "$user" "$sys" "$wall" "$rss"
		if [ -z "$best" ] || [ "$rate" -gt "$best" ]; then
			best=$rate
		fi
	done
	echo "  $mode: $(stats_line)"
	[ "$mode" = store ] && echo "  $mode: $(sed -n 's/^<6>store: closed: //p' "$tmp/err")"
	verdict=FAIL
	[ "$best" -ge 1000000 ] && verdict=PASS
	printf '%-5s best %8s packets per CPU-second   goal >= 1,000,000: %s\n' "$mode" "$best" "$verdict"
done

flood=$(capture flood "$packets")
echo "flood: $flood ($(du -m "$flood" | cut -f1) MB, $packets packets, each a new flow)"
for limit in 16384 65536 262144; do
	measure -r "$flood" --json --max-flows "$limit"
	read -r user sys rss wall rc < "$tmp/ru"
	cpu=$(echo "$user $sys" | awk '{printf "%.3f", $1 + $2}')
	rate=$(echo "$packets $cpu" | awk '{printf "%d", $1 / $2}')
	printf 'flood --max-flows %-7s max RSS %7s KiB  (%s packets/CPU-s)  %s\n' "$limit" "$rss" "$rate" \
		"$(stats_line | sed 's/.*\(flows [0-9]* (evicted [0-9]*)\).*/\1/')"
done
measure -r "$flood"
read -r user sys rss wall rc < "$tmp/ru"
printf 'flood with the store, default limit: max RSS %s KiB  (%s)\n' "$rss" \
	"$(stats_line | sed 's/.*\(flows [0-9]* (evicted [0-9]*)\).*/\1/')"

if [ "${CALLGRIND:-0}" = 1 ]; then
	command -v valgrind >/dev/null || { echo "sensor.sh: CALLGRIND=1 needs valgrind" >&2; exit 1; }
	ir() {
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$sensor" -c "$tmp/sensor.conf" "$@" \
			2>&1 >/dev/null | sed -n 's/.*Collected : //p'
	}
	small=$(capture mixed 200000)
	large=$(capture mixed 400000)
	for mode in json store; do
		if [ "$mode" = json ]; then
			a=$(ir -r "$small" --json)
			b=$(ir -r "$large" --json)
		else
			rm -f "$tmp"/bt.db*
			a=$(ir -r "$small")
			rm -f "$tmp"/bt.db*
			b=$(ir -r "$large")
		fi
		echo "$mode: callgrind $(echo "$a $b" | awk '{printf "%d", ($2 - $1) / 200000}') instructions per packet" \
			"(packets 200,001-400,000 of the mixed stream)"
	done
fi
