-- wrk script for the `serve` benchmark: one-click links read from a file (one path a line,
-- written by tests/bench/serve.rs). Each wrk thread takes every n-th line, so every request
-- answers a different delivery until the file runs out.
--   wrk -t2 -c200 -d10s --latency -s serve.lua http://127.0.0.1:PORT -- PATHS_FILE THREADS
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local threads = tonumber(args[2])
  paths, index = {}, 0
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % threads == id then
      paths[#paths + 1] = line
    end
    line_number = line_number + 1
  end
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
end
