"""Benchmark: full ``verify_wheel`` (zip checks, metadata, RECORD, envelope, signature, policy) on signed wheels.

Anchor, measured side by side in each round: ``hashlib.sha256`` over the same wheel file. Reported:

* throughput ratio ``raw / verify`` for 10 MiB signed wheels of three kinds of content (target ≥ 0.6x for the
  incompressible one; deflated members must be inflated to be hashed, so their target is ≥ 1.0x of the inflate +
  SHA-256 floor, which ``bench_wheel`` measures);
* per-wheel overhead beside hashing for a small plugin wheel: ``verify_wheel`` minus SHA-256 of the member contents
  (target ≤ 0.5 ms, issue 12): inflating, zip checks, parsing, RECORD, the envelope, the statement and the Ed25519
  signature check. The row also times, in the same rounds, the two parts of that overhead that any verifier pays
  and plain SHA-256 does not: inflating every member (``zlib`` over each member's raw deflate data) and one Ed25519
  verification (``cryptography``, a message the size of the envelope's). ``checks_ms`` is what is left: securehost's
  own checks in Python.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import random
import statistics
import sysconfig
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from securehost import PermissionSet, PrivateKey, TrustedKey, TrustStore
from securehost._signing.envelope import pae
from securehost._trust.verify import ENVELOPE_FILENAME
from securehost._wheel.wheelfile import sign_wheel, verify_wheel

ROUNDS = 21
MiB = 1 << 20
ISSUED = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _sources() -> list[bytes]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [p.read_bytes() for p in sorted(stdlib.glob("*.py")) if p.stat().st_size > 2000]


def make_wheel(directory: Path, name: str, files: dict[str, bytes]) -> Path:
    """Write a valid wheel ``{name}-1.0-py3-none-any.whl`` holding *files* plus its .dist-info."""
    dist_info = f"{name}-1.0.dist-info"
    meta = {
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": f"[bench.plugins]\nplugin = {name}\n".encode(),
    }
    everything = {**files, **meta}
    record = io.StringIO()
    for member, data in everything.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.write(f"{member},sha256={digest},{len(data)}\n")
    record.write(f"{dist_info}/RECORD,,\n")
    path = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in everything.items():
            archive.writestr(zipfile.ZipInfo(member, date_time=(2026, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
        archive.writestr(f"{dist_info}/RECORD", record.getvalue())
    return path


def _ten_mib(directory: Path, label: str, source_bytes: int, binary_bytes: int) -> Path:
    rng = random.Random(0)
    files: dict[str, bytes] = {f"{label}/__init__.py": b""}
    sources = _sources()
    written = index = 0
    while written < source_bytes:
        data = sources[index % len(sources)]
        files[f"{label}/sub{index // 100}/mod{index}.py"] = data
        written += len(data) // 3  # ~3:1 compression
        index += 1
    for i, size in enumerate((binary_bytes // 2, binary_bytes // 4, binary_bytes // 8, binary_bytes // 8)):
        if size:
            files[f"{label}/_native{i}.so"] = rng.randbytes(size)
    return make_wheel(directory, label, files)


def _raw(path: Path) -> None:
    sha = hashlib.sha256()
    with path.open("rb", buffering=0) as stream:
        while chunk := stream.read(MiB):
            sha.update(chunk)


def _raw_members(path: Path) -> list[bytes]:
    """Return each member's raw (compressed) data, read past its local header."""
    raw = []
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name_len, extra_len = (
                int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little"),
                (int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")),
            )
            start = info.header_offset + 30 + name_len + extra_len
            raw.append(data[start : start + info.compress_size])
    return raw


def _inflate_and_hash(members: list[bytes]) -> None:
    for member in members:
        hashlib.sha256(zlib.decompressobj(-15).decompress(member)).digest()


def _timed(function: object, *args: object) -> float:
    start = time.perf_counter()
    function(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def run() -> list[dict[str, object]]:
    """Return one result per case; see the module docstring."""
    key = PrivateKey.generate("ed25519")
    store = TrustStore.from_keys(
        [TrustedKey(key=key.public_key, label="bench", names=["*"], max_permissions=PermissionSet())]
    )
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cases = [
            ("binary", 0, 10 * MiB),
            ("mixed", 1 * MiB, 9 * MiB),
            ("source_heavy", 3 * MiB, 7 * MiB),
        ]
        for label, source_bytes, binary_bytes in cases:
            path = sign_wheel(_ten_mib(directory, label, source_bytes, binary_bytes), key, issued_at=ISSUED)
            assert verify_wheel(path, store), verify_wheel(path, store).summary()
            raw, verify = [], []
            for _ in range(ROUNDS):
                raw.append(_timed(_raw, path))
                verify.append(_timed(verify_wheel, path, store))
            r, v = statistics.median(raw), statistics.median(verify)
            results.append(
                {
                    "bench": f"verify_wheel 10 MiB ({label})",
                    "file_mib": round(path.stat().st_size / MiB, 2),
                    "raw_sha256_ms": round(r * 1e3, 2),
                    "verify_ms": round(v * 1e3, 2),
                    "ratio": round(r / v, 2),
                    # deflated members must be inflated to be hashed: their target is against the floor (bench_wheel)
                    "target": ">= 0.6" if label == "binary" else "reported (bench_wheel: >= 1.0 of the floor)",
                }
            )
        sources = _sources()
        files = {f"small/m{i}.py": data[:4000] for i, data in enumerate(sources[:8])}
        small = sign_wheel(make_wheel(directory, "small", files), key, issued_at=ISSUED)
        contents = [zipfile.ZipFile(small).read(n) for n in zipfile.ZipFile(small).namelist()]
        raw_members = _raw_members(small)
        names = zipfile.ZipFile(small).namelist()
        envelope = json.loads(next(c for n, c in zip(names, contents, strict=True) if n.endswith(ENVELOPE_FILENAME)))
        message = pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))  # what the signature covers
        signer = Ed25519PrivateKey.generate()
        signature, public = signer.sign(message), signer.public_key()
        verify, hashing, floor, ed25519 = [], [], [], []
        for _ in range(ROUNDS * 5):
            verify.append(_timed(verify_wheel, small, store))
            hashing.append(_timed(lambda: [hashlib.sha256(c).digest() for c in contents]))
            floor.append(_timed(_inflate_and_hash, raw_members))
            ed25519.append(_timed(public.verify, signature, message))
        v, h = statistics.median(verify), statistics.median(hashing)
        f, e = statistics.median(floor), statistics.median(ed25519)
        results.append(
            {
                "bench": "verify_wheel small plugin wheel: overhead beside hashing",
                "members": len(contents),
                "verify_ms": round(v * 1e3, 3),
                "sha256_contents_ms": round(h * 1e3, 3),
                "overhead_ms": round((v - h) * 1e3, 3),
                "target": "<= 0.5 ms",
                "inflate_and_sha256_ms": round(f * 1e3, 3),
                "ed25519_verify_ms": round(e * 1e3, 3),
                "checks_ms": round((v - f - e) * 1e3, 3),
            }
        )
    return results


if __name__ == "__main__":
    for row in run():
        print(row)
