-- wrk script for http_load.sh: every request starts a Request of the process named by the
-- environment variable SLUICE_BENCH_KEY, with the token in SLUICE_BENCH_TOKEN. It counts the
-- answers by status, so the script can check them against the database afterwards.

local key = os.getenv("SLUICE_BENCH_KEY") or "bench"
local token = os.getenv("SLUICE_BENCH_TOKEN") or ""

wrk.method = "POST"
wrk.path = "/api/v1/processes/" .. key .. "/requests"
wrk.body = '{"data": {"amount": 120, "customer": {"name": "Ann"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   created = 0
   other = 0
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
   else
      other = other + 1
      if other <= 3 then
         io.stderr:write("unexpected answer " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
      end
   end
end

function done(summary, latency, requests)
   local c, o = 0, 0
   for _, t in ipairs(threads) do
      c = c + t:get("created")
      o = o + t:get("other")
   end
   local seconds = summary.duration / 1e6
   io.write(string.format("started Requests (201): %d, other answers: %d, socket errors: %d\n", c, o,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
   io.write(string.format("requests/s: %.0f\n", c / seconds))
   io.write(string.format("latency p50: %.2f ms, p90: %.2f ms, p99: %.2f ms, max: %.2f ms\n",
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000))
   io.write(string.format("BENCH created=%d other=%d\n", c, o))
end
