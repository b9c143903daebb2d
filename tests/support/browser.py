"""Headless Chromium driven by selenium, with Debian's chromium and chromium-driver, for tests
that check what a real browser does with a page (seeking an audio element, say)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# No background networking: this machine's network is closed, and a test must not wait on it.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1200,800", "--hide-scrollbars")


def missing_browser() -> str | None:
    """Why a browser test cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the project's test extra)"
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "chromium is not installed (Debian package chromium)"
    if not shutil.which("chromedriver"):
        return "chromedriver is not installed (Debian package chromium-driver)"
    return None


@contextmanager
def headless_chromium(profile: Path, *flags: str) -> Iterator:
    """A fresh browser on its own profile folder; quit (and its processes gone) afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    # Given both paths, selenium never runs Selenium Manager (which would go to the network).
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in (*FLAGS, f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()
