"""`util`: the command-line toolkit of the WebSocket push service."""
