"""The Lambda of the WebSocket push service: one handler for every event (see `lambda_src.app`)."""
