"""Fixtures of the browser tests: one local stack running the real handler, one Chromium, pages on it.

Each page gets a browser context of its own (its own storage, as a second browser tab of another user
would have). Every wait is an event Playwright watches for (an element, a text), bounded by
`PAGE_TIMEOUT_MS`; the browser and the stack are closed at the end of the module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect, sync_playwright

from tests.integration.conftest import running_stack, stack_settings
from util.local.stack import StackThread

from .chromium import LAUNCH_ARGS, ChromiumNotFound, find_chromium

PAGE_TIMEOUT_MS = 15_000
LAUNCH_TIMEOUT_MS = 60_000
CLOCK = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3}")

expect.set_options(timeout=PAGE_TIMEOUT_MS)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Module scope, not session: Playwright's sync API keeps an event loop running on this thread until it stops,
    # and every later `asyncio.run` of the other suites would fail ("cannot be called from a running event loop").
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    try:
        executable = find_chromium()
    except ChromiumNotFound as error:
        pytest.fail(str(error), pytrace=False)
    browser = playwright.chromium.launch(
        executable_path=str(executable), headless=True, args=list(LAUNCH_ARGS), timeout=LAUNCH_TIMEOUT_MS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[StackThread]:
    """The local stack with the real handler (`lambda_src`), serving the page at its `web_url`."""
    with running_stack(stack_settings(handler="lambda_src.app.handler", code_dir=None, workers=2)) as thread:
        yield thread


@dataclass
class ChatPage:
    """One user's tab: the page and what a user does with it."""

    page: Page

    def locator(self, selector: str) -> Locator:
        return self.page.locator(selector)

    @property
    def state(self) -> Locator:
        return self.page.locator("#state")

    def connect(self, name: str, url: str | None = None) -> None:
        if url is not None:
            self.page.fill("#url", url)
        self.page.fill("#name", name)
        self.page.click("#connect")

    def wait_connected(self) -> str:
        """The connection id, once the page is connected and the `whoami` reply is shown."""
        expect(self.state).to_have_attribute("data-state", "connected")
        expect(self.page.locator("#identity")).to_be_visible()
        expect(self.page.locator("#my-id")).not_to_have_value("")
        return self.page.locator("#my-id").input_value()

    def join(self, room: str) -> None:
        self.page.fill("#room", room)
        self.page.press("#room", "Enter")

    def expect_in_room(self, room: str) -> None:
        expect(self.page.locator("#rooms li").filter(has_text=f"#{room}")).to_have_count(1)

    def say(self, text: str, *, target: str = "", echo: bool = True, to: str | None = None) -> None:
        """Send from the compose form; `target` is the select's value: "" everyone, "room:NAME", "direct"."""
        self.page.select_option("#target", target)
        if to is not None:
            self.page.fill("#to", to)
        if target != "direct":
            self.page.set_checked("#echo", echo)
        self.page.fill("#message", text)
        self.page.press("#message", "Enter")

    def entries(self, kind: str) -> Locator:
        return self.page.locator(f"#messages li[data-kind='{kind}']")

    def raw_entries(self, direction: str) -> Locator:
        return self.page.locator(f"#raw-log li.raw.{direction}")


PageOpener = Callable[..., ChatPage]


@pytest.fixture
def open_page(browser: Browser, stack: StackThread) -> Iterator[PageOpener]:
    """Open the stack's page in a new context; `connect_as=NAME` also connects and waits for the id."""
    contexts: list[BrowserContext] = []

    def opener(connect_as: str | None = None, *, width: int = 1280, height: int = 900) -> ChatPage:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        page = context.new_page()
        page.goto(stack.outputs["web_url"])
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        chat = ChatPage(page)
        if connect_as is not None:
            chat.connect(connect_as)
            chat.wait_connected()
        return chat

    yield opener
    for context in contexts:
        context.close()
