"""Benchmark: full ``verify_wheel`` (zip checks, metadata, RECORD, envelope, signature, policy) on signed wheels.

Anchor, measured side by side in each round: ``hashlib.sha256`` over the same wheel file. Reported:

* throughput ratio ``raw / verify`` for 10 MiB signed wheels of three kinds of content (target ≥ 0.6x for the
  incompressible one; deflated members must be inflated to be hashed, so their target is ≥ 1.0x of the inflate +
  SHA-256 floor, which ``bench_wheel`` measures);
* per-wheel overhead beside hashing for a small plugin wheel: ``verify_wheel`` minus SHA-256 of the member contents
  (target ≤ 0.5 ms, issue 12): inflating, zip checks, parsing, RECORD, the envelope, the statement and the Ed25519
  signature check.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import random
import statistics
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

from securehost import PermissionSet, PrivateKey, TrustedKey, TrustStore
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
        verify, hashing = [], []
        for _ in range(ROUNDS * 5):
            verify.append(_timed(verify_wheel, small, store))
            hashing.append(_timed(lambda: [hashlib.sha256(c).digest() for c in contents]))
        v, h = statistics.median(verify), statistics.median(hashing)
        results.append(
            {
                "bench": "verify_wheel small plugin wheel: overhead beside hashing",
                "members": len(contents),
                "verify_ms": round(v * 1e3, 3),
                "sha256_contents_ms": round(h * 1e3, 3),
                "overhead_ms": round((v - h) * 1e3, 3),
                "target": "<= 0.5 ms",
            }
        )
    return results


if __name__ == "__main__":
    for row in run():
        print(row)
