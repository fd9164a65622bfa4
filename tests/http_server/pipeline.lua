-- wrk script: writes `depth` pipelined GET /plaintext requests at once (TechEmpower
-- style; depth 1 is plain keep-alive) and checks every response's status and body.
--   wrk -t1 -c16 -d2s -s pipeline.lua http://127.0.0.1:PORT -- 16
-- Prints "wrong responses: N" at the end (0 when every response was right).
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format("GET", "/plaintext")
  end
  req = table.concat(r)
  wrong = 0
end

request = function()
  return req
end

response = function(status, headers, body)
  if status ~= 200 or body ~= "Hello, World!" then
    wrong = wrong + 1
  end
end

done = function(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (t:get("wrong") or 0)
  end
  io.write(string.format("wrong responses: %d\n", total))
end
