"""The local stack: embedded moto + gateway emulator + `@connections` + Lambda API + runtime + SNS delivery.

`LocalStack` starts and stops them in order on the running event loop (`util local up` runs it in the
foreground); `StackThread` runs one on its own loop in a thread, for tests and embedding. Stopping removes
the state file first, closes every connection (each gets its `$disconnect`), then stops the server, the
workers, the log shipping and moto, and deletes the work directory: no process, thread or port is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from lambda_src.config import AuthMode
from util.browser.page import page_files
from util.environments import LOCAL_OUTPUT_NAMES, NULLABLE_OUTPUT_NAMES
from util.errors import InputError, UtilError
from util.local import ids
from util.local.aws import resources as aws
from util.local.aws.api_guard import SMALL_BODY_BYTES, ApiGuard, allowed_hosts
from util.local.aws.cloudwatch import AccessLog, LogShipper, StreamSink
from util.local.aws.credentials import CONNECT_TOKEN_KEY, STATE_KEY, LocalCredentials
from util.local.aws.issuer import KEY_FILE_NAME, LocalIssuer
from util.local.aws.names import StackNames
from util.local.aws.sigv4 import SigV4Verifier
from util.local.aws.sns import SnsDelivery
from util.local.aws.store_faults import StoreFaultProxy
from util.local.gateway.authorizer import LocalAuthorizer
from util.local.gateway.frames import FrameGuards, FrameGuardUnavailable, serve_guarded
from util.local.gateway.management import ManagementApi
from util.local.gateway.registry import ConnectionRegistry
from util.local.gateway.server import Gateway
from util.local.gateway.web import WebPage
from util.local.runtime.destinations import SqsDestinations
from util.local.runtime.function_code import CodeVersion, source_tree_version
from util.local.runtime.lambda_api import LambdaApi
from util.local.runtime.pool import AsyncPolicy, FunctionConfig, Runtime
from util.local.server_log import quiet_server_errors
from util.local.settings import StackSettings
from util.local.state import remove_state, write_state

LOGGER = logging.getLogger("wspush.local")
ACCESS_LOGGER = logging.getLogger("wspush.local.access")
HANDLER_LOGGER = logging.getLogger("wspush.local.handler")

STACK_START_TIMEOUT_S = 120.0
STACK_STOP_TIMEOUT_S = 60.0


class StackError(UtilError):
    """The local stack could not start."""


def source_code_dir(handler: str) -> Path:
    """The directory holding the handler's top-level package in this installation (the source tree)."""
    package = handler.split(".", 1)[0]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise StackError(f"cannot find the handler's package {package!r}: is the project installed (`make setup`)?")
    origin = Path(spec.origin)
    # A package's origin is its __init__.py; a plain module's is the module file.
    return origin.parent.parent if origin.name == "__init__.py" else origin.parent


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {error.strerror or error}; pass another --port") from None
    sock.listen(512)
    sock.setblocking(False)
    return sock


