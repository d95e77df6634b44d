-- wrk script: report the run as one line of JSON on stdout, for bench/run.py:
--   BENCH_JSON {"requests":..,"duration_us":..,"bytes":..,"connects":null,
--   "errors":{"connect":..,"read":..,"write":..,"status":..,"timeout":..},
--   "latency_us":{"p50":..,"p90":..,"p99":..,"p999":..,"max":..,"mean":..},
--   "latency_source":"raw"|"wrk"}
-- (bench-load prints the same line). errors.status counts responses with a
-- status above 399, as wrk's "Non-2xx or 3xx responses".
--
-- Latency is per request, or per batch when requests are pipelined, from
-- the first byte written to the last byte of the (last) response. Before
-- done() runs, wrk 4.1 adds made-up samples to its latency histogram (its
-- "coordinated omission" correction, stats_correct, with an interval of
-- runtime / (requests / connections)). With pipelining that interval is
-- shorter than any measured batch, the made-up samples fall below the
-- histogram's min and latency:percentile(99) answers 0. So when
-- BENCH_WRK_CONNECTIONS is set (to -c), this script undoes the correction
-- (exactly: it replays stats_correct backwards on wrk's histogram, read
-- through LuaJIT's FFI) and reports the measured samples ("raw"); otherwise
-- it reports latency:percentile ("wrk").
--
-- Alone: BENCH_WRK_CONNECTIONS=64 wrk -c64 -s bench/report.lua URL; the other
-- scripts load it with dofile.

local function raw_latency(latency, summary)
  local conns = tonumber(os.getenv("BENCH_WRK_CONNECTIONS") or "")
  local ok, ffi = pcall(require, "ffi")
  if not conns or not ok then
    return nil
  end
  -- wrk's stats: uint64_t count, limit, min, max, data[limit]
  local s = ffi.cast("uint64_t **", ffi.cast("void *", latency))[0]
  local count, min, max = tonumber(s[0]), tonumber(s[2]), tonumber(s[3])
  local data = s + 4
  if count == 0 or max < min then
    return nil
  end
  local per_conn = math.floor(summary.requests / conns)
  if per_conn > 0 then
    local e = math.floor(summary.duration / per_conn)
    if e > 0 then
      for n = max, 2 * e, -1 do
        local c = tonumber(data[n])
        if c > 0 then
          local m = n - e
          while m > e do
            data[m] = data[m] - c
            count = count - c
            m = m - e
          end
        end
      end
    end
  end
  local want = { 50, 90, 99, 99.9 }
  local out, k, total, sum, top = {}, 1, 0, 0, min
  for i = min, max do
    local c = tonumber(data[i])
    if c > 0 then
      total = total + c
      sum = sum + c * i
      top = i
      while k <= #want and total >= math.max(1, math.ceil(want[k] / 100 * count)) do
        out[k] = i
        k = k + 1
      end
    end
  end
  return { p50 = out[1], p90 = out[2], p99 = out[3], p999 = out[4], max = top, mean = sum / count }
end

done = function(summary, latency, requests)
  local e = summary.errors
  local l = raw_latency(latency, summary)
  local source = "raw"
  if not l then
    source = "wrk"
    l = { p50 = latency:percentile(50), p90 = latency:percentile(90),
          p99 = latency:percentile(99), p999 = latency:percentile(99.9),
          max = latency.max, mean = latency.mean }
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connects":null,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f,"max":%.0f,"mean":%.1f},' ..
    '"latency_source":"%s"}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    l.p50, l.p90, l.p99, l.p999, l.max, l.mean, source))
end
