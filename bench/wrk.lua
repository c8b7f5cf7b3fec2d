-- wrk script of the benchmark (bench/processes.py): headers come from -H.
-- With BENCH_CREATE_LEADS=1 every request POSTs a new lead (a distinct name per thread and request);
-- otherwise wrk sends its plain GET. At the end one line "BENCH {json}" reports the run, latencies in µs.

local create_leads = os.getenv("BENCH_CREATE_LEADS") == "1"
local threads = {}
local counter = 0

-- thread_id is a global of each thread's own Lua state, set before its first request.
function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

if create_leads then
  function request()
    counter = counter + 1
    local body = string.format(
      '{"first_name":"Load","last_name":"T%d-%d","company":"Bench Load Co"}', thread_id, counter)
    return wrk.format("POST", nil, nil, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
