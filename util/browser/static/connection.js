// One WebSocket session that comes back by itself: reconnect with exponential backoff and jitter, as
// `util connect` does. It knows nothing of the DOM; the page listens to its events.
//
// Events (CustomEvent, details in `event.detail`):
//   state   {state, attempt, delayMs, code, reason}  state: connecting | connected | reconnecting | failed | disconnected
//   open    {reconnected}                            a connection is up (again)
//   frame   {text, at}                               a text frame arrived
//   sent    {text, at}                               a frame left

export const INITIAL_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 30_000;
export const BACKOFF_JITTER = 0.2;
/** A connection that lasted this long was healthy: the next reconnect starts from the initial delay. */
export const STABLE_CONNECTION_MS = 10_000;

/** The delay before reconnect attempt `attempt` (1, 2, ...), randomised by +-BACKOFF_JITTER. */
export function backoffMs(attempt, random = Math.random) {
  const base = Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** (attempt - 1));
  return Math.round(base * (1 + BACKOFF_JITTER * (2 * random() - 1)));
}

export class Connection extends EventTarget {
  #url = null;
  #socket = null;
  #wanted = false;
  #everOpen = false;
  #attempt = 0;
  #openedAt = 0;
  #timer = null;

  get connected() {
    return this.#socket !== null && this.#socket.readyState === WebSocket.OPEN;
  }

  /** Connect to `url` (closing any current connection) and keep reconnecting until `close()`. */
  open(url) {
    this.close({ quiet: true });
    this.#url = url;
    this.#wanted = true;
    this.#everOpen = false;
    this.#attempt = 0;
    this.#dial();
  }

  /** Close for good: no reconnect. */
  close({ quiet = false } = {}) {
    this.#wanted = false;
    clearTimeout(this.#timer);
    this.#timer = null;
    const socket = this.#socket;
    this.#socket = null;
    if (socket !== null) socket.close(1000, "Client closed");
    if (!quiet) this.#emit("state", { state: "disconnected" });
  }

  /** Send one text frame; false when there is no open connection. */
  send(text) {
    if (!this.connected) return false;
    this.#socket.send(text);
    this.#emit("sent", { text, at: new Date() });
    return true;
  }

  #dial() {
    this.#emit("state", { state: "connecting", attempt: this.#attempt });
    let socket;
    try {
      socket = new WebSocket(this.#url);
    } catch (error) {
      this.#wanted = false;
      this.#emit("state", { state: "failed", reason: error.message });
      return;
    }
    this.#socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.#socket) return;
      const reconnected = this.#everOpen;
      this.#everOpen = true;
      this.#openedAt = Date.now();
      this.#emit("state", { state: "connected", attempt: this.#attempt });
      this.#emit("open", { reconnected });
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.#socket) return;
      const text = typeof event.data === "string" ? event.data : `<binary frame, ${event.data.size ?? 0} bytes>`;
      this.#emit("frame", { text, at: new Date() });
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.#socket) return;
      this.#socket = null;
      this.#closed(event.code, event.reason);
    });
  }

  #closed(code, reason) {
    if (!this.#wanted) return;
    if (!this.#everOpen) {
      // A browser is not told why a handshake failed (a 401 for a wrong token looks like a dead host).
      this.#wanted = false;
      this.#emit("state", {
        state: "failed",
        code,
        reason: "could not connect: the URL is wrong, the server is down, or it refused the name or token",
      });
      return;
    }
    if (Date.now() - this.#openedAt >= STABLE_CONNECTION_MS) this.#attempt = 0;
    this.#attempt += 1;
    const delayMs = backoffMs(this.#attempt);
    this.#emit("state", { state: "reconnecting", attempt: this.#attempt, delayMs, code, reason });
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#wanted) this.#dial();
    }, delayMs);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
