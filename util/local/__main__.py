"""`python -m util.local up`: the local stack without the `util` console script."""

from util.local.cli import app

app(prog_name="python -m util.local")
