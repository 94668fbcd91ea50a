"""A local MCP server on the stdio transport, built with the official SDK (FastMCP): the router launches it in a
sandbox of its own and bridges it to agents at /mcp/<server>. Its tools report what its sandbox lets it see."""

import hashlib
import os
import socket
import sys

from mcp.server.fastmcp import FastMCP

mcp = FastMCP("local-tools")


@mcp.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@mcp.tool()
def secret_digest() -> str:
    """SHA-256 of the TOOL_TOKEN variable the router passed, or 'unset'."""
    token = os.environ.get("TOOL_TOKEN")
    return hashlib.sha256(token.encode()).hexdigest() if token is not None else "unset"


@mcp.tool()
def whoami(probe_path: str, host: str, port: int) -> str:
    """The server's uid, whether it can see probe_path, and whether it can connect to host:port directly."""
    try:
        socket.create_connection((host, port), timeout=2).close()
        reached = "yes"
    except OSError:
        reached = "no"
    return f"uid={os.getuid()} sees={'yes' if os.path.exists(probe_path) else 'no'} reached={reached} pid={os.getpid()}"


@mcp.tool()
def fetch(url: str) -> str:
    """GET url through the sandbox's egress proxy; the HTTP status, or the error."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.status)
    except urllib.error.HTTPError as error:
        return str(error.code)
    except OSError as error:
        return "error:" + type(error).__name__


@mcp.tool()
def forbidden() -> str:
    """A tool no sandbox is allowed."""
    return "should never run"


if __name__ == "__main__":
    print("local-tools starting", file=sys.stderr)
    mcp.run(transport="stdio")
