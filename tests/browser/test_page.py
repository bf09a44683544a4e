"""The page itself in Chromium: its protocol module matches the service, it cannot be made to run injected
script, and it is usable by keyboard, at phone width, with readable contrast. Also takes the screenshot
of docs/ (`WSPUSH_UPDATE_SCREENSHOT=1` writes it there)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from lambda_src import limits
from lambda_src.handlers import message as routes
from lambda_src.protocol import frames as protocol
from util import connect

from .conftest import PageOpener

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.timeout(180)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "browser-client.png"
UPDATE_SCREENSHOT_ENV = "WSPUSH_UPDATE_SCREENSHOT"
PHONE = {"width": 375, "height": 740}
MIN_CONTRAST = 4.5
"""WCAG 2.x level AA for normal text."""

# Every element with text of its own: its colour against the first opaque background behind it.
CONTRAST_SCRIPT = """
(minimum) => {
  const rgb = (css) => css.match(/[\\d.]+/g).map(Number);
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const colour = rgb(getComputedStyle(node).backgroundColor);
      if (colour.length < 4 || colour[3] > 0) return colour;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const node of document.querySelectorAll("body *")) {
    const own = [...node.childNodes].some((c) => c.nodeType === Node.TEXT_NODE && c.textContent.trim());
    if (!own || !node.checkVisibility()) continue;
    const [a, b] = [luminance(rgb(getComputedStyle(node).color)), luminance(background(node))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const what = `${node.tagName.toLowerCase()}.${node.className} "${node.textContent.trim().slice(0, 30)}"`;
    if (ratio < minimum) low.push(`${what}: ${ratio.toFixed(2)}`);
  }
  return low;
}
"""


def test_protocol_module_matches_the_service(open_page: PageOpener) -> None:
    page = open_page()

    module: dict[str, Any] = page.page.evaluate(
        """async () => {
          const p = await import("./protocol.js");
          return { actions: p.ACTIONS, name: p.MAX_NAME_CHARS, bytes: p.MAX_MESSAGE_BYTES, room: p.ROOM_PATTERN };
        }"""
    )

    assert module == {
        "actions": list(routes.ACTIONS),
        "name": protocol.MAX_NAME_CHARS,
        "bytes": limits.MAX_MESSAGE_BYTES,
        "room": f"^{protocol.ROOM_PATTERN.pattern}$",
    }


def test_reconnect_backoff_doubles_from_half_a_second_to_thirty_with_twenty_percent_jitter(
    open_page: PageOpener,
) -> None:
    page = open_page()

    delays = page.page.evaluate(
        """async () => {
          const c = await import("./connection.js");
          const middle = [1, 2, 3, 7, 20].map((attempt) => c.backoffMs(attempt, () => 0.5));
          return {
            constants: [c.INITIAL_BACKOFF_MS, c.MAX_BACKOFF_MS, c.BACKOFF_JITTER, c.STABLE_CONNECTION_MS],
            middle, low: c.backoffMs(1, () => 0), high: c.backoffMs(1, () => 1), capped: c.backoffMs(9, () => 1),
          };
        }"""
    )

    # The page backs off as `util connect` does.
    assert delays["constants"] == [
        connect.INITIAL_BACKOFF_S * 1000,
        connect.MAX_BACKOFF_S * 1000,
        connect.BACKOFF_JITTER,
        connect.STABLE_CONNECTION_S * 1000,
    ]
    assert delays["middle"] == [500, 1000, 2000, 30000, 30000]
    assert (delays["low"], delays["high"], delays["capped"]) == (400, 600, 36000)


def test_frames_with_markup_are_shown_as_text_and_never_run(open_page: PageOpener) -> None:
    alice, bob = open_page("alice"), open_page("<b>bob</b>")
    payloads = ['<img src=x onerror="window.pwned=1">', "<script>window.pwned=2</script>"]

    for payload in payloads:
        bob.say(payload)

    for payload in payloads:
        expect(alice.entries("message").locator(".text").filter(has_text=payload)).to_have_text(payload)
    expect(alice.entries("message").locator("button.sender").first).to_have_text("<b>bob</b>")
    assert alice.page.locator("#messages img, #messages script, #messages b").count() == 0
    assert alice.page.evaluate("window.pwned") is None


def test_content_security_policy_blocks_injected_inline_script(open_page: PageOpener) -> None:
    page = open_page().page
    page.evaluate(
        """() => {
          window.violations = [];
          document.addEventListener("securitypolicyviolation", (e) => window.violations.push(e.effectiveDirective));
        }"""
    )

    # As if some bug had put markup into the DOM: the policy still refuses to run it.
    page.evaluate(
        """() => {
          document.body.insertAdjacentHTML("beforeend", '<img src="icon.svg" onload="window.pwned=1">');
          const script = document.createElement("script");
          script.textContent = "window.pwned = 2";
          document.body.append(script);
        }"""
    )

    page.wait_for_function("() => window.violations.length >= 2 && document.querySelector('img[onload]').complete")
    assert page.evaluate("window.pwned") is None
    assert sorted(page.evaluate("window.violations")) == ["script-src-attr", "script-src-elem"]


def test_every_control_has_a_label(open_page: PageOpener) -> None:
    page = open_page("alice").page

    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea, button")]
             .filter((c) => !(c.labels?.length || c.getAttribute("aria-label") || c.textContent.trim()))
             .map((c) => c.id || c.outerHTML)"""
    )

    assert unlabelled == []
    assert page.locator("html").get_attribute("lang") == "en"


