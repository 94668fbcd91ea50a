"""The differential fuzzer of the project's JSON reader (Sources/AirlockJSON): a strict reference built on Python's
json module, documents generated and mutated to hit every rule, and a client of `airlock-json-probe`.

The reference is strict RFC 8259 with the reader's two limits: the bytes must be UTF-8 (decoded strictly first, so
no overlongs, no encoded surrogates, nothing above U+10FFFF), no byte order mark, no NaN or Infinity, no object
naming a member twice (compared after unescaping), no lone surrogate escape in any string or name, nesting at most
MAX_DEPTH containers and numbers at most MAX_NUMBER characters. Values are rendered exactly as the probe renders
them: numbers as written, strings as the hex of their UTF-8, members in order."""

import json
import random
import select
import struct
import subprocess
from pathlib import Path

MAX_DEPTH = 64
MAX_NUMBER = 64
CORPUS = Path(__file__).resolve().parent / "corpus" / "json"


class Refused(Exception):
    pass


def _number(text: str):
    if len(text) > MAX_NUMBER:
        raise Refused(f"a number of {len(text)} characters")
    return ("num", text)


def _constant(name: str):
    raise Refused(f"{name} is not JSON")


def _object(pairs):
    names = set()
    for name, _ in pairs:
        if name in names:
            raise Refused(f"duplicate name {name!r}")
        names.add(name)
    return ("obj", pairs)


def _check(value, depth: int):
    """Refuses lone surrogates and nesting deeper than MAX_DEPTH containers."""
    if isinstance(value, str):
        value.encode("utf-8")  # UnicodeEncodeError for a lone surrogate
    elif isinstance(value, list) or (isinstance(value, tuple) and value[0] == "obj"):
        if depth + 1 > MAX_DEPTH:
            raise Refused("nested too deep")
        items = value if isinstance(value, list) else [x for pair in value[1] for x in pair]
        for item in items:
            _check(item, depth + 1)


def reference(document: bytes) -> str:
    """`ok <rendering>` or `error <why>`, the probe's verdict format without the offset."""
    try:
        text = document.decode("utf-8", errors="strict")
        value = json.loads(text, object_pairs_hook=_object, parse_int=_number, parse_float=_number,
                           parse_constant=_constant)
        _check(value, 0)
        return "ok " + render(value)
    except (Refused, ValueError, UnicodeError, RecursionError) as error:
        # json.JSONDecodeError and UnicodeDecodeError/UnicodeEncodeError are ValueErrors.
        return f"error {type(error).__name__}: {error}"[:300]


def render(value) -> str:
    if value is None:
        return "n"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return "s" + value.encode("utf-8").hex() + ","
    if isinstance(value, list):
        return "[" + "".join(render(item) for item in value) + "]"
    tag, payload = value
    if tag == "num":
        return "d" + payload + ","
    return "{" + "".join(render(name) + render(item) for name, item in payload) + "}"


class Probe:
    """`airlock-json-probe` as a long-lived process: one document in, one verdict line out."""

    def __init__(self, binary: Path):
        self.process = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def verdict(self, document: bytes, seconds: float = 10.0) -> str:
        self.process.stdin.write(struct.pack(">I", len(document)) + document)
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        if not ready:
            self.process.kill()
            return f"no answer within {seconds:g} s (the reader hangs)"
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the probe died (exit status {self.process.wait()})")
        return line.decode("utf-8", errors="replace").rstrip("\n")

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


def agree(probe: str, expected: str) -> bool:
    """Same verdict, and for an accepted document the same value (a refusal's reason and place may differ)."""
    if probe.startswith("ok ") or expected.startswith("ok "):
        return probe == expected
    return probe.startswith("error ") and expected.startswith("error ")


# ----------------------------------------------------------------------------------------------------------------
# Generated documents: built as bytes, so escapes, spellings of one name and damage are all chosen here.

SPACE = [b"", b"", b"", b" ", b"\n", b"\t", b"\r\n", b"  "]
BAD_SPACE = [b"\x0c", b"\x0b", b"\xc2\xa0", b"\xe2\x80\x8b", b"\xef\xbb\xbf"]
NUMBERS = [b"0", b"-0", b"1", b"-1", b"10", b"0.5", b"-0.0", b"1e5", b"1E+5", b"1e-05", b"123456789012345678901234",
           b"1.7976931348623157e308", b"9223372036854775808", b"01", b"1.", b".5", b"+1", b"-", b"1e", b"1e+",
           b"--1", b"0x10", b"1.5e3.2", b"NaN", b"Infinity", b"-Infinity"]
LITERALS = [b"true", b"false", b"null", b"True", b"nul", b"truee", b"undefined"]
NAMES = ["a", "b", "model", "stream", "include_usage", "max_tokens", "é", "日本", "😀", ""]
BAD_UTF8 = [b"\xc0\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\xff", b"\x80",
            b"\xf8\x88\x80\x80\x80", b"\xe0\x80\xaf", b"\xf0\x8f\xbf\xbf", b"\xc2"]


