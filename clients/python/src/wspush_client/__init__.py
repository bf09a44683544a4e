"""wspush's Python client: `Client` and the types it hands to the app (docs/clients.md). Everything else is
private (modules starting with `_`)."""

from ._backoff import Backoff
from ._client import Client, ConnectionOpened, Limits, StateChange
from ._codes import Advice, CloseCode
from ._errors import (
    ClientError,
    ConnectionLost,
    ConnectionRefused,
    NotConnected,
    ReplyTimeout,
    ServerError,
    Unauthorized,
)
from ._protocol import (
    ACTIONS,
    Action,
    ErrorFrame,
    HistoryEntry,
    HistoryPage,
    Incoming,
    Joined,
    Left,
    Member,
    MembersPage,
    Message,
    Presence,
    Push,
    RecoveryIncomplete,
    Sender,
    Whoami,
)
from ._state import State

__all__ = [
    "ACTIONS",
    "Action",
    "Advice",
    "Backoff",
    "Client",
    "ClientError",
    "CloseCode",
    "ConnectionLost",
    "ConnectionOpened",
    "ConnectionRefused",
    "ErrorFrame",
    "HistoryEntry",
    "HistoryPage",
    "Incoming",
    "Joined",
    "Left",
    "Limits",
    "Member",
    "MembersPage",
    "Message",
    "NotConnected",
    "Presence",
    "Push",
    "RecoveryIncomplete",
    "ReplyTimeout",
    "Sender",
    "ServerError",
    "State",
    "StateChange",
    "Unauthorized",
    "Whoami",
]
