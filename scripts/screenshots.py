"""`make screenshots`: seed a board on a throwaway chain, photograph its pages in Chromium into docs/screenshots/.

Front page, a thread, compose, settings and status, light and dark at 1280x900, and each at 375 px wide
(light); the PNGs are quantised to 32 colours without dithering (Pillow), a few tens of KB each.
Run as ``python -m scripts.screenshots [--out DIR]`` from the project root.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

from tests.support.browser import CHROMIUM_ARGS, running_stack
from tests.support.seed import seed_board

CHROMIUM = os.environ.get("INDELIBLE_CHROMIUM", "/usr/bin/chromium")
COLOURS = 32


def _settle(page: Page) -> None:
    """Wait until the page's check against the chain has finished (or said why not) and fonts are in."""
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")


def _save(page: Page, path: Path) -> None:
    page.screenshot(path=path)
    Image.open(path).convert("RGB").quantize(COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )


def shoot(url: str, thread: int, out: Path) -> None:
    """Photograph the pages of the board served at ``url`` (``thread``: the post whose thread is shown) into ``out``."""
    pages = {
        "front": "/",
        "thread": f"/posts/{thread}",
        "compose": "/compose",
        "settings": "/settings",
        "status": "/status",
    }
    shots = [(1280, 900, "light"), (1280, 900, "dark"), (375, 812, "light")]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for width, height, scheme in shots:
            context = browser.new_context(
                base_url=url, viewport={"width": width, "height": height}, color_scheme=scheme
            )
            context.add_init_script("localStorage.setItem('indelible.welcomed', '1')")
            page = context.new_page()
            for name, path in pages.items():
                page.goto(path)
                _settle(page)
                target = out / f"{name}-{scheme if width > 600 else width}.png"
                _save(page, target)
                print(f"{target}: {target.stat().st_size // 1024} KB")
            context.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--serve", action="store_true", help="seed, print the URL and keep serving (no screenshots)")
    parser.add_argument("--url", help="photograph a board --serve seeded and still serves, at this URL")
    parser.add_argument("--thread", type=int, default=2, help="with --url: the thread to photograph")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the chain and the node on the way out
    args.out.mkdir(parents=True, exist_ok=True)
    if args.url:
        shoot(args.url, args.thread, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp) / "data") as stack:
        board = seed_board(stack)
        if args.serve:
            print(f"{stack.url} thread={board.thread} reply={board.reply} deep={board.deep}", flush=True)
            threading.Event().wait()
        shoot(stack.url, board.thread, args.out)


if __name__ == "__main__":
    main()
