-- wrk script: GET the targets given after "--" one after the other (each
-- connection's requests come from one shared sequence, as wrk -t1 has one
-- Lua state). bench/run.py uses it for the json profile:
--   wrk -s bench/rotate.lua http://127.0.0.1:PORT/ -- "/json/1?m=3" "/json/5?m=7" ...
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "report.lua")

local reqs = {}
local n = 0

init = function(args)
  for i, target in ipairs(args) do
    reqs[i] = wrk.format("GET", target)
  end
  if #reqs == 0 then
    reqs[1] = wrk.format("GET", wrk.path)
  end
end

request = function()
  n = n + 1
  return reqs[(n - 1) % #reqs + 1]
end