class LocalStack:
    def __init__(self, settings: StackSettings, *, connection_id: Callable[[], str] = ids.gateway_id) -> None:
        self.settings = settings.validate()
        self._connection_id = connection_id
        self.outputs: dict[str, str] = {}
        self.credentials = LocalCredentials.generate()
        """The only credentials the stack's Lambda API and `@connections` accept; the function runs with them."""
        self.runtime: Runtime | None = None
        self._moto = aws.EmbeddedMoto(self.credentials, StackNames().region)
        self._moto_endpoint: aws.MotoEndpoint | None = None
        self._resources: aws.Resources | None = None
        self._work_dir: Path | None = None
        self._shipper: LogShipper | None = None
        self._runner: web.AppRunner | None = None
        self._gateway: Gateway | None = None
        self._management: ManagementApi | None = None
        self._sns: SnsDelivery | None = None
        self._socket: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None
        self._issuer: LocalIssuer | None = None
        self._lambda_api: LambdaApi | None = None
        self.management: ManagementApi | None = None
        """The stage's `@connections` API: its `fault_rate` and `calls` (tests)."""
        self.store_faults: StoreFaultProxy | None = None
        """The proxy that throttles the function's store calls (`--store-fault-rate`); None without one."""

    def worker_pids(self) -> list[int]:
        return self.runtime.worker_pids() if self.runtime else []

    async def start(self) -> dict[str, str]:
        """Start everything; returns the outputs (also written to the state file, if one is configured)."""
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> dict[str, str]:
        settings = self.settings
        code_dir = settings.code_dir or source_code_dir(settings.handler)
        sock = self._socket = _listening_socket(settings.host, settings.port)
        port = int(sock.getsockname()[1])
        self._work_dir = Path(tempfile.mkdtemp(prefix="wspush-local-"))

        moto_url = await asyncio.to_thread(self._moto.start)
        moto = self._moto_endpoint = aws.MotoEndpoint(moto_url, StackNames().region, self.credentials)
        account = await asyncio.to_thread(aws.account_id, moto)
        names = StackNames(workspace=settings.workspace, account_id=account)
        api_id = ids.api_id()
        self._resources = await asyncio.to_thread(
            aws.provision, moto, names, f"{names.name}-push-delivery-{api_id}", settings.store
        )

        base_url = _base_url(settings.host, port)
        origin = base_url.removeprefix("http://")
        connections_url = f"{base_url}/{settings.stage}"

        function_variables = {
            **aws.store_variables(settings.store, names),
            "CONNECTIONS_URL": connections_url,
            "LOG_LEVEL": settings.log_level,
            **await self._auth_variables(moto, names, base_url),
            **settings.message_rate_variables(),
        }
        function_variables.update(settings.function_environment)
        environment = {
            **function_variables,
            **self.credentials.function_environment(),
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ENDPOINT_URL_LAMBDA": base_url,
        }
        environment.update(await self._store_endpoints(moto))

        self._shipper = LogShipper(moto.client("logs"), moto.client("cloudwatch"))
        self._shipper.start()
        self.runtime = Runtime(
            FunctionConfig(
                function_name=names.function,
                function_arn=names.function_arn,
                handler=settings.handler,
                code_dir=code_dir,
                environment=environment,
                timeout_s=settings.timeout_s,
                memory_mb=settings.memory_mb,
                workers=settings.workers,
                log_group=names.lambda_log_group,
                region=names.region,
            ),
            StreamSink(self._shipper, names.lambda_log_group, HANDLER_LOGGER),
            AsyncPolicy(
                max_retry_attempts=settings.async_max_retry_attempts,
                max_event_age_s=settings.async_max_event_age_s,
                retry_delays_s=settings.async_retry_delays_s,
            ),
        )
        await self.runtime.start()

        registry = ConnectionRegistry()
        guards = FrameGuards(settings.max_frame_bytes)
        authorizer = None
        if self._issuer is not None:
            authorizer = LocalAuthorizer(
                self.runtime,
                method_arn=f"arn:aws:execute-api:{names.region}:{names.account_id}:{api_id}/{settings.stage}/$connect",
                ttl_s=settings.authorizer_ttl_s,
            )
        self._gateway = Gateway(
            settings,
            self.runtime,
            api_id=api_id,
            registry=registry,
            access_log=AccessLog(self._shipper, names.api_log_group, f"{api_id}-{settings.stage}", ACCESS_LOGGER),
            guards=guards,
            connection_id=self._connection_id,
            authorizer=authorizer,
        )
        self._management = self.management = ManagementApi(settings, registry, self._gateway)
        lambda_api = self._lambda_api = self._make_lambda_api(names, code_dir, function_variables, moto)
        # Routes that take larger bodies say so through the guard; everything else reads at most this.
        app = web.Application(client_max_size=SMALL_BODY_BYTES)
        guard = ApiGuard(SigV4Verifier(self.credentials, names.region), allowed_hosts(settings.host, port))
        self._gateway.add_routes(app)
        self._management.add_routes(app, guard)
        lambda_api.add_routes(app, guard)
        quiet_server_errors()
        if self._issuer is not None:
            self._issuer.add_routes(app)
        WebPage(page_files(), f"ws://{origin}/{settings.stage}").add_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            # Not a SockSite: every connection goes through the 32 KB frame guard, or the stack does not start.
            self._server = await serve_guarded(self._runner, sock, guards)
        except FrameGuardUnavailable as error:
            raise StackError(f"cannot enforce the WebSocket frame limit: {error}") from None

        self._sns = SnsDelivery(
            moto.client("sqs"),
            self._resources.delivery_queue_url,
            self._resources.subscription_arn,
            self.runtime,
        )
        self._sns.start()

        self.outputs = {
            "websocket_url": f"ws://{origin}/{settings.stage}",
            "connections_url": connections_url,
            "api_id": api_id,
            "stage": settings.stage,
            "region": names.region,
            "lambda_function_name": names.function,
            "sns_topic_arn": names.topic_arn,
            **aws.store_outputs(settings.store, names),
            "lambda_log_group": names.lambda_log_group,
            "api_log_group": names.api_log_group,
            "dead_letter_queue_url": self._resources.dead_letter_queue_url,
            "web_url": f"{base_url}/",
            "aws_endpoint_url": moto_url,
            "lambda_endpoint_url": base_url,
            "auth_mode": settings.auth_mode,
            **self._issuer_outputs(),
        }
        if settings.state_path is not None:
            write_state(settings.state_path, self.state_document())
        return self.outputs

    def _make_lambda_api(
        self, names: StackNames, code_dir: Path, function_variables: dict[str, str], moto: aws.MotoEndpoint
    ) -> LambdaApi:
        assert self.runtime is not None and self._work_dir is not None and self._resources is not None
        lambda_api = LambdaApi(
            self.settings,
            names,
            self.runtime,
            code=self._initial_code(code_dir),
            environment=function_variables,
            work_dir=self._work_dir,
            fetch_s3=lambda bucket, key, version: aws.fetch_object(moto, bucket, key, version),
            destinations=SqsDestinations(lambda: moto.client("sqs")),
        )
        # What deployment/lambda.tf's aws_lambda_function_event_invoke_config declares: retries, age, and the
        # dead-letter queue as on-failure destination.
        lambda_api.configure_event_invoke(
            self.settings.async_max_retry_attempts,
            self.settings.async_max_event_age_s,
            {"OnFailure": {"Destination": self._resources.dead_letter_queue_arn}},
        )
        return lambda_api

    def _issuer_outputs(self) -> dict[str, str]:
        """The local issuer's outputs (auth mode jwt); none otherwise, so the state file writes them as null."""
        if self._issuer is None:
            return {}
        return {
            "jwt_issuer": self._issuer.issuer,
            "jwt_audience": self._issuer.audience,
            "jwks_url": self._issuer.jwks_url,
            "local_issuer_key": str(self._issuer.key_path),
        }

    def state_document(self) -> dict[str, Any]:
        """What the state file holds: the outputs and, beside them under keys that are not outputs, the stack's
        secrets (its credentials, and `--token` so `util connect -e local` need not be told it)."""
        secrets: dict[str, Any] = {STATE_KEY: self.credentials.to_state()}
        if self.settings.token:
            secrets[CONNECT_TOKEN_KEY] = self.settings.token
        # Outputs that do not apply are null, as in the Terraform outputs contract.
        nulls = dict.fromkeys((*NULLABLE_OUTPUT_NAMES, *LOCAL_OUTPUT_NAMES))
        return {**nulls, **self.outputs, **secrets}

    async def _store_endpoints(self, moto: aws.MotoEndpoint) -> dict[str, str]:
        """With `--store-fault-rate`, the function's S3 and DynamoDB clients go through the fault proxy."""
        if self.settings.store_fault_rate is None:
            return {}
        self.store_faults = StoreFaultProxy(
            moto.url, self.settings.store_fault_rate, credentials=self.credentials, region=moto.region
        )
        proxy_url = await self.store_faults.start()
        return {"AWS_ENDPOINT_URL_S3": proxy_url, "AWS_ENDPOINT_URL_DYNAMODB": proxy_url}

    async def _auth_variables(self, moto: aws.MotoEndpoint, names: StackNames, base_url: str) -> dict[str, str]:
        """The function's auth settings, as deployment/lambda.tf sets them; the token goes to SSM, not here."""
        settings = self.settings
        mode = settings.auth_mode
        if mode == AuthMode.TOKEN:
            assert settings.token is not None
            ssm = moto.client("ssm")
            await asyncio.to_thread(
                ssm.put_parameter,
                Name=names.connect_token_parameter,
                Value=settings.token,
                Type="SecureString",
                Overwrite=True,
            )
            return {"AUTH_MODE": mode, "CONNECT_TOKEN_PARAMETER": names.connect_token_parameter}
        if mode == AuthMode.JWT:
            assert self._work_dir is not None
            self._issuer = LocalIssuer(base_url, self._work_dir / KEY_FILE_NAME)
            issuer = self._issuer
            return {
                "AUTH_MODE": mode,
                "JWT_ISSUER": issuer.issuer,
                "JWT_AUDIENCE": issuer.audience,
                "JWT_JWKS_URL": issuer.jwks_url,
            }
        return {"AUTH_MODE": mode}

    def _initial_code(self, code_dir: Path) -> CodeVersion:
        return source_tree_version(code_dir, self.settings.handler.split(".", 1)[0])

    async def stop(self) -> None:
        """Stop everything that was started, in order; safe to call more than once and after a failed start."""
        if self.settings.state_path is not None and self.outputs:
            remove_state(self.settings.state_path, self.outputs)
        if self._gateway is not None:
            await self._gateway.shutdown()
        if self._management is not None:
            await self._management.shutdown()
        if self._sns is not None:
            await self._sns.stop()
            self._sns = None
        if self._server is not None:
            self._server.close()  # stop accepting; the runner's cleanup closes the connections
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), STACK_STOP_TIMEOUT_S)
            self._server = None
        if self._socket is not None:
            self._socket.close()  # the server closed it already, unless the start failed before serving
            self._socket = None
        if self.runtime is not None:
            await self.runtime.stop()
        if self.store_faults is not None:
            await self.store_faults.stop()
            self.store_faults = None
        if self._lambda_api is not None:
            await self._lambda_api.flush_destinations()
        if self._shipper is not None:
            await self._shipper.close()
            self._shipper = None
        if self._resources is not None and self._moto_endpoint is not None:
            await asyncio.to_thread(aws.teardown, self._moto_endpoint, self._resources)
            self._resources = None
        await asyncio.to_thread(self._moto.stop)
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None


