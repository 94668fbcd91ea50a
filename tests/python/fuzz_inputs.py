"""Input generators for test_fuzz.py. Each takes the case's random.Random and returns plain bytes (or a Script of
bytes), so a case is fully determined by its seed and printed exactly when it fails.

Hostile upstream answers, agent requests, and mutations of configuration files and receipt logs."""

import copy
import json
import random
import re
from dataclasses import dataclass

import yaml

from fuzz_support import Script, literal

CRLF = b"\r\n"

# ----------------------------------------------------------------------------------------------------------------
# Values: JSON tokens of odd types and sizes, and random byte damage.

ODD_JSON = [
    b"-1", b"0", b"-0", b"1", b"100000000", b"100000001", b"2147483648", b"4294967296",
    b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808", b"-9223372036854775809",
    b"18446744073709551615", b"18446744073709551616", b"123456789012345678901234567890123456789",
    b"1e308", b"1e309", b"-1e308", b"1E400", b"4.9e-324", b"1.5", b"0.0", b"1.0", b"2.5e3", b"-0.0",
    b'"12"', b'""', b'"-1"', b'"9223372036854775807"', b'"\\u0000"', b"null", b"true", b"false",
    b"[]", b"{}", b"[1,2]", b'{"a":{"b":{"c":1}}}', b'{"total":5}', b"[[[[[[[[1]]]]]]]]",
    # Not JSON at all, as a sloppy upstream might write them.
    b"NaN", b"Infinity", b"-Infinity", b"0x10", b"01", b"+1", b"1.", b".5", b"--1", b"1e", b"undefined",
]


def odd_json(rng: random.Random) -> bytes:
    """A JSON value (or near-JSON token) of an odd type or size."""
    r = rng.random()
    if r < 0.65:
        return rng.choice(ODD_JSON)
    if r < 0.75:
        depth = rng.choice([60, 61, 62, 63, 64, 65, 512, 50_000])  # the router's JSON depth limit is 64, wherever it sits
        return b"[" * depth + b"1" + b"]" * depth if rng.random() < 0.5 else b'{"a":' * depth + b"1" + b"}" * depth
    if r < 0.9:
        return str(rng.randint(-(2**70), 2**70)).encode()
    return b"9" * rng.choice([20, 100, 1000, 100_000])


INTERESTING_BYTES = b'\x00\xff\xfe\x80\xc0\xed\x22\x5c{}[]:,\r\n 0-9e.'


def damage(rng: random.Random, data: bytes, edits: int | None = None) -> bytes:
    """Random byte edits: replace, insert or delete bytes, biased towards bytes parsers care about."""
    out = bytearray(data)
    for _ in range(edits or rng.randint(1, 6)):
        position = rng.randrange(len(out) + 1)
        byte = rng.choice(INTERESTING_BYTES) if rng.random() < 0.7 else rng.randrange(256)
        action = rng.random()
        if action < 0.45 and position < len(out):
            out[position] = byte
        elif action < 0.8:
            out[position:position] = bytes([byte]) * rng.choice([1, 1, 1, 2, 17])
        elif out:
            del out[position : position + rng.randint(1, 8)]
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


# ----------------------------------------------------------------------------------------------------------------
# Fuzzer 1: hostile upstream answers to a normal request.


def usage(rng: random.Random, names: list[bytes], nested: bytes) -> bytes:
    """A usage object with the counts `names`, each a small count or an odd value, sometimes missing or written
    twice, sometimes with a nested detail (`nested`) of an odd value; or, at times, not an object at all."""
    if rng.random() < 0.1:
        return odd_json(rng)
    fields = []
    for name in names:
        if rng.random() < 0.15:
            continue
        value = odd_json(rng) if rng.random() < 0.5 else str(rng.randint(0, 50)).encode()
        fields.append(b'"%s":%s' % (name, value))
    if rng.random() < 0.2:
        fields.append(nested % odd_json(rng))
    if rng.random() < 0.1:
        fields.append(b'"%s":%s' % (rng.choice(names), odd_json(rng)))  # a duplicate key
    return b"{" + b",".join(fields) + b"}"


def usage_openai(rng: random.Random) -> bytes:
    return usage(rng, [b"prompt_tokens", b"completion_tokens", b"total_tokens"], b'"prompt_tokens_details":{"cached_tokens":%s}')


def usage_anthropic(rng: random.Random) -> bytes:
    names = [b"input_tokens", b"output_tokens", b"cache_creation_input_tokens", b"cache_read_input_tokens"]
    return usage(rng, names, b'"server_tool_use":{"web_search_requests":%s}')


def usage_responses(rng: random.Random) -> bytes:
    return usage(rng, [b"input_tokens", b"output_tokens", b"total_tokens"], b'"output_tokens_details":{"reasoning_tokens":%s}')


def responses_body(rng: random.Random) -> bytes:
    return (
        b'{"id":"resp_fuzz","object":"response","status":"completed","model":"gpt-4o-mini","output":[{"type":"message",'
        b'"role":"assistant","content":[{"type":"output_text","text":"hi"}]}],"usage":' + usage_responses(rng) + b"}"
    )


def responses_events(rng: random.Random) -> list[bytes]:
    def event(name: bytes, data: bytes) -> bytes:
        return b"event: " + name + b"\ndata: " + data + b"\n\n"

    return [
        event(b"response.created", b'{"type":"response.created","response":{"id":"resp_fuzz","status":"in_progress"}}'),
        event(b"response.output_text.delta", b'{"type":"response.output_text.delta","delta":"hi"}'),
        event(b"response.completed", b'{"type":"response.completed","response":{"id":"resp_fuzz","status":"completed","usage":'
              + usage_responses(rng) + b"}}"),
    ]


def openai_body(rng: random.Random) -> bytes:
    return (
        b'{"id":"chatcmpl-fuzz","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":' + usage_openai(rng) + b"}"
    )


def anthropic_body(rng: random.Random) -> bytes:
    return (
        b'{"id":"msg_fuzz","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],'
        b'"model":"claude-sonnet","stop_reason":"end_turn","usage":' + usage_anthropic(rng) + b"}"
    )


