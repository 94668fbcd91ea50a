"""A sample agent: it calls the Airlock router the way any agent would, with unmodified SDKs and no key."""

import json
import os
import socket
import urllib.error
import urllib.request

import anthropic
import openai

BASE = os.environ["OPENAI_BASE_URL"]
results = []


def report(name, ok, detail):
    results.append(ok)
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")


# 1. Plain HTTP, as curl or any script would.
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello from plain HTTP"}]}).encode()
request = urllib.request.Request(BASE + "/chat/completions", data=body, headers={"content-type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as response:
    reply = json.loads(response.read())
    report("plain HTTP chat", response.status == 200, f"{reply['choices'][0]['message']['content']!r}, "
           f"request id {response.headers['x-request-id']}")

# 2. The official OpenAI SDK: a call and a stream.
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
    report("forbidden model", False, "was allowed")
except openai.PermissionDeniedError as error:
    report("forbidden model", True, f"PermissionDeniedError {error.status_code}: {error.message}")

# 5. The Unix socket: identity from SO_PEERCRED.
sock = socket.socket(socket.AF_UNIX)
sock.settimeout(5)
sock.connect(os.environ["AIRLOCK_SOCKET"])
sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: airlock\r\nconnection: close\r\n\r\n")
data = b""
while chunk := sock.recv(65536):
    data += chunk
models = json.loads(data.split(b"\r\n\r\n", 1)[1])
report("unix socket /v1/models", data.startswith(b"HTTP/1.1 200"), ", ".join(m["id"] for m in models["data"]))

# 6. The agent holds no provider key.
keys = {k: v for k, v in os.environ.items() if "KEY" in k}
report("no provider key in the agent", all(v == "agent-has-no-key" for v in keys.values()), f"{sorted(keys)} are placeholders")

print(f"\n  {sum(results)} of {len(results)} agent checks passed")
raise SystemExit(0 if all(results) else 1)
