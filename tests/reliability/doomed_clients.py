"""Clients to be killed: `python -m tests.reliability.doomed_clients URL COUNT [TOKEN]` opens COUNT connections, prints
their ids as one JSON line, then waits to be killed with SIGKILL, which sends no close frame for any of them.

It exits on its own after LIFETIME_S, so a test that dies before killing it leaves nothing behind for long.
"""

from __future__ import annotations

import asyncio
import json
import sys

from .clients import open_clients

LIFETIME_S = 120.0


async def main(url: str, count: int, token: str | None) -> None:
    clients = await open_clients(url, count, "doomed", token)
    sys.stdout.write(json.dumps([c.connection_id for c in clients]) + "\n")
    sys.stdout.flush()
    await asyncio.sleep(LIFETIME_S)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None))
