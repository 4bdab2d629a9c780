"""Text helpers that realapp depends on (and so its plugins may use)."""


def title(text: str) -> str:
    """Return *text* in title case, stripped."""
    return text.strip().title()