def openai_events(rng: random.Random) -> list[bytes]:
    chunk = b'{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"}}]}'
    events = [b"data: " + chunk + b"\n\n" for _ in range(rng.randint(0, 4))]
    events.append(b'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":' + usage_openai(rng) + b"}\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def anthropic_events(rng: random.Random) -> list[bytes]:
    def event(name: bytes, data: bytes) -> bytes:
        return b"event: " + name + b"\ndata: " + data + b"\n\n"

    return [
        event(b"message_start", b'{"type":"message_start","message":{"id":"msg_fuzz","type":"message","role":"assistant",'
              b'"content":[],"model":"claude-sonnet","usage":' + usage_anthropic(rng) + b"}}"),
        event(b"content_block_start", b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
        event(b"content_block_delta", b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}'),
        event(b"content_block_stop", b'{"type":"content_block_stop","index":0}'),
        event(b"message_delta", b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":' + usage_anthropic(rng) + b"}"),
        event(b"message_stop", b'{"type":"message_stop"}'),
    ]


def broken_events(rng: random.Random, events: list[bytes]) -> bytes:
    """An SSE stream with a few of its events broken."""
    events = list(events)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        i = rng.randrange(len(events) + 1)
        kind = rng.randrange(12)
        if kind == 0 and events:
            del events[min(i, len(events) - 1)]
        elif kind == 1 and events:
            events.insert(i, events[min(i, len(events) - 1)])  # duplicated (two usage events, two [DONE])
        elif kind == 2 and events:
            j = min(i, len(events) - 1)
            events[j] = truncate(rng, events[j])  # an event cut short
        elif kind == 3:
            events.insert(i, b"data: " + damage(rng, b'{"choices":[],"usage":{"prompt_tokens":1}}') + b"\n\n")
        elif kind == 4:
            events.insert(i, b"data: " + b"x" * rng.choice([70_000, 1_100_000]) + b"\n\n")  # one huge line
        elif kind == 5:
            events.insert(i, b": keep-alive\n\n" * rng.randint(1, 200))
        elif kind == 6:
            events.insert(i, b'data: {"usage":\ndata: {"prompt_tokens":3}}\n\n')  # data split over two lines
        elif kind == 7:
            events.insert(i, b'data:{"choices":[],"usage":' + odd_json(rng) + b"}\n\n")
        elif kind == 8:
            events.insert(i, b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n')
        elif kind == 9:
            events.insert(i, b"data: [DONE]\n\n")  # an early end, with events after it
        elif kind == 10:
            events.insert(i, rng.choice([b"\xef\xbb\xbf", b"\x00", b"\xff\xfe", b"\r", b"\n", b"retry: -1\n", b"id: \x00\n"]))
        elif events:
            j = min(i, len(events) - 1)
            events[j] = damage(rng, events[j])
    stream = b"".join(events)
    separator = rng.random()
    if separator < 0.08:
        stream = stream.replace(b"\n", b"\r\n")
    elif separator < 0.12:
        stream = stream.replace(b"\n", b"\r")
    elif separator < 0.16:
        stream = stream.replace(b"\n\n", b"\n")  # no event ever ends
    return stream


STATUS_LINES = [
    b"HTTP/1.1 000 Nothing", b"HTTP/1.1 099 Early", b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.1 102 Processing",
    b"HTTP/1.1 199 Odd", b"HTTP/1.1 204 No Content", b"HTTP/1.1 304 Not Modified", b"HTTP/1.1 400 Bad Request",
    b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 429 Too Many Requests", b"HTTP/1.1 500 Internal Server Error",
    b"HTTP/1.1 502 Bad Gateway", b"HTTP/1.1 503 Service Unavailable", b"HTTP/1.1 504 Gateway Timeout",
    b"HTTP/1.1 529 Overloaded", b"HTTP/1.1 599 Last", b"HTTP/1.1 600 Beyond", b"HTTP/1.1 999 Far",
    b"HTTP/1.1 1000 Too Long", b"HTTP/1.1 -200 Negative", b"HTTP/1.1 2OO Letters", b"HTTP/1.1 200",
    b"HTTP/1.1  200 OK", b"HTTP/1.0 200 OK", b"HTTP/2 200", b"HTTP/1.1x 200 OK", b"http/1.1 200 OK",
    b"ICY 200 OK", b"", b"\x00\x01\x02 garbage", b"HTTP/1.1 200 OK\x00", b"HTTP/1.1 200 " + b"R" * 70_000,
    b"HTTP/1.1 20", b"HTTP/1.1 +200 OK", b"HTTP/1.1 18446744073709551816 Wrap",
]

INTERIM_HEADS = [
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 102 Processing\r\n\r\n",
    b"HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\ncontent-length: 5\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    b"HTTP/1.1 199 Whatever\r\n\r\n",
]

ODD_LENGTHS = [
    b"-1", b"+5", b" 5 ", b"0x10", b"5 5", b"", b"18446744073709551616", b"99999999999999999999",
    b"9223372036854775807", b"1e3", b"5, 6", b"\x005",
]


def odd_headers(rng: random.Random) -> list[bytes]:
    """Header lines a broken upstream might add."""
    choices = [
        lambda: b"x-huge: " + b"a" * rng.choice([9_000, 70_000, 300_000, 1_100_000]),
        lambda: b"x-many: v\r\n" * rng.choice([100, 3_000, 30_000]) + b"x-last: v",
        lambda: b"x-fold: a\r\n  folded continuation\r\n\tand more",
        lambda: b"no colon here",
        lambda: b"content-type : application/json",
        lambda: b": empty name",
        lambda: b"x-nul: a\x00b",
        lambda: b"x-\xff\xfe: non-ascii name",
        lambda: b"retry-after: " + rng.choice([b"-1", b"99999999999999", b"1e3", b"abc", b"0.5", b"Wed, 21 Oct 2015 07:28:00 GMT", b""]),
        lambda: b"retry-after-ms: " + rng.choice([b"-1", b"18446744073709551616", b"1.5", b"NaN", b"100"]),
        lambda: b"x-ratelimit-remaining-requests: " + rng.choice([b"-1", b"\x7f", b"9" * 400]),
        lambda: b"connection: " + rng.choice([b"upgrade", b"close", b"keep-alive", b"keep-alive, close", b"\x00"]),
        lambda: b"upgrade: websocket",
        lambda: b"content-encoding: gzip",
        lambda: b"set-cookie: session=stolen",
        lambda: b"content-type: " + rng.choice([b"text/html", b"", b"application/json; charset=utf-16", b"text/event-stream; " + b"p=1;" * 2000]),
        lambda: b"x-bare-lf: a\nx-other: b",
        lambda: b"x-bare-cr: a\rb",
    ]
    return [rng.choice(choices)() for _ in range(rng.choice([1, 1, 2, 3]))]


def chunked(rng: random.Random, body: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        size = rng.choice([1, 7, 100, 4096, len(body)])
        piece = body[i : i + size]
        out += b"%x\r\n" % len(piece) + piece + CRLF
        i += size
    return bytes(out + b"0\r\n\r\n")


def bad_chunked(rng: random.Random, body: bytes) -> bytes:
    good = chunked(rng, body)
    kind = rng.randrange(10)
    size = b"%x" % len(body)
    if kind == 0:
        return b"zz\r\n" + body + b"\r\n0\r\n\r\n"
    if kind == 1:
        return b"-1\r\n" + body + b"\r\n0\r\n\r\n"
    if kind == 2:
        return b"ffffffffffffffffff\r\n" + body
    if kind == 3:
        return b"7fffffffffffffff\r\n" + body
    if kind == 4:
        return size + b";ext=\x00;" + b"e" * 70_000 + b"\r\n" + body + b"\r\n0\r\n\r\n"
    if kind == 5:
        return size + b"\r\n" + body + b"0\r\n\r\n"  # no CRLF after the data
    if kind == 6:
        return b"%x\r\n" % (len(body) + 1000) + body  # longer than what follows
    if kind == 7:
        return size + b"\r\n" + body + b"\r\n"  # no last chunk
    if kind == 8:
        return good[:-2] + b"x-trailer: " + b"t" * 20_000 + b"\r\ncontent-length: 5\r\n\r\n"
    return b"  " + size + b" \r\n" + body + b"\r\n0\r\n\r\n"


def hostile_answer(rng: random.Random, api: str, stream: bool) -> Script:
    """The upstream's answer to one request: a plausible answer with its status line, headers, framing, body
    and ending mutated."""
    if stream:
        events = {"openai": openai_events, "anthropic": anthropic_events, "responses": responses_events}[api](rng)
        body = broken_events(rng, events)
        content_type = b"text/event-stream"
    else:
        body = {"openai": openai_body, "anthropic": anthropic_body, "responses": responses_body}[api](rng)
        roll = rng.random()
        if roll < 0.15:
            body = damage(rng, body)
        elif roll < 0.25:
            body = truncate(rng, body)
        elif roll < 0.3:
            body = body[:-1] + b',"usage":' + odd_json(rng) + b"}"  # a second usage
        content_type = b"application/json"
    # Most answers keep a sound head so that the body's own damage (usage, events, truncation) is what is tested.
    if rng.random() < 0.65:
        status = b"HTTP/1.1 200 OK"
    elif rng.random() < 0.5:
        status = rng.choice([b"HTTP/1.1 429 Too Many Requests", b"HTTP/1.1 503 Service Unavailable", b"HTTP/1.1 400 Bad Request",
                             b"HTTP/1.1 500 Internal Server Error", b"HTTP/1.1 401 Unauthorized"])
    else:
        status = rng.choice(STATUS_LINES)
    headers = [b"content-type: " + content_type] if rng.random() < 0.9 else []
    if rng.random() < 0.3:
        headers += odd_headers(rng)

    framing = rng.choice(
        ["length"] * 8 + ["chunked"] * 6 + ["close", "short", "long", "two-lengths", "same-two-lengths", "odd-length",
         "length+chunked", "bad-chunked", "odd-encoding", "two-chunked"]
    )
    if framing == "length":
        headers.append(b"content-length: %d" % len(body))
    elif framing == "chunked":
        headers.append(b"transfer-encoding: chunked")
        body = chunked(rng, body)
    elif framing == "short":
        headers.append(b"content-length: %d" % max(0, len(body) - rng.randint(1, 40)))
    elif framing == "long":
        headers.append(b"content-length: %d" % (len(body) + rng.choice([1, 100, 10**6])))
    elif framing == "two-lengths":
        headers += [b"content-length: %d" % len(body), b"content-length: %d" % (len(body) + 3)]
    elif framing == "same-two-lengths":
        headers += [b"content-length: %d" % len(body)] * 2
    elif framing == "odd-length":
        headers.append(b"content-length: " + rng.choice(ODD_LENGTHS))
    elif framing == "length+chunked":
        headers += [b"content-length: %d" % len(body), b"transfer-encoding: chunked"]
        body = chunked(rng, body) if rng.random() < 0.5 else body
    elif framing == "bad-chunked":
        headers.append(b"transfer-encoding: chunked")
        body = bad_chunked(rng, body)
    elif framing == "odd-encoding":
        headers.append(b"transfer-encoding: " + rng.choice([b"gzip", b"chunked, identity", b"identity", b"gzip, chunked", b"chunked;q=1", b"CHUNKED"]))
        body = chunked(rng, body) if rng.random() < 0.5 else body
    elif framing == "two-chunked":
        headers += [b"transfer-encoding: chunked"] * 2
        body = chunked(rng, body)
    rng.shuffle(headers)

    newline = CRLF if rng.random() < 0.95 else b"\n"
    head = newline.join([status, *headers]) + newline + newline
    interim = b""
    if rng.random() < 0.15:
        interim = b"".join(rng.choice(INTERIM_HEADS) for _ in range(rng.choice([1, 2, 5, 50])))
    elif rng.random() < 0.03:
        interim = INTERIM_HEADS[0] * 5000
    raw = interim + head + body
    roll = rng.random()
    if roll < 0.07:
        raw = damage(rng, raw)
    elif roll < 0.14:
        raw = truncate(rng, raw)

    pieces = [raw]
    if rng.random() < 0.3 and len(raw) > 1:
        cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(1, 4))))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])]
    ending = rng.choices(["close", "keep", "hang", "reset"], [50, 20, 15, 15])[0]
    return Script(
        pieces=pieces,
        pause=rng.choice([0.0, 0.0, 0.0, 0.01, 0.3]) if len(pieces) > 1 else 0.0,
        end=ending,
        hang=round(rng.uniform(0.1, 1.5), 2) if ending == "hang" else 0.0,
    )


