"""The fake AWS credentials of the local stack: its moto and its Lambda workers need some, and never the user's.

Every client the local stack or `util --env local` makes signs with these, so no command against the local
stack can ever send a real key anywhere.
"""

from __future__ import annotations

FAKE_ACCESS_KEY_ID = "test"
FAKE_SECRET_ACCESS_KEY = "test"
FAKE_SESSION_TOKEN = "test"
