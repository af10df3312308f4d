#!/bin/sh
# Store writer benchmark: how many records per second the writer thread
# sustains into a real SQLite file (WAL, synchronous=NORMAL), fed by two
# producer threads as breaktimed's workers feed it. Goal (issue 4):
# >= 100,000 records/s on a 2-core machine.
#
#   bench/store.sh [BUILD_DIR] [RECORDS] [RUNS]
#
# NICE=-10 (root) runs the benchmark at that nice level, on a machine busy
# with other work.
#
# BUILD_DIR defaults to ./build and must have bench/store_bench built
# (meson compile -C BUILD_DIR). The database goes to $TMPDIR (a real disk,
# not tmpfs, if you want the disk in the figure). Each mode runs RUNS times
# (default 3) and the best run counts, because a shared machine's other load
# only ever makes a run slower; "records per writer CPU second" is printed
# beside it and is much less sensitive to that load.
#
# modes: mixed  70 % social platforms (requests, tunnel minutes, tunnels),
#               30 % other traffic kept as daily counts (the default setting)
#        social every record is a social event with usage minutes
#        hosts  log_other = hosts: every record an event row (the most work)
#        mixed+access_log  mixed, also writing the Squid access.log
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${1:-$src/build}
records=${2:-1000000}
runs=${3:-3}
bench=$build/bench/store_bench
nice=""
if [ -n "${NICE:-}" ]; then
	nice="nice -n $NICE"
fi

if [ ! -x "$bench" ]; then
	echo "store.sh: $bench is missing; run: meson compile -C $build" >&2
	exit 1
fi
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //') x $(nproc)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sqlite: $(pkg-config --modversion sqlite3 2>/dev/null || echo ?)"
echo "tmp: ${TMPDIR:-/tmp} ($(df -T "${TMPDIR:-/tmp}" | awk 'NR==2 {print $2}'))"

for mode in mixed social hosts mixed+access_log; do
	args="-m ${mode%%+*} -n $records -t 2"
	[ "$mode" = "mixed+access_log" ] && args="$args -a"
	best=0
	bestline=""
	for i in $(seq 1 "$runs"); do
		out=$($nice "$bench" $args)
		rate=$(echo "$out" | sed -n 's/.*committed in [0-9.]* s: \([0-9]*\) records\/s.*/\1/p')
		if [ "${rate:-0}" -gt "$best" ]; then
			best=$rate
			bestline=$(echo "$out" | tail -n 2 | tr '\n' ' ')
		fi
	done
	printf '%-18s %8s records/s   %s\n' "$mode" "$best" "$bestline"
done