def normal_request(api: str, stream: bool, case: int, include_usage: bool = False) -> bytes:
    """A well-formed agent request that carries the case's marker, so the upstream knows what to answer. With
    `include_usage`, a streamed chat completion asks for the usage chunk (otherwise the router filters it out)."""
    if api == "openai":
        path = b"/v1/chat/completions"
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"fuzzcase-{case}"}], "stream": stream}
        if stream and include_usage:
            body["stream_options"] = {"include_usage": True}
    elif api == "responses":
        path = b"/v1/responses"
        body = {"model": "gpt-4o-mini", "input": f"fuzzcase-{case}", "stream": stream}
    else:
        path = b"/v1/messages"
        body = {"model": "claude-sonnet", "max_tokens": 64, "messages": [{"role": "user", "content": f"fuzzcase-{case}"}], "stream": stream}
    data = json.dumps(body).encode()
    return (
        b"POST " + path + b" HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"anthropic-version: 2023-06-01\r\nconnection: close\r\ncontent-length: %d\r\n\r\n" % len(data) + data
    )


OPENAI_STREAM = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
    b"data: [DONE]\n\n"
)
ANTHROPIC_STREAM = b"".join(
    b"event: " + name + b"\ndata: " + data + b"\n\n"
    for name, data in [
        (b"message_start", b'{"type":"message_start","message":{"id":"msg_ok","type":"message","role":"assistant","content":[],'
                           b'"model":"claude-sonnet","usage":{"input_tokens":3,"output_tokens":1}}}'),
        (b"content_block_delta", b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}'),
        (b"message_delta", b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}'),
        (b"message_stop", b'{"type":"message_stop"}'),
    ]
)
OPENAI_ANSWER = (
    b'{"id":"chatcmpl-ok","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}'
)
ANTHROPIC_ANSWER = (
    b'{"id":"msg_ok","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"model":"claude-sonnet",'
    b'"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}'
)


