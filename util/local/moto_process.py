"""The embedded moto server's own process: `python -m util.local.moto_process HOST`.

moto serves every request with a few milliseconds of pure-Python CPU (werkzeug, flask, its serializers). In the
stack's process it held the gateway's GIL for all of that time, so each S3 call of the function stalled the
handshakes and `@connections` posts of everyone else. In a process of its own it runs on the other core.

It runs moto's public `moto.server.ThreadedMotoServer`, nothing of moto's internals. The child prints one JSON
line, `{"port": N}`, once it listens on HOST:N (a free port), and serves until its stdin closes: the stack closes
it to stop moto, and a stack that dies closes it too, so no moto outlives it.
"""

from __future__ import annotations

import json
import logging
import signal
import sys


def serve(host: str) -> None:
    from moto.server import ThreadedMotoServer

    # werkzeug logs one line per request: far too loud next to the stack's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()  # returns at EOF: the stack stopped or died
    server.stop()


def main() -> None:
    # Ctrl-C in `util local up` reaches the whole process group: the stack still needs moto while it stops in
    # order (disconnects, log shipping, teardown), then closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m util.local.moto_process HOST\n")
        sys.exit(2)
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
