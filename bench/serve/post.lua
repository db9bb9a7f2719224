-- bench/serve/post.lua: wrk script that POSTs the JSON body in $BODY_FILE to the server and
-- prints one machine-readable line at the end:
--   RESULT <requests> <seconds> <p50 ms> <p99 ms> <non-2xx> <socket errors>
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.3f %.2f %.2f %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
end
