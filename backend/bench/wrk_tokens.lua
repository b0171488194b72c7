-- wrk script: rotate credentials from a file, one per line.
--   wrk ... -s wrk_tokens.lua URL -- TOKENS_FILE [bearer|verify|cookie|none]
-- bearer: GET with "Authorization: Bearer <token>" (the default)
-- verify: POST {"token": "<token>"} as application/json (POST /api/v1/auth/verify)
-- cookie: GET with "Cookie: <line>" (the line is the whole cookie, name=value)
-- none:   GET with no credential (the lines only count; the bare endpoint)
-- Requests are formatted once in init(), so that wrk spends its CPU on sending, not on Lua.
-- response() counts the answers by status in each thread; done() adds the threads up and
-- prints one line "WRK_RESULT {json}" with the counters, the statuses and the latency
-- percentiles (µs).

local requests_by_index = {}
local count = 0
local index = 0
statuses = {}  -- global: done() reads it from each thread with thread:get("statuses")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  local mode = args[2] or "bearer"
  for line in io.lines(path) do
    if #line > 0 then
      count = count + 1
      if mode == "verify" then
        requests_by_index[count] = wrk.format(
          "POST", nil,
          { ["Host"] = wrk.headers["Host"], ["Content-Type"] = "application/json" },
          '{"token":"' .. line .. '"}')
      elseif mode == "cookie" then
        requests_by_index[count] = wrk.format(
          nil, nil, { ["Host"] = wrk.headers["Host"], ["Cookie"] = line })
      elseif mode == "none" then
        requests_by_index[count] = wrk.format(nil, nil, { ["Host"] = wrk.headers["Host"] })
      else
        requests_by_index[count] = wrk.format(
          nil, nil, { ["Host"] = wrk.headers["Host"], ["Authorization"] = "Bearer " .. line })
      end
    end
  end
  if count == 0 then
    error("no tokens in " .. path)
  end
  index = math.random(count) - 1
end

function request()
  index = index % count + 1
  return requests_by_index[index]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(totals) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"statuses":{%s},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p75":%d,"p90":%d,"p95":%d,' ..
    '"p99":%d,"p999":%d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ","),
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency:percentile(99.9)))
end