def escape_char(rng: random.Random, ch: str) -> bytes:
    """One character, written raw or as one of its escapes."""
    code = ord(ch)
    short = {'"': b'\\"', "\\": b"\\\\", "/": b"\\/", "\b": b"\\b", "\f": b"\\f", "\n": b"\\n", "\r": b"\\r",
             "\t": b"\\t"}
    choice = rng.random()
    if ch in short and (choice < 0.7 or ch in '"\\' or code < 0x20):
        return short[ch]
    if code < 0x20 or choice < 0.25:
        if code > 0xFFFF:
            high = 0xD800 + ((code - 0x10000) >> 10)
            low = 0xDC00 + ((code - 0x10000) & 0x3FF)
            return (f"\\u{high:04x}\\u{low:04x}" if rng.random() < 0.5 else f"\\u{high:04X}\\u{low:04X}").encode()
        return (f"\\u{code:04x}" if rng.random() < 0.5 else f"\\u{code:04X}").encode()
    return ch.encode("utf-8")


def random_char(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.6:
        return chr(rng.randrange(0x20, 0x7F))
    if pick < 0.7:
        return rng.choice('"\\/\b\f\n\r\t\x00\x1f')
    if pick < 0.8:
        return chr(rng.choice([0xE9, 0x2028, 0xFEFF, 0xFFFF, 0xE000, 0x10000, 0x1F600, 0x10FFFF]))
    code = rng.randrange(0x80, 0x110000)
    return chr(code) if not 0xD800 <= code < 0xE000 else "x"


def tricky_piece(rng: random.Random) -> bytes:
    """Something a strict reader must refuse inside a string, or nearly so."""
    return rng.choice([
        b"\\ud800", b"\\udbff", b"\\udc00", b"\\udfff", b"\\ud800\\u0041", b"\\ud800\\ud800", b"\\ud83d\\ude00",
        b"\\uD83D\\uDE00", b"\\ud800\\ud800\\udc00", b"\\udc00\\ud800", b"\\ud800\\", b"\\u12", b"\\uZZZZ", b"\\x",
        b"\\U0041", b"\\", b"\x00", b"\x1f", b"\x7f", b"\t", b"\n",
    ] + BAD_UTF8)


def string(rng: random.Random, text: str | None = None, tricky: float = 0.05) -> bytes:
    if text is None:
        text = "".join(random_char(rng) for _ in range(rng.choice([0, 1, 3, 8, 20])))
    out = b'"'
    for ch in text:
        if rng.random() < tricky:
            out += tricky_piece(rng)
        out += escape_char(rng, ch)
    return out + b'"'


def value(rng: random.Random, depth: int, deep: int) -> bytes:
    if depth < deep and rng.random() < 0.9:
        return container(rng, depth, deep)
    pick = rng.random()
    if depth < 4 and pick < 0.3:
        return container(rng, depth, deep)
    if pick < 0.6:
        return string(rng)
    if pick < 0.8:
        return rng.choice(NUMBERS[:13]) if rng.random() < 0.9 else rng.choice(NUMBERS)
    return rng.choice(LITERALS[:3]) if rng.random() < 0.95 else rng.choice(LITERALS)


def container(rng: random.Random, depth: int, deep: int) -> bytes:
    space = lambda: rng.choice(SPACE) if rng.random() < 0.99 else rng.choice(BAD_SPACE)  # noqa: E731
    count = rng.choice([0, 1, 1, 2, 3, 5])
    if rng.random() < 0.5:
        # Only the first item goes on down to `deep`: the rest stay shallow, so a deep document stays small.
        items = [value(rng, depth + 1, deep if i == 0 else 0) for i in range(count)]
        return b"[" + space() + (b"," + space()).join(items) + space() + b"]"
    names = [rng.choice(NAMES) if rng.random() < 0.7 else None for _ in range(count)]
    if count and rng.random() < 0.15:
        names.append(names[0] if names[0] is not None else "a")  # the same name again, spelt its own way
    members = [string(rng, name, tricky=0.02) + space() + b":" + space() + value(rng, depth + 1, deep if i == 0 else 0)
               for i, name in enumerate(names)]
    return b"{" + space() + (b"," + space()).join(members) + space() + b"}"


def generated(rng: random.Random) -> bytes:
    deep = rng.choice([0, 0, 0, 2, 5, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
    return rng.choice(SPACE) + value(rng, 0, deep) + rng.choice(SPACE)


TOKENS = [b'"', b"\\", b"\\u", b"\\ud800", b"\\udc00", b"{", b"}", b"[", b"]", b",", b":", b"0", b"-", b"e", b".",
          b" ", b"\n", b"\x00", b"\xff", b"\xc0", b"\xed\xa0\x80", b'"a":1,', b"null", b"tru", b"1e400"] + BAD_UTF8


def mutated(rng: random.Random, document: bytes) -> bytes:
    data = bytearray(document)
    for _ in range(rng.choice([1, 1, 2, 3])):
        at = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.25 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif action < 0.5:
            data[at:at] = rng.choice(TOKENS)
        elif action < 0.65 and data:
            del data[at : at + rng.choice([1, 1, 2, 6])]
        elif action < 0.8 and data:
            start = rng.randrange(len(data))
            data[at:at] = data[start : start + rng.randrange(1, 16)]
        elif action < 0.9:
            del data[at:]
        else:
            data[at:at] = rng.choice(TOKENS) * rng.randrange(1, 70)
    return bytes(data)


def corpus() -> list[tuple[str, bytes]]:
    return [(path.name, path.read_bytes()) for path in sorted(CORPUS.iterdir()) if path.is_file()]