class StackThread:
    """A `LocalStack` on its own event loop in a background thread; `start` returns once it serves."""

    def __init__(self, settings: StackSettings, *, connection_id: Callable[[], str] = ids.gateway_id) -> None:
        self._settings = settings
        self._connection_id = connection_id
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.stack: LocalStack | None = None
        self.outputs: dict[str, str] = {}

    @property
    def credentials(self) -> LocalCredentials:
        """The running stack's credentials (tests sign their Lambda API and `@connections` calls with them)."""
        assert self.stack is not None, "the stack is not started"
        return self.stack.credentials

    def start(self, timeout_s: float = STACK_START_TIMEOUT_S) -> dict[str, str]:
        self._thread = threading.Thread(target=self._main, name="wspush-local-stack", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise StackError(f"the local stack did not start within {timeout_s:g} s")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.outputs

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self.stack = LocalStack(self._settings, connection_id=self._connection_id)
            self.outputs = await self.stack.start()
        except BaseException as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.stack.stop()

    def run(self, coroutine: Any, timeout_s: float = 30.0) -> Any:
        """Run a coroutine on the stack's loop (tests use it to reach the runtime) and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    def stop(self, timeout_s: float = STACK_STOP_TIMEOUT_S) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise StackError(f"the local stack did not stop within {timeout_s:g} s")

    def __enter__(self) -> dict[str, str]:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _base_url(host: str, port: int) -> str:
    """The stack's one origin as clients reach it: a wildcard listen address is reached on loopback."""
    public_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    origin = f"{public_host}:{port}" if ":" not in public_host else f"[{public_host}]:{port}"
    return f"http://{origin}"