def test_text_contrast_meets_wcag_aa_in_every_state_shown(open_page: PageOpener) -> None:
    page = open_page("alice")
    page.join("lobby")
    page.expect_in_room("lobby")
    page.say("hello", target="room:lobby")
    page.say("quiet", echo=False)
    page.join("bad room")
    expect(page.entries("error")).to_have_count(1)
    expect(page.entries("message")).to_have_count(1)

    assert page.page.evaluate(CONTRAST_SCRIPT, MIN_CONTRAST) == []


def test_usable_at_phone_width(open_page: PageOpener) -> None:
    page = open_page("phone", **PHONE)
    page.say("from a phone")
    expect(page.entries("message").filter(has_text="from a phone")).to_have_count(1)

    overflow = page.page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    for selector in ("#url", "#connect", "#message", "#send", "#raw-input", "#raw-send"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
    # One column: the raw pane comes below the chat, not beside it.
    chat, raw = page.locator("#chat").bounding_box(), page.locator("#raw").bounding_box()
    assert chat is not None and raw is not None
    assert raw["y"] >= chat["y"] + chat["height"]


def test_keyboard_alone_connects_joins_and_sends(open_page: PageOpener) -> None:
    chat = open_page()
    page = chat.page

    page.locator("#url").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#name")).to_be_focused()
    page.keyboard.type("keys")
    page.keyboard.press("Enter")
    chat.wait_connected()
    page.locator("#room").focus()
    page.keyboard.type("lobby")
    page.keyboard.press("Enter")
    chat.expect_in_room("lobby")
    page.locator("#message").focus()
    page.keyboard.type("typed, not clicked")
    page.keyboard.press("Enter")

    expect(chat.entries("message").filter(has_text="typed, not clicked")).to_have_count(1)
    # Focus is visible: the focused control gets an outline.
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_screenshot_of_two_people_chatting(open_page: PageOpener, tmp_path: Path) -> None:
    ada, grace = open_page("ada"), open_page("grace", width=1280, height=1000)
    for page in (ada, grace):
        page.join("lobby")
        page.expect_in_room("lobby")
    ada.say("hello, grace!", target="room:lobby")
    grace.say("hi ada: direct messages work too", target="direct", to=ada.locator("#my-id").input_value())
    ada.page.fill("#raw-input", json.dumps({"action": "broadcast", "message": {"build": "green"}, "room": "lobby"}))
    ada.page.locator("#raw-send").click()
    expect(grace.entries("message")).to_have_count(2)
    grace.join("bad room")
    expect(grace.entries("error")).to_have_count(1)

    grace.page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
    target = SCREENSHOT if os.environ.get(UPDATE_SCREENSHOT_ENV) == "1" else tmp_path / SCREENSHOT.name
    grace.page.screenshot(path=str(target), full_page=False)

    assert target.read_bytes().startswith(b"\x89PNG")
