#!/bin/sh
# run-fuzzers.sh BUILD_DIR SECONDS: run every libFuzzer target built in
# BUILD_DIR (configured with -Dfuzzing=true) for SECONDS each, on a scratch
# copy of its seed corpus from tests/data/fuzz/fuzz_NAME/, so the seeds in git
# are never changed. Crash inputs are kept in tests/fuzz/corpus-run/NAME/.
# Exits non-zero when any target finds a crash, leak or timeout, and prints
# one summary line.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../data/fuzz"
work="$here/corpus-run"

targets=$(find "$build/tests/fuzz" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
if [ -z "$targets" ]; then
	echo "no fuzz targets in $build/tests/fuzz (configure with CC=clang -Dfuzzing=true)" >&2
	exit 2
fi

total_execs=0
n=0
failed=""
for exe in $targets; do
	name=${exe##*/fuzz_}
	n=$((n + 1))
	rm -rf "${work:?}/${name:?}"
	mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
	if [ -d "$data/fuzz_$name" ]; then
		cp "$data/fuzz_$name"/* "$work/$name/corpus/" 2>/dev/null
	fi
	dict=""
	case $name in
	http_*|chunked) dict="-dict=$here/http.dict" ;;
	esac
	log="$work/$name/fuzz.log"
	# shellcheck disable=SC2086
	"$exe" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
		-artifact_prefix="$work/$name/artifacts/" $dict \
		"$work/$name/corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	execs=${execs:-0}
	total_execs=$((total_execs + execs))
	if [ $rc -ne 0 ]; then
		failed="$failed $name"
		echo "fuzz_$name: FAILED (exit $rc), see $log and $work/$name/artifacts/" >&2
		grep -m 5 -E 'ERROR|SUMMARY|runtime error' "$log" >&2
	fi
done

if [ -n "$failed" ]; then
	echo "fuzz: $n targets x ${seconds}s, $total_execs executions, FAILED:$failed"
	exit 1
fi
echo "fuzz: $n targets x ${seconds}s, $total_execs executions, no crashes"
