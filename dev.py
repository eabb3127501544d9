"""The two commands of the quick start, needing only Python 3.11 and pip:

    python3 dev.py run     install what is needed and run the whole service on the embedded default
    python3 dev.py test    install the test tools and run the whole test suite (PostgreSQL and Redis included)

Both install into .venv from the lock files (hash-checked), once per change of the lock file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"


def ensure_installed(lock_file: str) -> None:
    lock = ROOT / lock_file
    stamp = VENV / f".installed-{lock_file}"
    digest = hashlib.sha256(lock.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    print(f"installing from {lock_file}", flush=True)
    subprocess.run([*pip, "--require-hashes", "-r", str(lock)], check=True)
    subprocess.run([*pip, "--no-deps", "--no-build-isolation", "-e", str(ROOT)], check=True)
    stamp.write_text(digest)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"shuxiang needs Python 3.11 (this is {sys.version.split()[0]})")
    if command == "run":
        ensure_installed("requirements.lock")
        os.execv(BIN / "shuxiang", [str(BIN / "shuxiang"), "run"])
    elif command == "test":
        ensure_installed("requirements-test.lock")
        os.chdir(ROOT)
        os.execv(BIN / "python", [str(BIN / "python"), "-m", "pytest", *sys.argv[2:]])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
