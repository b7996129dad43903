"""Make solc <version> available to py-solc-x and brownie, offline.

py-solc-x (and brownie through it) runs any executable named
``solc-v<version>`` in ``SOLCX_BINARY_PATH``. When a native solc of exactly
that version is on PATH, it is linked there; otherwise (always on machines
without access to the Solidity binaries host) a small wrapper runs the npm
package ``solc`` (solc-js) through ``scripts/solc_bridge.js``.

Usage: python scripts/setup_solc.py 0.8.28
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def native_solc(version: str) -> str | None:
    """Path of a native ``solc`` on PATH that reports ``version``, if any."""
    exe = shutil.which("solc")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"Version: (\d+\.\d+\.\d+)", out)
    return exe if match and match.group(1) == version else None


def main(version: str) -> None:
    """Write ``$SOLCX_BINARY_PATH/solc-v<version>`` and check that it answers."""
    target_dir = Path(os.environ.get("SOLCX_BINARY_PATH", ROOT / ".solcx"))
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"solc-v{version}"
    target.unlink(missing_ok=True)
    native = native_solc(version)
    if native:
        target.symlink_to(native)
        kind = f"native solc at {native}"
    else:
        bridge = ROOT / "scripts" / "solc_bridge.js"
        target.write_text(f'#!/bin/sh\nexec node "{bridge}" "$@"\n')
        target.chmod(0o755)
        kind = "solc-js from node_modules"
    out = subprocess.run([str(target), "--version"], capture_output=True, text=True, check=True).stdout
    if f"Version: {version}" not in out:
        sys.exit(f"{target} reports {out!r}, not {version}: is node_modules/solc pinned to {version}?")
    print(f"solc {version} for py-solc-x: {kind} ({target})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "0.8.28")
