// The page: a chat and a developer's console on one Connection. Everything that came over the wire is
// put into the DOM as text (textContent), never as markup: a frame cannot inject script or elements.

import { Connection } from "./connection.js";
import { MAX_NAME_CHARS, classify, clock, connectUrl, frames, messageText, presenceText, pretty, redacted } from "./protocol.js";

const MAX_LOG_ENTRIES = 500;
const CONFIG_URL = "config.json";

const $ = (id) => document.getElementById(id);
const ui = {
  state: $("state"),
  connectForm: $("connect-form"),
  url: $("url"),
  name: $("name"),
  token: $("token"),
  connect: $("connect"),
  disconnect: $("disconnect"),
  configNote: $("config-note"),
  identity: $("identity"),
  myName: $("my-name"),
  myId: $("my-id"),
  copyId: $("copy-id"),
  whoami: $("whoami"),
  roomForm: $("room-form"),
  room: $("room"),
  rooms: $("rooms"),
  roomsEmpty: $("rooms-empty"),
  members: $("members"),
  memberList: $("member-list"),
  messages: $("messages"),
  compose: $("compose"),
  target: $("target"),
  toField: $("to-field"),
  to: $("to"),
  echo: $("echo"),
  message: $("message"),
  rawForm: $("raw-form"),
  rawInput: $("raw-input"),
  rawClear: $("raw-clear"),
  rawLog: $("raw-log"),
};

const connection = new Connection();
/** Rooms this page is in, as the server acknowledged them (`joined` / `left`); restored after a reconnect. */
const rooms = new Set();
const lastIds = new Map(); // room -> the id of the last message seen there: where recovery starts
const recovering = new Set(); // rooms whose missed messages were asked for and not yet all shown
const liveWhileRecovering = new Set(); // ids that arrived live after the rejoin: their room's history has them too

// -- rendering: text only --------------------------------------------------------------------------

