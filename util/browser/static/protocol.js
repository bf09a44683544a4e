// The wire protocol of docs/protocol.md, as the page speaks it: no DOM, no socket, only data.
// The constants mirror lambda_src/protocol/frames.py; tests/browser/test_protocol_module.py fails when they drift.

export const ACTIONS = Object.freeze(["broadcast", "send", "whoami", "join", "leave", "history", "members"]);
export const MAX_NAME_CHARS = 64;
export const MAX_MESSAGE_BYTES = 128 * 1024;
export const ROOM_PATTERN = "^[A-Za-z0-9_.-]{1,64}$";

const encoder = new TextEncoder();

/** The WebSocket URL with `name` and `token` as query parameters (an empty value is left out). */
export function connectUrl(base, { name = "", token = "" } = {}) {
  const url = new URL(base);
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new Error(`not a WebSocket URL: ${base} (expected ws://... or wss://...)`);
  }
  url.searchParams.delete("name");
  url.searchParams.delete("token");
  if (name) url.searchParams.set("name", name);
  if (token) url.searchParams.set("token", token);
  return url.toString();
}

/** `url` with the token's value hidden, for anything shown on the page. */
export function redacted(url) {
  const parsed = new URL(url);
  if (parsed.searchParams.has("token")) parsed.searchParams.set("token", "***");
  return parsed.toString();
}

export const frames = Object.freeze({
  broadcast: (message, { room = "", echo = true } = {}) =>
    JSON.stringify({ action: "broadcast", message, ...(room ? { room } : {}), ...(echo ? {} : { echo: false }) }),
  send: (to, message) => JSON.stringify({ action: "send", to, message }),
  whoami: () => JSON.stringify({ action: "whoami" }),
  join: (room) => JSON.stringify({ action: "join", room }),
  leave: (room) => JSON.stringify({ action: "leave", room }),
  history: (room, after) => JSON.stringify({ action: "history", room, ...(after ? { after } : {}) }),
  members: (room) => JSON.stringify({ action: "members", room }),
});

/** Size of a frame as the service counts it: UTF-8 bytes. */
export function byteLength(text) {
  return encoder.encode(text).length;
}

/**
 * What an incoming text frame is: one of the service's own frame types (`message`, `direct`, `whoami`,
 * `joined`, `left`, `error`, `presence`, `members`, `history`) with its JSON value, or a `push`: a message published from outside (SNS),
 * which reaches clients verbatim in whatever format its publisher chose, JSON or not.
 */
export function classify(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: "push", value: text, json: false };
  }
  const type = value !== null && typeof value === "object" && !Array.isArray(value) ? value.type : undefined;
  const known = ["message", "direct", "whoami", "joined", "left", "error", "presence", "members", "history"];
  return { kind: known.includes(type) ? type : "push", value, json: true };
}

/** A frame for reading: pretty JSON when it is JSON, else the text as it came. */
export function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** A message (any JSON) as one line of text. */
export function messageText(message) {
  return typeof message === "string" ? message : JSON.stringify(message);
}

/** `HH:MM:SS.mmm` in local time, as `util connect` stamps frames. */
export function clock(date) {
  const two = (n) => String(n).padStart(2, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, "0")}`;
}

/** One line for a presence frame: who joined or left a room, or (above the size cap) only how many are in it. */
export function presenceText(frame) {
  const count = `${frame.count} members`;
  if (frame.member === null || typeof frame.member !== "object") return `#${frame.room}: ${count}`;
  // Not "joined"/"left": those words are this page's own lines about its own rooms.
  const verb = frame.event === "join" ? "entered" : "went out of";
  return `${String(frame.member.name)} ${verb} #${frame.room} (${count})`;
}
