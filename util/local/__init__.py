"""The local stack: API Gateway WebSocket emulator, a Lambda runtime of warm worker processes, embedded moto.

Start it with `util local up`; see docs/local-stack.md. Importing this package imports nothing heavy:
the Lambda worker processes import `util.local.runtime.worker` and must stay lean.
"""
