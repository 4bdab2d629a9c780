"""The warm start-up's digests (``securehost._digests``) are hashlib's algorithms, with or without CPython's modules."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import _digests


@given(st.binary(max_size=4096))
def test_sha256_is_hashlibs(data: bytes) -> None:
    assert _digests.sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert _digests.sha256(data).digest() == hashlib.sha256(data).digest()


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=4096))
def test_mac_is_keyed_blake2b(key: bytes, data: bytes) -> None:
    expected = hashlib.blake2b(data, key=key, digest_size=32).digest()
    assert _digests.mac(key, data) == expected
    assert len(expected) == _digests.MAC_SIZE


@given(st.binary(min_size=1, max_size=64), st.lists(st.binary(max_size=512), max_size=5))
def test_a_mac_of_parts_is_the_mac_of_their_concatenation(key: bytes, parts: list[bytes]) -> None:
    """The sealed state files MAC a header and a large payload without copying them into one."""
    assert _digests.mac(key, *parts) == hashlib.blake2b(b"".join(parts), key=key, digest_size=32).digest()
    assert _digests.mac(key, *(memoryview(p) for p in parts)) == _digests.mac(key, b"".join(parts))


@given(st.binary(max_size=4096))
def test_fingerprint_is_blake2b_256(data: bytes) -> None:
    assert _digests.fingerprint(data) == hashlib.blake2b(data, digest_size=32).hexdigest()


def test_a_mac_depends_on_the_key_and_a_longer_key_is_refused() -> None:
    assert _digests.mac(b"k" * 32, b"data") != _digests.mac(b"x" * 32, b"data")
    assert _digests.mac(b"k" * 32, b"data") != hashlib.blake2b(b"data", digest_size=32).digest()  # keyed, not plain
    with pytest.raises(ValueError, match="key"):
        _digests.mac(b"k" * 65, b"data")


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_compare_digest_is_hmacs(a: bytes, b: bytes) -> None:
    assert _digests.compare_digest(a, b) is hmac.compare_digest(a, b) is (a == b)
    assert _digests.compare_digest(a.hex(), b.hex()) is (a == b)


def test_compare_digest_refuses_mixed_types() -> None:
    with pytest.raises(TypeError):
        _digests.compare_digest(b"ab", "ab")


def test_sha256_of_text_is_a_type_error_as_in_hashlib() -> None:
    with pytest.raises(TypeError):
        _digests.sha256("text")  # type: ignore[arg-type]


def test_an_interpreter_without_cpythons_hash_modules_gets_hashlibs() -> None:
    """``_sha2``/``_sha256`` missing: the same SHA-256, from :mod:`hashlib` (``_blake2`` is what hashlib has too)."""
    code = (
        "import sys, json\n"
        "for name in ('_sha2', '_sha256'): sys.modules[name] = None  # import raises ImportError\n"
        "from securehost import _digests\n"
        "print(json.dumps([_digests.sha256(b'abc').hexdigest(), _digests.mac(b'k' * 32, b'abc').hex(),\n"
        "                  _digests.fingerprint(b'abc'), type(_digests.sha256(b'')).__module__]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    sha, mac, fingerprint, module = json.loads(out)
    assert sha == hashlib.sha256(b"abc").hexdigest()
    assert mac == hashlib.blake2b(b"abc", key=b"k" * 32, digest_size=32).hexdigest()
    assert fingerprint == hashlib.blake2b(b"abc", digest_size=32).hexdigest()
    assert module in {"_hashlib", "hashlib"}  # OpenSSL's object, not the built-in module's


def test_importing_the_digests_loads_no_openssl() -> None:
    code = "import sys; from securehost import _digests; _digests.mac(b'k', _digests.sha256(b'x').digest()); "
    code += "print(sorted(m for m in ('hashlib', 'hmac', '_hashlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
