"""Shared by the report tests: headless Chromium, driven by selenium."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="module")
def chromium():
    """(selenium's webdriver, Chrome options with the headless flags, the chromedriver service), or a skip."""
    browser, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver; .ci/run does)")
    try:
        from selenium import webdriver
    except ImportError:
        pytest.skip("selenium not installed (pip install -e '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    return webdriver, options, webdriver.ChromeService(executable_path=driver)
