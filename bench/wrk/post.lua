-- POSTs the bodies of a file in turn, one request per line, and prints the run's figures
-- as one JSON line. Used by bench/httpbench.py; arguments after wrk's "--":
--
--   <bodies file> <expected status> <threads> <per-line header name or "-"> [Name: value]...
--
-- A line is "<value>\t<body>": the value goes into the per-line header (a webhook's
-- signature), or is empty. Thread n of t takes lines n, n+t, n+2t..., so threads never send
-- the same body; a thread that runs out starts its share again, and the run reports it.
-- A line whose body is "-" is sent as a GET without a body (a page to read).
-- WRK_DELAY_MS in the environment paces each connection: it waits that long after each
-- answer, so a soak sends a steady load instead of as much as the server takes.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- Globals, so that done() can read them from each thread with thread:get().
requests, expected, loaded = {}, 200, 0
sent, unexpected, last_unexpected = 0, 0, 0

function init(args)
  local file, per_line_header = args[1], args[4]
  local count, id = tonumber(args[3]), wrk.thread:get("id")
  expected = tonumber(args[2])
  local static = {}
  for i = 5, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    static[name] = value
  end
  local line_number = 0
  for line in io.lines(file) do
    if line_number % count == id then
      local value, body = line:match("^([^\t]*)\t(.*)$")
      local headers = {}
      for name, v in pairs(static) do headers[name] = v end
      if per_line_header ~= "-" then headers[per_line_header] = value end
      if body == "-" then
        table.insert(requests, wrk.format("GET", nil, headers, nil))
      else
        headers["Content-Type"] = "application/json"
        table.insert(requests, wrk.format("POST", nil, headers, body))
      end
    end
    line_number = line_number + 1
  end
  loaded = #requests
end

local pause = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pause then
  function delay() return pause end
end

function request()
  sent = sent + 1
  return requests[(sent - 1) % #requests + 1]
end

function response(status, headers, body)
  if status ~= expected then
    unexpected = unexpected + 1
    last_unexpected = status
  end
end

function done(summary, latency, _requests)
  local total, cycled, bad, last = 0, false, 0, 0
  for _, thread in ipairs(threads) do
    local thread_loaded, thread_sent = thread:get("loaded") or 0, thread:get("sent") or 0
    total = total + thread_loaded
    if thread_sent > thread_loaded then cycled = true end
    bad = bad + (thread:get("unexpected") or 0)
    if (thread:get("last_unexpected") or 0) ~= 0 then last = thread:get("last_unexpected") end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"unexpected":%d,' ..
    '"last_unexpected":%d,"socket_errors":%d,"timeouts":%d,"loaded":%d,"cycled":%s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad, last, errors.connect + errors.read + errors.write, errors.timeout, total,
    tostring(cycled)))
end
