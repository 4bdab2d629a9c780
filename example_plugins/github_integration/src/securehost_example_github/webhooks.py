"""GitHub-style webhook signatures (``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``)."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Check *signature* in constant time (``hmac.compare_digest``)."""
    return hmac.compare_digest(sign(secret, body), signature)
