"""`util kick ID`: close one connection (`DELETE @connections/{id}`) and have the store forget it.

API Gateway then runs `$disconnect`, which forgets it as well; the store is told here too, because that
`$disconnect` is best effort and the listing should not show the connection until it does.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .clients import management_client
from .connections import open_store
from .console import status
from .environments import load_outputs
from .errors import InputError, UtilError
from .options import EnvOption, resolve_env


def command(
    *,
    connection_id: Annotated[str, typer.Argument(metavar="ID", help="The connection id (see `util connections`).")],
    env: EnvOption = None,
) -> None:
    """Close connection ID and remove it from the store."""
    if not connection_id.strip():
        raise InputError("ID is empty: give a connection id (see `util connections`)")
    outputs = load_outputs(resolve_env(env))
    api = management_client(outputs)
    try:
        api.delete_connection(ConnectionId=connection_id)
    except api.exceptions.GoneException:
        open_store(outputs).remove([connection_id])
        raise UtilError(f"connection {connection_id} is not connected (and is no longer in the store)") from None
    open_store(outputs).remove([connection_id])
    status(f"closed {connection_id}")
