"""`util local up --store dynamodb`, then the README's commands as a user types them: they work as with S3.

A stack of its own (the package's stack keeps the default S3 store): its state file names the table, `util connect`
receives what `util send-data` pushed to everyone, `util connections` lists the client from the table, and
`util tail-logs` shows the push's fan-out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests import strict_json
from tests.stack_harness import LocalUp

from .conftest import ClientStarter, UtilRunner
from .connect_client import CLIENT_TIMEOUT_S
from .local_up import start_local_up, stop_local_up_process

pytestmark = pytest.mark.timeout(180)

PAYLOAD = '{"store": "dynamodb", "n": 1}'
LOG_WAIT_S = 20.0


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    """Overrides the package's stack for this module's `util` and `connect` fixtures."""
    stack = start_local_up(tmp_path_factory.mktemp("local-up-dynamodb"), ("--store", "dynamodb"))
    try:
        yield stack
    finally:
        stop_local_up_process(stack.process)


def test_the_state_file_names_the_table_and_no_bucket(local_up: LocalUp) -> None:
    assert local_up.outputs["connections_table"] == "wspush-local-connections"
    assert not local_up.outputs.get("connections_bucket")


def test_readme_commands_connect_send_data_connections_and_tail_logs_work_on_the_table(
    util: UtilRunner, connect: ClientStarter
) -> None:
    client = connect("--name", "ada", "--listen", "1", "--timeout", str(CLIENT_TIMEOUT_S))
    client.wait_connected()

    listed = util("connections", "--json")
    assert listed.code == 0, listed
    assert [c["name"] for c in json.loads(listed.stdout)] == ["ada"]

    sent = util("send-data", PAYLOAD)
    assert sent.code == 0, sent
    finished = client.finish()
    assert finished.code == 0, finished
    assert [strict_json.loads(frame) for frame in finished.frames] == [json.loads(PAYLOAD)]

    # The stack ships log lines in batches: look again until the push's fan-out summary is there (bounded).
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        logs = util("tail-logs", "--no-follow", "--since", "5m")
        assert logs.code == 0, logs
        if "fanout" in logs.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "fanout" in logs.stdout, logs.stdout
