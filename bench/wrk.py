"""The load: wrk driven by a generated Lua script, and its summary read back as JSON.

The script sends a list of (path, body) round-robin, each thread its own share, counts statuses
(and optionally the answers carrying a marker), and prints one BENCHJSON line when done.
"""
import json
import subprocess

LUA = r"""
local items = {ITEMS}
local method = "METHOD"
local headers = {HEADERS}
local marker = MARKER
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  marks = 0
  step = tonumber(args[1]) or 1
  pos = id - step
  reqs = {}
  for i, item in ipairs(items) do
    reqs[i] = wrk.format(method, item[1], headers, item[2])
  end
end

function request()
  pos = pos + step
  return reqs[((pos - 1) % #reqs) + 1]
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
  if marker and body and string.find(body, marker, 1, true) then marks = marks + 1 end
end

function done(summary, latency, requests)
  local merged, total_marks = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do merged[k] = (merged[k] or 0) + v end
    total_marks = total_marks + t:get("marks")
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%d": %d', k, v)) end
  io.write(string.format('BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, "marks": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes, total_marks,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    table.concat(parts, ", ")))
end
"""


def _lua_string(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def lua_script(method, items, headers, marker=None):
    """A wrk script sending `items` ([(path, body-or-None)]) round-robin, thread by thread."""
    rendered = ",\n".join("{%s, %s}" % (_lua_string(p), _lua_string(b) if b is not None else "nil") for p, b in items)
    header_text = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
    return (LUA.replace("{ITEMS}", "{" + rendered + "}").replace("METHOD", method)
            .replace("{HEADERS}", "{" + header_text + "}")
            .replace("MARKER", _lua_string(marker) if marker else "nil"))


def wrk(port, script, connections, seconds, background=False, server=None):
    """wrk at `connections` for `seconds`; returns its figures (ms) or a Popen when in background."""
    threads = min(2, connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "30s",
               "-s", script, f"http://127.0.0.1:{port}/", "--", str(threads)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if background:
        return process
    result = wrk_result(process)
    if server is not None:
        server.wait_idle()
    return result


def wrk_result(process):
    output, _ = process.communicate()
    line = next((l for l in output.splitlines() if l.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk no dio resultados:\n{output}")
    raw = json.loads(line[len("BENCHJSON "):])
    seconds = raw["duration_us"] / 1e6
    if raw["requests"] == 0:  # nothing finished in time: no latency to report, not a latency of 0
        raw.update(p50=None, p95=None, p99=None, max=None, mean=None)
        return {"requests": 0, "seconds": round(seconds, 2), "rps": 0.0, "p50": None, "p95": None, "p99": None,
                "max": None, "mean": None, "statuses": {}, "errors": raw["errors"], "marks": 0}
    return {
        "requests": raw["requests"], "seconds": round(seconds, 2), "rps": round(raw["requests"] / seconds, 1),
        "p50": raw["p50"] / 1000, "p95": raw["p95"] / 1000, "p99": raw["p99"] / 1000, "max": raw["max"] / 1000,
        "mean": round(raw["mean"] / 1000, 2), "statuses": {int(k): v for k, v in raw["statuses"].items()},
        "errors": raw["errors"], "marks": raw["marks"],
    }
