-- wrk script: send absolute-form requests to a forward proxy.
--
-- wrk connects to the URL given on its command line (the proxy) and sends
--   GET $BENCH_TARGET HTTP/1.1
--   Host: $BENCH_HOST
--   [Connection: close]          (when BENCH_CLOSE=1)
--   [Proxy-Authorization: $BENCH_AUTH]   (when set, bench/run.sh AUTH=1)
-- At the end it prints one line "BENCHJSON {...}" that bench/run.sh reads.

local target = os.getenv("BENCH_TARGET")
local host = os.getenv("BENCH_HOST")
if not target or not host then
   io.stderr:write("proxy.lua: BENCH_TARGET and BENCH_HOST must be set\n")
   os.exit(2)
end

wrk.path = target
wrk.headers["Host"] = host
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
   wrk.headers["Proxy-Authorization"] = auth
end
if os.getenv("BENCH_CLOSE") == "1" then
   wrk.headers["Connection"] = "close"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCHJSON {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, " ..
      "\"err_connect\": %d, \"err_read\": %d, \"err_write\": %d, " ..
      "\"err_status\": %d, \"err_timeout\": %d, " ..
      "\"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"max_us\": %d, " ..
      "\"mean_us\": %.1f}\n",
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean))
end