function element(tag, { className = "", text = "", attributes = {} } = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function append(log, entry) {
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(entry);
  while (log.childElementCount > MAX_LOG_ENTRIES) log.firstElementChild.remove();
  if (nearBottom) log.scrollTop = log.scrollHeight;
}

function timeElement(at) {
  return element("time", { text: clock(at), attributes: { datetime: at.toISOString() } });
}

/** One line in the chat log: `kind` is message, direct, sent, push, error or system. */
function logEntry(kind, at, parts) {
  const entry = element("li", { className: `entry ${kind}` });
  entry.dataset.kind = kind;
  entry.append(timeElement(at), ...parts);
  append(ui.messages, entry);
  return entry;
}

function systemLine(text, at = new Date()) {
  logEntry("system", at, [element("span", { className: "text", text })]);
}

function senderButton(from) {
  const name = typeof from?.name === "string" ? from.name : "?";
  const id = typeof from?.connectionId === "string" ? from.connectionId : "";
  const button = element("button", {
    className: "sender",
    text: name,
    attributes: { type: "button", title: `Direct message to ${name} (${id})` },
  });
  button.dataset.connectionId = id;
  return button;
}

function rawEntry(direction, text, at) {
  const entry = element("li", { className: `raw ${direction}` });
  const label = direction === "in" ? "received" : "sent";
  entry.append(
    timeElement(at),
    element("span", { className: "direction", text: direction === "in" ? "\u2193 in" : "\u2191 out", attributes: { "aria-label": label } }),
    element("pre", { text: pretty(text) }),
  );
  append(ui.rawLog, entry);
}

// -- state -----------------------------------------------------------------------------------------

const STATE_TEXT = {
  disconnected: () => "Disconnected",
  connecting: ({ attempt }) => (attempt ? `Reconnecting (attempt ${attempt})\u2026` : "Connecting\u2026"),
  connected: () => "Connected",
  reconnecting: ({ delayMs, attempt }) => `Connection lost; reconnecting in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt})`,
  failed: ({ reason }) => `Not connected: ${reason}`,
};

function showState(detail) {
  ui.state.dataset.state = detail.state;
  ui.state.textContent = STATE_TEXT[detail.state](detail);
  const active = detail.state !== "disconnected" && detail.state !== "failed";
  ui.connect.textContent = active ? "Reconnect" : "Connect";
  ui.disconnect.disabled = !active;
  if (!active || detail.state === "reconnecting") ui.identity.hidden = true;
  if (detail.state === "reconnecting") {
    const why = detail.reason ? ` ${detail.reason}` : "";
    systemLine(`connection closed (${detail.code}${why}); reconnecting in ${(detail.delayMs / 1000).toFixed(1)} s`);
  } else if (detail.state === "failed") {
    systemLine(`not connected: ${detail.reason}`);
  }
}

// -- frames from the server ------------------------------------------------------------------------

const HANDLERS = {
  message(frame, at) {
    if (typeof frame.room === "string" && typeof frame.id === "string") {
      if (recovering.has(frame.room)) liveWhileRecovering.add(frame.id);
      if (frame.id > (lastIds.get(frame.room) ?? "")) lastIds.set(frame.room, frame.id);
    }
    const parts = [senderButton(frame.from)];
    if (typeof frame.room === "string") parts.push(element("span", { className: "room", text: `#${frame.room}` }));
    parts.push(element("span", { className: "text", text: messageText(frame.message) }));
    logEntry("message", at, parts);
  },
  direct(frame, at) {
    logEntry("direct", at, [
      senderButton(frame.from),
      element("span", { className: "badge", text: "direct" }),
      element("span", { className: "text", text: messageText(frame.message) }),
    ]);
  },
  whoami(frame) {
    ui.myName.textContent = String(frame.name);
    ui.myId.value = String(frame.connectionId);
    ui.identity.hidden = false;
  },
  joined(frame, at) {
    rooms.add(String(frame.room));
    renderRooms();
    systemLine(`joined #${frame.room}`, at);
  },
  left(frame, at) {
    rooms.delete(String(frame.room));
    renderRooms();
    systemLine(`left #${frame.room}`, at);
  },
  presence(frame, at) {
    systemLine(presenceText(frame), at);
  },
  members(frame, at) {
    const members = Array.isArray(frame.members) ? frame.members : [];
    showMembers(members);
    systemLine(`in #${frame.room}: ${members.map((m) => String(m.name)).join(", ")}${frame.next ? ", \u2026" : ""}`, at);
  },
  history(frame, at) {
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    if (!recovering.has(frame.room)) {
      systemLine(`#${frame.room}: ${messages.length} earlier messages${frame.next ? " (more)" : ""}`, at);
      return;
    }
    // Missed while disconnected: shown in order like any frame, after a line that says they are recovered.
    if (messages.length) systemLine(`recovered ${messages.length} messages of #${frame.room} sent while disconnected`, at);
    for (const item of messages) {
      if (liveWhileRecovering.has(item.id)) continue;
      if (item.frame !== undefined) {
        const { kind, value, json } = classify(JSON.stringify(item.frame));
        HANDLERS[kind](value, at, json);
      } else if (typeof item.text === "string") {
        HANDLERS.push(item.text, at, false);
      }
    }
    if (typeof frame.next === "string") connection.send(frames.history(frame.room, frame.next));
    else {
      recovering.delete(frame.room);
      if (!recovering.size) liveWhileRecovering.clear();
    }
  },
  error(frame, at) {
    logEntry("error", at, [
      element("strong", { text: "Error" }),
      element("code", { className: "code", text: String(frame.code) }),
      element("span", { className: "text", text: String(frame.error) }),
    ]);
  },
  push(value, at, json) {
    logEntry("push", at, [
      element("span", { className: "badge", text: "push" }),
      element("span", { className: "text", text: json ? JSON.stringify(value) : value }),
    ]);
  },
};

connection.addEventListener("frame", ({ detail: { text, at } }) => {
  rawEntry("in", text, at);
  const { kind, value, json } = classify(text);
  HANDLERS[kind](value, at, json);
});

connection.addEventListener("sent", ({ detail: { text, at } }) => rawEntry("out", text, at));
connection.addEventListener("state", ({ detail }) => showState(detail));
connection.addEventListener("open", ({ detail: { reconnected } }) => {
  connection.send(frames.whoami());
  if (reconnected) recover();
});

/**
 * After a reconnect the service sees a new connection: a new id, in no room. Rooms are joined again, and
 * each room's history is asked for what came after the last message id seen there (docs/protocol.md,
 * "History"); a room where none was seen has nothing to start from.
 */
function recover() {
  const previous = [...rooms];
  rooms.clear();
  renderRooms();
  for (const room of previous) connection.send(frames.join(room));
  for (const room of previous) {
    if (!lastIds.has(room)) continue;
    recovering.add(room);
    connection.send(frames.history(room, lastIds.get(room)));
  }
  systemLine(`reconnected: ${recovering.size ? "asking for the messages missed meanwhile" : "no message seen before, nothing to recover"}`);
}

// -- rooms, members --------------------------------------------------------------------------------

function renderRooms() {
  const previousTarget = ui.target.value;
  ui.rooms.replaceChildren(
    ...[...rooms].sort().map((room) => {
      const item = element("li", { className: "chip" });
      const leave = element("button", {
        className: "leave",
        text: "Leave",
        attributes: { type: "button", "aria-label": `Leave room ${room}` },
      });
      leave.dataset.room = room;
      item.append(element("span", { text: `#${room}` }), leave);
      return item;
    }),
  );
  ui.roomsEmpty.hidden = rooms.size > 0;
  for (const option of [...ui.target.options]) if (option.value.startsWith("room:")) option.remove();
  const direct = ui.target.querySelector('option[value="direct"]');
  for (const room of [...rooms].sort()) {
    direct.before(element("option", { text: `room #${room}`, attributes: { value: `room:${room}` } }));
  }
  ui.target.value = [...ui.target.options].some((o) => o.value === previousTarget) ? previousTarget : "";
  targetChanged();
}

/** Shows who is connected, once the protocol reports members (a presence feature; not there yet). */
export function showMembers(members) {
  ui.memberList.replaceChildren(
    ...members.map((member) => {
      const item = element("li", { className: "chip" });
      item.append(senderButton(member));
      return item;
    }),
  );
  ui.members.hidden = false;
}

function directTo(connectionId) {
  ui.target.value = "direct";
  targetChanged();
  ui.to.value = connectionId;
  ui.message.focus();
}

function targetChanged() {
  const direct = ui.target.value === "direct";
  ui.toField.hidden = !direct;
  ui.echo.disabled = direct;
}

// -- user actions ----------------------------------------------------------------------------------

function sendOrSay(text) {
  if (connection.send(text)) return true;
  systemLine("not connected: connect first");
  return false;
}

ui.connectForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = ui.name.value.trim();
  if (name.length > MAX_NAME_CHARS) {
    systemLine(`a name is at most ${MAX_NAME_CHARS} characters`);
    return;
  }
  let url;
  try {
    url = connectUrl(ui.url.value.trim(), { name, token: ui.token.value });
  } catch (error) {
    systemLine(error instanceof TypeError ? `not a URL: ${ui.url.value}` : error.message);
    return;
  }
  rooms.clear();
  renderRooms();
  systemLine(`connecting to ${redacted(url)}`);
  connection.open(url);
});

