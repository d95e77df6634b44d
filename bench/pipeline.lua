-- wrk script: send DEPTH pipelined requests per write (default 16).
--   wrk -s bench/pipeline.lua http://127.0.0.1:PORT/pipeline -- 16
-- wrk counts every response; it writes the next batch once all DEPTH
-- responses of the previous one have arrived on that connection.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "report.lua")

init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
