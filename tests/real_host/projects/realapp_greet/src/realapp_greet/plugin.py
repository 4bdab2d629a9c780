"""Greets loudly, with realapp's marker and realapp's own dependency."""

from realapp import hookimpl
from realapp_util import title


@hookimpl
def greet(name: str) -> str:
    return f"HEY {title(name).upper()}!"
