-- wrk script: cycle through a file of prepared requests, one per line:
--     <path> TAB <Authorization header value, or empty> [TAB <method, GET if absent>]
-- (a POST goes with an empty body, Content-Length: 0)
-- and print the figures as one JSON line (prefixed BENCH) when the run is done.
-- Usage: wrk -t1 -c32 -d5s -s requests.lua http://127.0.0.1:8080 -- targets.tsv

local requests = {}
local count = 0
local next_index = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local path, rest = line:match("^([^\t]+)\t(.*)$")
    local auth, method = rest:match("^([^\t]*)\t(%u+)$")
    if auth == nil then
      auth, method = rest, "GET"
    end
    local headers = {}
    if auth ~= "" then
      headers["Authorization"] = auth
    end
    local body = nil
    if method ~= "GET" then
      body = ""
    end
    count = count + 1
    requests[count] = wrk.format(method, path, headers, body)
  end
  file:close()
  assert(count > 0, "no requests in " .. args[1])
end

function request()
  next_index = next_index % count + 1
  return requests[next_index]
end

function done(summary, latency, _requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "bad_status": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.timeout, e.status, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
