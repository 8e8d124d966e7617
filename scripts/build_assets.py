"""Copy the front-end assets installed by npm into the package's static folder.

Run by the set-up script after ``npm ci``. The copies are not committed (see .gitignore): the
NHS.UK frontend and Vega are served from the app itself, never from a CDN.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "node_modules"
VENDOR = ROOT / "src" / "integrated_care" / "web" / "static" / "vendor"

FILES = {
    "nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.js": "nhsuk/nhsuk-frontend.min.js",
}
FOLDERS = {"nhsuk-frontend/dist/nhsuk/assets": "nhsuk/assets"}


def _compile_nhsuk_css(target: Path) -> None:
    """Compile the NHS.UK frontend's Sass without the remote font (see assets/nhsuk.scss)."""
    source = ROOT / "assets" / "nhsuk.scss"
    lock = ROOT / "package-lock.json"
    if target.exists() and target.stat().st_mtime > max(
        source.stat().st_mtime, lock.stat().st_mtime
    ):
        return  # already built from these inputs
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(MODULES / ".bin" / "sass"),
            f"--load-path={MODULES}",
            "--style=compressed",
            "--no-source-map",
            "--quiet",
            str(source),
            str(target),
        ],
        check=True,
    )


def main() -> int:
    if not MODULES.exists():
        print("node_modules is missing: run `npm ci` first", file=sys.stderr)
        return 1
    for src, dest in FILES.items():
        target = VENDOR / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MODULES / src, target)
    for src, dest in FOLDERS.items():
        shutil.copytree(MODULES / src, VENDOR / dest, dirs_exist_ok=True)
    _compile_nhsuk_css(VENDOR / "nhsuk" / "nhsuk-frontend.min.css")
    # Vega, Vega-Lite, vega-embed and the CSP-safe expression interpreter in one script.
    subprocess.run(
        [
            str(MODULES / ".bin" / "esbuild"),
            str(ROOT / "assets" / "charts.mjs"),
            "--bundle",
            "--minify",
            "--format=iife",
            "--log-level=warning",
            f"--outfile={VENDOR / 'charts.js'}",
        ],
        check=True,
    )
    print(f"front-end assets copied to {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