ui.disconnect.addEventListener("click", () => connection.close());
ui.whoami.addEventListener("click", () => sendOrSay(frames.whoami()));
ui.copyId.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(ui.myId.value);
    systemLine("connection id copied");
  } catch {
    ui.myId.select();
    systemLine("select the id and copy it (the browser refused clipboard access)");
  }
});

ui.roomForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const room = ui.room.value.trim();
  if (!room) return;
  // The service validates the name; a bad one comes back as an error frame, shown in the log.
  if (sendOrSay(frames.join(room))) ui.room.value = "";
});

ui.rooms.addEventListener("click", (event) => {
  const button = event.target.closest("button.leave");
  if (button) sendOrSay(frames.leave(button.dataset.room));
});

for (const log of [ui.messages, ui.memberList]) {
  log.addEventListener("click", (event) => {
    const button = event.target.closest("button.sender");
    if (button && button.dataset.connectionId) directTo(button.dataset.connectionId);
  });
}

ui.target.addEventListener("change", targetChanged);

ui.compose.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.message.value;
  if (!text.trim()) return;
  const target = ui.target.value;
  let frame;
  let note = "";
  if (target === "direct") {
    const to = ui.to.value.trim();
    if (!to) {
      systemLine("a direct message needs a connection id: paste one, or click a sender's name");
      ui.to.focus();
      return;
    }
    frame = frames.send(to, text);
    note = `to ${to}`;
  } else {
    const room = target.startsWith("room:") ? target.slice(5) : "";
    frame = frames.broadcast(text, { room, echo: ui.echo.checked });
    if (!ui.echo.checked) note = room ? `to #${room}, not echoed` : "to everyone, not echoed";
  }
  if (!sendOrSay(frame)) return;
  // The service does not send a direct message (or a broadcast without echo) back: show it here.
  if (note) {
    logEntry("sent", new Date(), [
      element("span", { className: "badge", text: note }),
      element("span", { className: "text", text }),
    ]);
  }
  ui.message.value = "";
});

ui.rawForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.rawInput.value;
  if (!text) return;
  sendOrSay(text);
});

ui.rawInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    ui.rawForm.requestSubmit();
  }
});

ui.rawClear.addEventListener("click", () => ui.rawLog.replaceChildren());

// -- start -----------------------------------------------------------------------------------------

async function loadConfig() {
  const params = new URLSearchParams(location.search);
  if (params.has("name")) ui.name.value = params.get("name");
  try {
    const response = await fetch(CONFIG_URL, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const config = await response.json();
    if (typeof config.websocket_url === "string" && !ui.url.value) {
      ui.url.value = config.websocket_url;
      ui.configNote.textContent = "URL from this environment's outputs (config.json).";
    }
  } catch (error) {
    ui.configNote.textContent = `No ${CONFIG_URL} (${error.message}): type the WebSocket URL.`;
  }
  document.body.dataset.ready = "true";
}

renderRooms();
loadConfig();
