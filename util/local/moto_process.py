"""The embedded moto server's own process: `python -m util.local.moto_process HOST`.

moto serves every request with a few milliseconds of pure-Python CPU (werkzeug, flask, its serializers). In the
stack's process it held the gateway's GIL for all of that time, so each S3 call of the function stalled the
handshakes and `@connections` posts of everyone else. In a process of its own it runs on the other core.

The child prints one JSON line, `{"port": N}`, once it listens on HOST:N (a free port), and serves until its
stdin closes: the stack closes it to stop moto, and a stack that dies closes it too, so no moto outlives it.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from typing import Any

from .moto_tuning import trim_moto_overheads


def serve(host: str) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    trim_moto_overheads()
    # werkzeug logs one line per request: far too loud next to the stack's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app: Any = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    sys.stdout.write(json.dumps({"port": server.server_address[1]}) + "\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()  # returns at EOF: the stack stopped or died
    server.shutdown()
    server.server_close()


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
