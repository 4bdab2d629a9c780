"""Signing: keys, strict JSON, the DSSE envelope, the in-toto statement and its predicate, the signature memo.

Everything here works on bytes and keys; nothing knows about trust stores, wheels or installed files.

May import: the leaves only (``securehost._verdict``, ``securehost._permissions``, ``securehost._audit``,
``securehost._fileio``, ``securehost.exceptions``). Imported by ``_trust`` and everything above it.
"""