def well_behaved_answer(request) -> Script:
    """What a correct upstream answers (fuzzer 2's upstream, and the receipt log's), on a kept-alive connection."""
    anthropic = b"/messages" in request.path
    if re.search(rb'"stream"\s*:\s*true', request.body):
        body = ANTHROPIC_STREAM if anthropic else OPENAI_STREAM
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        return Script([head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"], end="keep")
    body = ANTHROPIC_ANSWER if anthropic else OPENAI_ANSWER
    return Script([b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body], end="keep")


# ----------------------------------------------------------------------------------------------------------------
# Fuzzer 2: what an agent (or anything in the sandbox) may send to the router.


@dataclass
class AgentCase:
    """The bytes one agent connection sends: `pieces` with `pause` seconds between them, then maybe a half-close."""

    pieces: list[bytes]
    pause: float = 0.0
    half_close: bool = False

    def __repr__(self) -> str:
        pieces = ", ".join(literal(piece) for piece in self.pieces)
        return f"AgentCase(pieces=[{pieces}], pause={self.pause!r}, half_close={self.half_close!r})"


ROUTES = [
    b"/v1/chat/completions", b"/v1/chat/completions", b"/v1/messages", b"/v1/messages", b"/v1/responses",
    b"/v1/embeddings", b"/v1/messages/count_tokens", b"/v1/models", b"/v1/models/gpt-4o-mini",
]

ODD_TARGETS = [
    b"/v1/chat/completions?stream=true&x=%00", b"/v1//chat/completions", b"/v1/chat/completions/", b"/V1/chat/completions",
    b"/v1/chat/%63ompletions", b"/v1/chat/completions#fragment", b"/v1/chat completions", b"/v1/\xff\xfe",
    b"/v1/../v1/messages", b"/v1/./messages", b"*", b"", b"//", b"http://127.0.0.1/v1/chat/completions",
    b"http://user:pw@example.com:99999/v1/messages", b"127.0.0.1:443", b"/v1/models/", b"/v1/models/%00",
    b"/v1/models/..%2f..%2fetc%2fpasswd", b"/v1/models/" + b"m" * 5000, b"/v1/models/\xe2\x80\xae", b"/metrics",
    b"/healthz", b"/" + b"a" * 20_000, b"/v1/messages?" + b"q=1&" * 3000, b"/v1/chat/completions\x00",
]

METHODS = [b"GET", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"OPTIONS", b"TRACE", b"CONNECT", b"PRI", b"post", b"P OST", b"",
           b"G" * 9000, b"\x00POST", b"POST\t", b"POST "]

VERSIONS = [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2", b"HTTP/1", b"http/1.1", b"", b"HTTP/1.1\x00", b"HTTP/1.1 extra",
            b"HTTP/9.9", b"HTTP/1.10", b"HTTP/01.1"]

ODD_STRINGS = [
    b'""', b'"*"', b'"\\u0000"', b'"\\ud800"', b'"\\udc00\\ud800"', b'"\\u00"', b'"\\x41"', b'"\t"', b'"\x00"', b'"\xff"',
    b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\\/"', b'"' + b"\\\\" * 5000 + b'"', b'"' + b"s" * 100_000 + b'"', b'"a', b"'single'",
    b'"gpt-4o-mini "', b'"GPT-4O-MINI"', b'"gpt-4o-mini\\u0000"', b'"claude-sonnet"', b'"gpt-4o-mini"',
]

MEMBER_VALUES = {
    b"model": ODD_STRINGS,
    b"messages": [b"[]", b'[{"role":"user"}]', b'[{"role":"user","content":[{"type":"text","text":"x"}]}]', b'"hi"',
                  b'[{"role":' + b'"user"' * 2 + b',"content":"x"}]', b"[" * 20_000 + b"]" * 20_000, b"[null]",
                  b'[{"role":"user","content":"x","content":"y"}]'],
    b"stream": [b"true", b"false", b'"true"', b"1", b"null", b"tru"],
    b"stream_options": [b'{"include_usage":false}', b'{"include_usage":"yes"}', b'{"include_usage":true,"include_usage":false}',
                        b"[]", b"null", b'{"include_usage":true}'],
    b"tools": [b'[{"type":"web_search"}]', b'[{"type":"function","function":{"name":"f","parameters":{}}}]', b'[{"type":1}]',
               b'[{"type":"mcp","server_url":"http://x"}]', b'[{"type":"web_search_20250305","name":"web_search"}]',
               b'[{"name":"bash","type":"bash_20250124"}]', b"{}", b'[{"type":"' + b"t" * 3000 + b'"}]'],
    b"mcp_servers": [b'[{"type":"url","url":"https://x","name":"x"}]', b"[]", b"null"],
    b"web_search_options": [b"{}", b"null"],
    b"background": [b"true", b"false", b'"true"'],
    b"n": [b"1", b"2", b"0", b"-1", b"128"],
    b"max_tokens": [b"1", b"4096", b"4097", b"0", b"-1"],
    b"max_completion_tokens": [b"4097", b"1", b"null"],
    b"max_output_tokens": [b"4097", b"1"],
    b"input": [b'"x"', b'["a","b"]', b"[]", b"[[1,2,3]]", b"null"],
    b"system": [b'"s"', b'[{"type":"text","text":"s"}]', b"1"],
    b"thinking": [b'{"type":"enabled","budget_tokens":99999999}', b'{"type":"x"}'],
    b"metadata": [b'{"user_id":"u"}', b"[]"],
}


def base_members(path: bytes, stream: bool) -> list[tuple[bytes, bytes]]:
    if b"messages" in path:
        members = [(b"model", b'"claude-sonnet"'), (b"max_tokens", b"64"), (b"messages", b'[{"role":"user","content":"hi"}]')]
    elif b"responses" in path:
        members = [(b"model", b'"gpt-4o-mini"'), (b"input", b'"hi"')]
    elif b"embeddings" in path:
        members = [(b"model", b'"gpt-4o-mini"'), (b"input", b'"hi"')]
    else:
        members = [(b"model", b'"gpt-4o-mini"'), (b"messages", b'[{"role":"user","content":"hi"}]')]
    if stream:
        members.append((b"stream", b"true"))
    return members


def agent_body(rng: random.Random, path: bytes) -> bytes:
    members = base_members(path, rng.random() < 0.4)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        kind = rng.randrange(5)
        i = rng.randrange(len(members)) if members else 0
        if kind == 0 and members:
            members[i] = (members[i][0], odd_json(rng))
        elif kind == 1 and members:
            key = members[i][0]
            members[i] = (key, rng.choice(MEMBER_VALUES.get(key, ODD_JSON)))
        elif kind == 2 and members:
            del members[i]
        elif kind == 3 and members:
            members.insert(rng.randrange(len(members) + 1), members[i])  # a duplicate member
        else:
            key = rng.choice(list(MEMBER_VALUES))
            members.append((key, rng.choice(MEMBER_VALUES[key])))
    body = b"{" + b",".join(b'"%s":%s' % member for member in members) + b"}"
    roll = rng.random()
    if roll < 0.12:
        body = damage(rng, body)
    elif roll < 0.2:
        body = truncate(rng, body)
    elif roll < 0.3:
        body = rng.choice([
            b"", b"null", b"[]", b'"x"', b"1", b"\xef\xbb\xbf" + body, b" \r\n\t" + body + b" \n", body + b"garbage",
            body + b"{}", b"/*c*/" + body, b"[" * 200_000, b'{"a":' * 100_000, b"{" + b'"k":1,' * 50_000 + b'"k":2}',
            body.replace(b"{", b"{\n", 1), body.decode("latin-1").encode("utf-16"), b"\x00" * 100,
        ])
    return body


def agent_head(rng: random.Random, method: bytes, target: bytes, version: bytes, path: bytes, body: bytes) -> tuple[bytes, bytes]:
    """A request head for `body`, with its headers and framing mutated; returns (head, body as sent)."""
    headers = [b"host: 127.0.0.1", b"content-type: application/json"]
    if b"messages" in path:
        headers.append(b"anthropic-version: 2023-06-01")
    if rng.random() < 0.5:
        headers.append(b"connection: close")
    framing = rng.choice(["length"] * 6 + ["chunked", "bad-chunked", "none", "two-lengths", "odd-length", "length+chunked",
                                          "odd-encoding", "short", "long"])
    if framing == "length":
        headers.append(b"content-length: %d" % len(body))
    elif framing == "chunked":
        headers.append(b"transfer-encoding: chunked")
        body = chunked(rng, body)
    elif framing == "bad-chunked":
        headers.append(b"transfer-encoding: chunked")
        body = bad_chunked(rng, body)
    elif framing == "two-lengths":
        headers += [b"content-length: %d" % len(body), b"content-length: %d" % (len(body) + rng.choice([0, 1]))]
    elif framing == "odd-length":
        headers.append(b"content-length: " + rng.choice(ODD_LENGTHS))
    elif framing == "length+chunked":
        headers += [b"content-length: %d" % len(body), b"transfer-encoding: chunked"]
        body = chunked(rng, body)
    elif framing == "odd-encoding":
        headers.append(b"transfer-encoding: " + rng.choice([b"gzip", b"chunked, chunked", b"identity", b"gzip, chunked", b"CHUNKED", b"chunked\x00"]))
        body = chunked(rng, body)
    elif framing == "short":
        headers.append(b"content-length: %d" % (len(body) + rng.choice([1, 50, 10_000])))  # the body never completes
    elif framing == "long":
        headers.append(b"content-length: %d" % max(0, len(body) - rng.randint(1, 10)))  # the rest is a next "request"
    extras = [
        lambda: b"content-type: application/json",
        lambda: b"content-type: " + rng.choice([b"text/plain", b"", b"application/json; charset=utf-8", b"APPLICATION/JSON",
                                                b"application/json, text/plain", b"multipart/form-data; boundary=x",
                                                b"application/json;" + b"p=1;" * 3000, b"application/jsonx"]),
        lambda: b"x-fold: a\r\n folded",
        lambda: b"no colon",
        lambda: b"content-length : 5",
        lambda: b"x-huge: " + b"h" * rng.choice([17_000, 1_100_000]),
        lambda: b"x-many: v\r\n" * rng.choice([500, 20_000]) + b"x-last: v",
        lambda: b"x-nul: a\x00b",
        lambda: b"expect: 100-continue",
        lambda: b"connection: upgrade\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA",
        lambda: b"host: " + rng.choice([b"", b"a" * 9000, b"127.0.0.1\r\nhost: other"]),
        lambda: b"anthropic-beta: " + rng.choice([b"prompt-caching-2024-07-31", b"code-execution-2025-05-22", b",,,", b"x" * 5000,
                                                  b"prompt-caching-2024-07-31, prompt-caching-2024-07-31"]),
        lambda: b"anthropic-version: " + rng.choice([b"", b"1999-01-01", b"\xff"]),
        lambda: b"authorization: Bearer sk-agent\r\nx-api-key: sk-agent\r\ncookie: a=b",
        lambda: b"traceparent: " + rng.choice([b"00-0-0-00", b"ff-" + b"f" * 32 + b"-" + b"f" * 16 + b"-ff", b"x" * 3000]),
        lambda: b"x-request-id: " + rng.choice([b"", b"\x7f", b"r" * 3000]),
        lambda: b"content-encoding: gzip",
        lambda: b"x-bare-lf: a\nx-b: c",
    ]
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        headers.insert(rng.randrange(len(headers) + 1), rng.choice(extras)())
    if rng.random() < 0.1:
        headers = [h for h in headers if not h.startswith(b"content-type") or rng.random() < 0.5]
    newline = rng.choices([CRLF, b"\n", b"\r"], [94, 5, 1])[0]
    request_line = b" ".join(part for part in (method, target, version) if part or rng.random() < 0.5)
    return newline.join([request_line, *headers]) + newline + newline, body


def agent_case(rng: random.Random) -> AgentCase:
    path = rng.choice(ROUTES)
    method = (b"GET" if path.startswith(b"/v1/models") else b"POST") if rng.random() < 0.85 else rng.choice(METHODS)
    target = path if rng.random() < 0.85 else rng.choice(ODD_TARGETS)
    version = b"HTTP/1.1" if rng.random() < 0.9 else rng.choice(VERSIONS)
    body = b"" if method == b"GET" and rng.random() < 0.8 else agent_body(rng, path)
    head, sent_body = agent_head(rng, method, target, version, path, body)
    request = head + sent_body

    shape = rng.random()
    half_close = rng.random() < 0.25
    if shape < 0.55:
        return AgentCase([request], half_close=half_close)
    if shape < 0.7:
        # Pipelined: a second (and third) request in the same write, the last one possibly cut short.
        others = [agent_head(rng, b"POST", b"/v1/chat/completions", b"HTTP/1.1", b"/v1/chat/completions", agent_body(rng, b"/v1/chat/completions"))
                  for _ in range(rng.randint(1, 2))]
        stream = request + b"".join(h + b for h, b in others)
        if rng.random() < 0.5:
            stream = stream[: len(stream) - rng.randint(1, len(others[-1][0]))]
        return AgentCase([stream], half_close=half_close)
    if shape < 0.8:
        # A head that never completes (or a body that never comes), then silence or a half-close.
        return AgentCase([request[: rng.randrange(1, len(request) + 1)]], half_close=half_close)
    if shape < 0.9:
        # Dribbled in small pieces.
        cuts = sorted(rng.sample(range(1, len(request)), min(len(request) - 1, rng.randint(1, 8)))) if len(request) > 1 else []
        pieces = [request[a:b] for a, b in zip([0, *cuts], [*cuts, len(request)])]
        return AgentCase(pieces, pause=rng.choice([0.001, 0.02, 0.1]), half_close=half_close)
    # Very long lines.
    long = rng.choice([
        b"POST /" + b"a" * rng.choice([20_000, 1_100_000]) + b" HTTP/1.1\r\nhost: x\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nx-long: " + b"b" * rng.choice([20_000, 1_100_000]) + b"\r\n\r\n",
        b"\r\n" * 10_000 + request,
        b" " * 70_000,
        bytes(rng.randrange(256) for _ in range(rng.choice([10, 1000, 20_000]))),
    ])
    return AgentCase([long], half_close=half_close)


# ----------------------------------------------------------------------------------------------------------------
# Fuzzer 3: configuration files, mutated as data (through YAML) and as text and bytes.

ODD_CONFIG_VALUES = [
    0, -1, 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 10**30, 1e308, 1.5, -0.0, float("inf"),
    float("nan"), "", "x" * 5000, True, False, None, [], {}, [1], {"a": 1}, [[[]]], "*", "~", "null", "0660", "07777",
    "127.0.0.1:99999", "127.0.0.1:-1", "[::1]:8443", "0.0.0.0:80", "localhost:1", "127.0.0.1", "/", "relative/path",
    "/" + "p" * 200, "http://127.0.0.1:0", "https://user@host/x?q#f", "ünïcödé", "a\u0000b", "-", "A" * 64,
]

ODD_DURATIONS = [
    "10m", "1h", "99999h", "2562047h", "2562048h", "9223372036854775807ns", "9223372036854775808ns",
    "18446744073709551615s", "1h1h", "30s1m", "1.5s", "-1s", "+1s", "0s", "0ns", "1ns", "1us", "1µs", "10sec", "10",
    "1h30m", "1h0m0s0ms0us0ns", "5000000000000h", "1d", "", "s", "1 s", "\u0661s", "1e3s", "0x10s", "00010s",
    "9999999999999999999999ms", "100ms", "1ms", "3600s", "86400s", "86401s", "601s", "1m1m",
]

ODD_NUMBERS = [
    "0", "-1", "1", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808", "18446744073709551616",
    "-9223372036854775809", "99999999999999999999999999", "1e3", "1.0", "0.5", ".5", "1_000", "0x10", "0o17", "0b1",
    "017", "+5", "1e308", "1e309", ".inf", "-.inf", ".nan", "~", "null", "true", "1:30", "0660", "2305843009213693952",
]

YAML_SNIPPETS = [
    "anchor: &a {x: 1}\nalias: *a\n", "merge:\n  <<: {x: 1}\n", "tagged: !!int 5\n", "custom: !thing x\n", "---\n",
    "...\n", "%YAML 1.1\n---\n", "? complex\n: key\n", "block: |\n  text\n", "folded: >-\n  text\n", "flow: {a: [1, {b: 2}]}\n",
    "\t tab: 1\n", "quoted: 'it''s'\n", 'escaped: "\\u0000\\x00\\U0010FFFF"\n', "key with spaces: 1\n", "'': empty key\n",
    "? [a, b]\n: seq key\n", "dup: 1\ndup: 2\n", "- list at top\n", "x: [\n", "x: {\n", "x: '\n", 'x: "\n',
]


def config_paths(node, prefix=()):
    """Every path (keys and indices) into a loaded YAML tree."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from config_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from config_paths(value, (*prefix, index))


def mutate_tree(rng: random.Random, tree) -> None:
    """One structural change somewhere in `tree`: an odd value, a deletion, an unknown key, a type swap."""
    paths = [path for path in config_paths(tree) if path]
    path = rng.choice(paths)
    parent = tree
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    value = parent[last]

    def odd():  # a fresh copy: the tree is mutated further, and the table is shared by every case
        return copy.deepcopy(rng.choice(ODD_CONFIG_VALUES))

    kind = rng.randrange(7)
    if kind == 0:
        parent[last] = odd()
    elif kind == 1:
        parent[last] = rng.choice(ODD_DURATIONS) if isinstance(value, str) or rng.random() < 0.3 else odd()
    elif kind == 2:
        del parent[last]
    elif kind == 3 and isinstance(parent, dict):
        parent[rng.choice(["extra", str(last) + "_", str(last).upper(), "", "version", "router"])] = odd()
    elif kind == 4:
        parent[last] = [value] if not isinstance(value, list) else {"k": value}  # a type swap
    elif kind == 5 and isinstance(value, list):
        value.extend(copy.deepcopy(value[:1]) for _ in range(rng.choice([1, 2, 200])))  # duplicate listeners, sandboxes, uids
    elif isinstance(value, int) and not isinstance(value, bool):
        parent[last] = rng.choice([0, -value, value * 10**12, 2**63 - 1, 2**64])
    else:
        parent[last] = None


def mutate_config(rng: random.Random, text: str) -> bytes:
    """A mutated configuration file from `text` (a valid one)."""
    if rng.random() < 0.35:
        tree = yaml.safe_load(text)
        for _ in range(rng.choice([1, 1, 2, 3])):
            mutate_tree(rng, tree)
        data = yaml.safe_dump(tree, sort_keys=False, default_flow_style=rng.choice([False, None, True]),
                              allow_unicode=rng.random() < 0.5, width=rng.choice([80, 10**6])).encode()
        return damage(rng, data, 1) if rng.random() < 0.1 else data

    lines = text.splitlines(keepends=True)
    for _ in range(rng.choice([1, 1, 2, 3, 5])):
        kind = rng.randrange(11)
        i = rng.randrange(len(lines))
        if kind == 0:
            lines[i] = re.sub(r"(?<![\w.])\d+(ns|us|ms|s|m|h)\b", lambda m: rng.choice(ODD_DURATIONS), lines[i])
        elif kind == 1:
            lines[i] = re.sub(r"(?<=[:\[,{] )-?\d+(?![\w.:])", lambda m: rng.choice(ODD_NUMBERS), lines[i])
        elif kind == 2:
            del lines[i]
        elif kind == 3:
            lines.insert(i, lines[i])  # a duplicate key (or list entry)
        elif kind == 4:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 5:
            lines[i] = rng.choice([" ", "  ", "\t", "    "]) + lines[i] if rng.random() < 0.7 else lines[i].lstrip()
        elif kind == 6:
            indent = re.match(r"\s*", lines[i]).group()
            lines.insert(i, "".join(indent + line for line in rng.choice(YAML_SNIPPETS).splitlines(keepends=True)))
        elif kind == 7:
            key = re.match(r"\s*(-\s*)?", lines[i]).group()
            depth = rng.choice([100, 10_000, 200_000])
            lines.insert(i, key + "deep: " + rng.choice(["[" * depth + "]" * depth, "{a: " * depth + "1" + "}" * depth,
                                                        "[" * depth]) + "\n")
        elif kind == 8:
            lines[i] = re.sub(r":\s+(\S.*)$", lambda m: ": " + repr(rng.choice(ODD_CONFIG_VALUES)), lines[i])
        elif kind == 9:
            lines[i] = lines[i].rstrip("\n") + rng.choice(["  # comment", " \\", " :", ":", " #", "\r"]) + "\n"
        else:
            lines.insert(i, rng.choice(["\ufeff", "\u200b", "\u2028", "\x85", "\x00", "\x7f", "\U0001F600"]) + lines[i])
    data = "".join(lines).encode("utf-8", errors="surrogatepass")
    roll = rng.random()
    if roll < 0.2:
        data = damage(rng, data)
    elif roll < 0.27:
        data = truncate(rng, data)
    elif roll < 0.3:
        data = data.replace(b"\n", rng.choice([b"\r\n", b"\r"]))
    elif roll < 0.32:
        data = rng.choice([b"", b"\n", b"# only a comment\n", b"\xef\xbb\xbf", b"\xff\xfe" + data, data.decode().encode("utf-16"),
                           data + b"#" + b"c" * (4 << 20), b"null", b"[]", b"version: 1\n", b"\x00" * 64])
    return data


# ----------------------------------------------------------------------------------------------------------------
# Fuzzer 4: receipt logs (docs/receipts.md), mutated on disk.

SEGMENT = re.compile(r"receipts-(\d{20})\.seg")


def segment_name(first_index: int) -> str:
    return f"receipts-{first_index:020d}.seg"


def segments(directory) -> list:
    """The segment files of a log directory, in the order of their first index."""
    return sorted((p for p in directory.iterdir() if SEGMENT.fullmatch(p.name) and p.is_file()), key=lambda p: int(SEGMENT.fullmatch(p.name).group(1)))


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, leaf) of each whole frame of a segment, up to the first damaged one."""
    out = []
    offset = 0
    while offset + 36 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        if not 1 <= length <= 65536 or offset + 36 + length > len(data):
            break
        out.append((offset, data[offset + 36 : offset + 36 + length]))
        offset += 36 + length
    return out


def frame(leaf: bytes) -> bytes:
    """A frame with a correct stored hash: uint32 length || SHA-256(0x00 || leaf) || leaf."""
    import hashlib

    return len(leaf).to_bytes(4, "big") + hashlib.sha256(b"\x00" + leaf).digest() + leaf


def split_segments(rng: random.Random, directory) -> str | None:
    """Splits the log's one segment at frame boundaries into two or three (a valid layout: docs/receipts.md §1)."""
    (segment,) = segments(directory)
    data = segment.read_bytes()
    found = frames(data)
    if len(found) < 3:
        return None
    cuts = sorted(rng.sample(range(1, len(found)), rng.choice([1, 2])))
    segment.unlink()
    bounds = [0, *cuts, len(found)]
    for a, b in zip(bounds, bounds[1:]):
        end = found[b][0] if b < len(found) else len(data)
        (directory / segment_name(a)).write_bytes(data[found[a][0] : end])
    return f"the segment split at records {cuts}"


def mutate_leaf(rng: random.Random, leaf: bytes) -> bytes:
    """A record changed at the JSON level: odd values, members added or removed, non-canonical forms."""
    members = re.findall(rb'"([a-z_]+)":("(?:[^"\\]|\\.)*"|-?\d+)', leaf)
    kind = rng.randrange(9)
    if kind == 0 and members:
        name, value = rng.choice(members)
        new = rng.choice([*ODD_JSON, b'"' + b"x" * 600 + b'"', b'"\\u00e9"', b'"\xc3\xa9"', b'"\\/"', b'"\\u0001"', b'"\x01"'])
        return leaf.replace(b'"%s":%s' % (name, value), b'"%s":%s' % (name, new), 1)
    if kind == 1:
        return leaf[:-1] + b',"zz_extra":1}' if rng.random() < 0.5 else b'{"aa":' + rng.choice(ODD_JSON) + b"," + leaf[1:]
    if kind == 2 and members:
        name, value = rng.choice(members)
        return leaf.replace(b'"%s":%s,' % (name, value), b"", 1).replace(b',"%s":%s' % (name, value), b"", 1)
    if kind == 3:
        return leaf.replace(b",", b", ", 1) if rng.random() < 0.5 else leaf + b"\n"
    if kind == 4 and members:
        name, value = rng.choice(members)
        return leaf[:-1] + b',"%s":%s}' % (name, value)  # a duplicate member
    if kind == 5 and len(members) > 1:
        a, b = rng.sample(members, 2)
        return leaf.replace(b'"%s":%s' % a, b"\x00A\x00").replace(b'"%s":%s' % b, b'"%s":%s' % a).replace(b"\x00A\x00", b'"%s":%s' % b)
    if kind == 6:
        return rng.choice([b"{}", b"[]", b"null", b"{" * 30_000, b'{"v":1}', b"x" * 65536, leaf.upper()])
    if kind == 7:
        return re.sub(rb'"index":\d+', lambda m: b'"index":' + rng.choice([b"0", b"-1", b"18446744073709551615", b"9223372036854775807"]), leaf)
    return damage(rng, leaf, 1)


def log_changes(pristine, mutated) -> list[str]:
    """Exactly how the files of `mutated` differ from those of `pristine`: files deleted, added (with their bytes),
    or changed (the byte range replaced, with the bytes put there)."""
    before = {p.name: p for p in pristine.iterdir()}
    after = {p.name: p for p in mutated.iterdir()}
    changes = [f"{name} deleted" for name in sorted(before.keys() - after.keys())]
    for name in sorted(after):
        path = after[name]
        if path.is_dir():
            changes.append(f"{name} is a directory")
            continue
        new = path.read_bytes()
        if name not in before or before[name].is_dir():
            changes.append(f"{name} added: {literal(new)}")
            continue
        old = before[name].read_bytes()
        if old == new:
            continue
        start = 0
        while start < min(len(old), len(new)) and old[start] == new[start]:
            start += 1
        end = 0
        while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
            end += 1
        changes.append(f"{name}: bytes {start}..{len(old) - end} of {len(old)} replaced by {literal(new[start:len(new) - end])}")
    return changes


@dataclass
class LogMutation:
    description: str  # what was done, exactly (offsets, bytes written)
    tampering: bool  # a change `verify` must refuse when nothing else was touched


def mutate_log(rng: random.Random, directory) -> LogMutation | None:
    """One change to the log in `directory`; None when the chosen change does not apply to this log."""
    segs = segments(directory)
    kind = rng.randrange(16)
    if kind <= 4 and segs:
        segment = rng.choice(segs)
        data = segment.read_bytes()
        found = frames(data)
        if kind == 0:
            new = damage(rng, data)
            what = "bytes damaged"
        elif kind == 1:
            new = truncate(rng, data)
            what = f"truncated to {len(new)} bytes"
        elif kind == 2 and found:
            offset, leaf = rng.choice(found)
            value = rng.choice([0, 65537, 0xFFFFFFFF, 0x7FFFFFFF, len(leaf) - 1, len(leaf) + 1])
            new = data[:offset] + value.to_bytes(4, "big") + data[offset + 4 :]
            what = f"frame at offset {offset}: length set to {value}"
        elif kind == 3 and found:
            i = rng.randrange(len(found))
            offset, leaf = found[i]
            changed = mutate_leaf(rng, leaf)
            new = data[:offset] + frame(changed) + data[offset + 36 + len(leaf) :]
            what = f"record {i} (offset {offset}) rewritten, with a correct stored hash"
        elif kind == 4 and len(found) > 1:
            i, j = rng.sample(range(len(found)), 2)
            chunks = [frame(leaf) for _, leaf in found]
            if rng.random() < 0.5:
                chunks[i], chunks[j] = chunks[j], chunks[i]
                what = f"frames {i} and {j} swapped"
            else:
                chunks.insert(j, chunks[i])
                what = f"frame {i} copied before frame {j}"
            end = found[-1][0] + 36 + len(found[-1][1])
            new = b"".join(chunks) + data[end:]
        else:
            return None
        segment.write_bytes(new)
        return LogMutation(f"{segment.name}: {what}", new != data)
    if kind == 5 and segs:
        segment = rng.choice(segs)
        action = rng.choice(["delete", "rename"])
        held_records = bool(frames(segment.read_bytes()))
        if action == "delete":
            segment.unlink()
            return LogMutation(f"{segment.name} deleted", held_records)
        start = int(SEGMENT.fullmatch(segment.name).group(1))
        target = rng.choice([t for t in (0, 1, 2, 10, 2**63, 2**64 - 1, 99999999999999999999) if t != start])
        segment.rename(directory / segment_name(target))
        return LogMutation(f"{segment.name} renamed to {segment_name(target)}", held_records)
    if kind == 6:
        name = rng.choice([segment_name(rng.choice([0, 1, 5, 10, 11, 12, 2**64 - 1])), "receipts-1.seg", "receipts-abc.seg",
                           f"receipts-{'0' * 25}.seg", "receipts-00000000000000000000.seg.tmp"])
        content = rng.choice([b"", b"\x00" * 36, segs[0].read_bytes() if segs else b"", frame(b'{"v":1}'), b"\xff" * 100])
        existed = (directory / name).exists()
        if (directory / name).is_dir():
            return None
        (directory / name).write_bytes(content)
        return LogMutation(f"{name} {'overwritten' if existed else 'added'}", False)
    if kind == 7 and segs:
        segment = segs[-1]
        tail = rng.choice([b"\x00\x00", b"\x00\x00\x00\x10" + b"\x00" * 20, frame(b'{"v":1,"index":99}')[:-3],
                           frame(b'{"index":0,"kind":"admin","origin":"x","time":0,"v":1}')])
        with open(segment, "ab") as f:
            f.write(tail)
        return LogMutation(f"{segment.name}: a partial or extra frame appended", False)
    checkpoint = directory / "checkpoint"
    if kind in (8, 9) and checkpoint.is_file():
        data = checkpoint.read_bytes()
        if kind == 8:
            new = damage(rng, data)
            checkpoint.write_bytes(new)
            return LogMutation("checkpoint damaged", new != data)
        lines = data.split(b"\n")
        edit = rng.randrange(6)
        if edit == 0:
            lines[1] = rng.choice([b"0", b"-1", b"18446744073709551615", b"18446744073709551616", b"99999999999999999999", b"1e3", b"011"])
        elif edit == 1:
            lines[2] = rng.choice([b"", b"AAAA", b"=" * 44, b"A" * 43 + b"=", b"A" * 10_000])
        elif edit == 2:
            lines = [line for line in lines if not line.startswith("\u2014".encode())] + [b""]
        elif edit == 3:
            lines.insert(4, lines[4] if len(lines) > 4 else b"")  # a signature line twice
        elif edit == 4:
            lines.insert(rng.randrange(len(lines)), rng.choice([b"", b"extra", "\u2014 x AAAA".encode(), b"\r"]))
        else:
            lines = [line + b"\r" for line in lines]
        new = b"\n".join(lines)
        checkpoint.write_bytes(new)
        return LogMutation("checkpoint edited", new != data and edit in (0, 1, 2))
    if kind == 10 and checkpoint.is_file():
        checkpoint.unlink()
        return LogMutation("checkpoint deleted", False)
    history = directory / "checkpoints.log"
    if kind == 11 and history.is_file():
        data = history.read_bytes()
        edit = rng.randrange(4)
        if edit == 0:
            new = damage(rng, data)
        elif edit == 1:
            new = truncate(rng, data)
        elif edit == 2:
            new = rng.choice([0, 1, 0xFFFFFFFF, 0x10000, len(data)]).to_bytes(4, "big") + data[4:]
        else:
            new = data + data[: rng.randrange(1, len(data) + 1)]
        history.write_bytes(new)
        return LogMutation("checkpoints.log changed", False)
    if kind == 12:
        victim = directory / rng.choice(["checkpoints.log", "tree.state", "body.key", "LOCK"])
        if victim.is_file():
            victim.unlink()
            return LogMutation(f"{victim.name} deleted", False)
        return None
    if kind == 13:
        state = directory / "tree.state"
        if not state.is_file():
            return None
        new = damage(rng, state.read_bytes())
        state.write_bytes(new)
        return LogMutation("tree.state damaged", False)
    if kind == 14:
        victim = directory / rng.choice(["checkpoint", "checkpoints.log", *(s.name for s in segs)])
        if victim.is_file():
            victim.unlink()
            victim.mkdir()
            return LogMutation(f"{victim.name} replaced by a directory", False)
        return None
    if kind == 15 and segs:
        segment = rng.choice(segs)
        held_records = bool(frames(segment.read_bytes()))
        segment.write_bytes(b"")
        return LogMutation(f"{segment.name} emptied", held_records)
    return None
