"""A reference echo server for the socklab TLV protocol, written the way a
course solution would be: asyncio streams, one coroutine per connection,
readexactly() for every frame header and body, one write per reply.

Used by `deno task bench` as an outside baseline. It speaks only what the
bench needs: hello (service "echo") -> hello_ok, echo_request -> echo_reply;
anything else gets an error frame. Ready line on stderr:
`python-echo listening on tcp://127.0.0.1:PORT`. Exits when stdin closes, so
it never outlives the bench that started it; a line "cpu" on stdin makes it
print `python-echo cpu SECONDS` (its CPU time so far) to stderr.

Wire format (docs/PROTOCOL.md): every item is tag u16 | length u32 | value,
big-endian; a frame's value is a list of field items.
"""

import argparse
import asyncio
import os
import struct
import sys
import threading
import time

HEADER = struct.Struct(">HI")
MAX_FRAME = 1024 * 1024

HELLO, HELLO_OK, ERROR = 0x0001, 0x0002, 0x0003
ECHO_REQUEST, ECHO_REPLY = 0x0100, 0x0101
TAG_ID, TAG_VERSION, TAG_SERVICE, TAG_CODE, TAG_MESSAGE, TAG_DATA = 1, 2, 3, 5, 6, 8
ERR_BAD_FRAME, ERR_HELLO_REQUIRED, ERR_WRONG_SERVICE = 1, 7, 9
ERR_UNEXPECTED = 10


def item(tag: int, value: bytes) -> bytes:
    return HEADER.pack(tag, len(value)) + value


def frame(kind: int, *items: bytes) -> bytes:
    body = b"".join(items)
    return HEADER.pack(kind, len(body)) + body


def fields(body: bytes) -> dict:
    """Splits a frame body into {tag: value}; raises ValueError if malformed."""
    out = {}
    at = 0
    while at < len(body):
        if len(body) - at < HEADER.size:
            raise ValueError("stray bytes after the last field")
        tag, length = HEADER.unpack_from(body, at)
        at += HEADER.size
        if length > len(body) - at:
            raise ValueError(f"field 0x{tag:04x} runs past its frame")
        out[tag] = body[at : at + length]
        at += length
    return out


def error(code: int, message: str) -> bytes:
    return frame(
        ERROR, item(TAG_CODE, struct.pack(">H", code)), item(TAG_MESSAGE, message.encode())
    )


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    greeted = False
    try:
        while True:
            kind, length = HEADER.unpack(await reader.readexactly(HEADER.size))
            if length > MAX_FRAME:
                writer.write(error(ERR_BAD_FRAME, f"frame length {length} is over {MAX_FRAME}"))
                break
            body = await reader.readexactly(length)
            try:
                f = fields(body)
            except ValueError as e:
                writer.write(error(ERR_BAD_FRAME, str(e)))
                break
            if not greeted:
                if kind != HELLO:
                    writer.write(error(ERR_HELLO_REQUIRED, "expected hello first"))
                    break
                if f.get(TAG_SERVICE) != b"echo":
                    writer.write(error(ERR_WRONG_SERVICE, "this server offers echo"))
                    break
                greeted = True
                writer.write(
                    frame(HELLO_OK, item(TAG_VERSION, struct.pack(">H", 1)), item(TAG_SERVICE, b"echo"))
                )
            elif kind == ECHO_REQUEST and TAG_ID in f and TAG_DATA in f:
                writer.write(frame(ECHO_REPLY, item(TAG_ID, f[TAG_ID]), item(TAG_DATA, f[TAG_DATA])))
            else:
                writer.write(error(ERR_UNEXPECTED, f"type 0x{kind:04x} is not served here"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def control_from_stdin() -> None:
    """A line "cpu" prints the CPU seconds used so far; end of input exits."""
    for line in sys.stdin:
        if line.strip() == "cpu":
            print(f"python-echo cpu {time.process_time():.6f}", file=sys.stderr, flush=True)
    os._exit(0)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = await asyncio.start_server(serve, args.host, args.port, backlog=1024)
    host, port = server.sockets[0].getsockname()[:2]
    threading.Thread(target=control_from_stdin, daemon=True).start()
    print(f"python-echo listening on tcp://{host}:{port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
