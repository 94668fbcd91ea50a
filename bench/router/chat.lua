-- One non-streaming chat completion per request; the Authorization header is set only when calling the
-- upstream directly (the router injects its own and ignores the agent's).
wrk.method = "POST"
wrk.body = '{"model":"gpt-bench","messages":[{"role":"user","content":"one two three four five"}]}'
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
