"""A sample agent, run inside `airlock run`: it calls the router the way any agent would, with unmodified
SDKs and no key, and then tries what a compromised agent would try."""

import errno
import json
import os
import socket
import urllib.error
import urllib.request

import anthropic
import asyncio
import openai
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.exceptions import McpError

BASE = os.environ["OPENAI_BASE_URL"]
results = []


def report(name, ok, detail):
    results.append(ok)
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)


# 1. Plain HTTP, as curl or any script would.
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello from plain HTTP"}]}).encode()
request = urllib.request.Request(BASE + "/chat/completions", data=body, headers={"content-type": "application/json"})
with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
    reply = json.loads(response.read())
    report("plain HTTP chat", response.status == 200, f"{reply['choices'][0]['message']['content']!r}, "
           f"request id {response.headers['x-request-id']}")

# 2. The official OpenAI SDK: a call, a stream, embeddings.
client = openai.OpenAI(max_retries=0)
completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
report("openai SDK chat", completion.usage.total_tokens > 0, f"{completion.choices[0].message.content!r} "
       f"({completion.usage.total_tokens} tokens, upstream model {completion.model})")
chunks = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "stream"}], stream=True) if c.choices]
report("openai SDK stream", len(chunks) > 1, f"{len(chunks)} chunks: {''.join(chunks)!r}")
embedding = client.embeddings.create(model="text-embedding-3-small", input="vectors")
report("openai SDK embeddings", len(embedding.data[0].embedding) > 0, f"{len(embedding.data[0].embedding)} dimensions")

# 3. The official Anthropic SDK.
message = anthropic.Anthropic(max_retries=0).messages.create(
    model="claude-sonnet", max_tokens=64, messages=[{"role": "user", "content": "hello"}])
report("anthropic SDK message", message.usage.output_tokens > 0, f"{message.content[0].text!r}")

# 4. A model this sandbox may not use: refused with the SDK's own exception.
try:
    client.chat.completions.create(model="gpt-5-secret", messages=[{"role": "user", "content": "x"}])
    report("forbidden model refused", False, "was allowed")
except openai.PermissionDeniedError as error:
    report("forbidden model refused", True, f"PermissionDeniedError {error.status_code}")

# 5. Egress through the router's proxy: the allowlisted mirror works, anything else is refused.
with urllib.request.urlopen("http://mirror.demo.test:9902/simple/", timeout=10) as response:
    index = response.read().decode()
    report("egress to the allowlisted mirror", response.status == 200 and "airlock-demo-package" in index,
           f"{response.status} through the egress proxy, a package index")
# The same name on another port (the mock upstream, which shows what it was sent) is not on the allowlist.
try:
    urllib.request.urlopen("http://mirror.demo.test:9901/__mock/requests", timeout=10)
    report("the upstream's port refused under the mirror's name", False, "was allowed")
except urllib.error.HTTPError as error:
    report("the upstream's port refused under the mirror's name", error.code == 403, f"{error.code}: {error.read().decode().strip()}")
try:
    urllib.request.urlopen("http://example.com/", timeout=10)
    report("egress to a host not on the allowlist refused", False, "was allowed")
except urllib.error.HTTPError as error:
    report("egress to a host not on the allowlist refused", error.code == 403, f"{error.code}: {error.read().decode().strip()}")

# 6. Going around the proxy: a direct connection to the outside.
try:
    socket.create_connection(("1.1.1.1", 443), timeout=5).close()
    report("direct connection to the outside refused", False, "connected")
except OSError as error:
    report("direct connection to the outside refused", True, f"{errno.errorcode.get(error.errno, error.errno)}")

# 7. Reading the router's provider key.
key_path = os.environ.get("AIRLOCK_FORBIDDEN_FILE", "/tmp/airlock-demo/openai.key")
try:
    open(key_path).read()
    report("router's key file unreadable", False, "read it")
except OSError as error:
    report("router's key file unreadable", True, f"{key_path}: {errno.errorcode.get(error.errno, error.errno)}")

# 8. The agent holds no provider key.
keys = {k: v for k, v in os.environ.items() if k.endswith("API_KEY")}
report("no provider key in the agent", all(v == "airlock-injects-the-key" for v in keys.values()), f"{sorted(keys)} are placeholders")

# 9. A tool through the router's MCP gateway: the agent holds no token for the tool server, sees only the tools its
# sandbox may use, and a call of any other is refused before it reaches the server.
async def tools():
    async with streamablehttp_client("http://127.0.0.1:8443/mcp/tools") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = [tool.name for tool in (await session.list_tools()).tools]
            report("MCP tools listed through the router", names == ["echo", "add"], f"{names}")
            added = await session.call_tool("add", {"a": 40, "b": 2})
            report("MCP tool called through the router", added.content[0].text == "42", f"add(40, 2) = {added.content[0].text}")
            try:
                await session.call_tool("delete_everything", {"confirm": True})
                report("MCP tool outside the policy refused", False, "was called")
            except McpError as error:
                report("MCP tool outside the policy refused", error.error.data == {"reason": "mcp_tool_not_allowed"}, error.error.message)


asyncio.run(tools())

print(f"\n  {sum(results)} of {len(results)} agent checks passed", flush=True)
raise SystemExit(0 if all(results) else 1)
