"""Python's stock static file server, as `python3 -m http.server` runs it
(SimpleHTTPRequestHandler on a ThreadingHTTPServer: a thread per
connection), with three class attributes changed so it can be measured
over keep-alive connections like the other servers:

- protocol_version "HTTP/1.1": the default HTTP/1.0 closes the connection
  after every response (`-m http.server --protocol HTTP/1.1` does this too);
- disable_nagle_algorithm: the handler writes the head and the body in two
  writes; with Nagle on, the body waits for the client's delayed ACK of the
  head, about 40 ms, so the stock module answers about 22 requests a second
  per connection on Linux whatever the machine;
- request_queue_size 128: the stock listen backlog of 5 drops the SYNs of
  50 clients connecting at once, and they retry a second later.

Everything else (reading the file on every request, the per-request log
line on stderr) is the stock behaviour.

Used by `deno task bench web`. Ready line on stdout:
`python-http listening on http://127.0.0.1:PORT`. Exits when stdin closes,
so it never outlives the bench that started it; a line "cpu" on stdin makes
it print `python-http cpu SECONDS` (its CPU time so far) on stdout.
"""

import argparse
import functools
import http.server
import os
import sys
import threading
import time


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128


def control_from_stdin() -> None:
    """A line "cpu" prints the CPU seconds used so far; end of input exits."""
    for line in sys.stdin:
        if line.strip() == "cpu":
            print(f"python-http cpu {time.process_time():.6f}", flush=True)
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--directory", required=True)
    args = parser.parse_args()
    handler = functools.partial(Handler, directory=args.directory)
    with Server((args.host, args.port), handler) as server:
        host, port = server.socket.getsockname()[:2]
        threading.Thread(target=control_from_stdin, daemon=True).start()
        print(f"python-http listening on http://{host}:{port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
