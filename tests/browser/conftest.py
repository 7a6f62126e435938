"""Playwright driving Debian's Chromium against the real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.server import running_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def server_database(tmp_path_factory):
    """The SQLite file the browser tests' server uses, so a test can add an instructor to it."""
    return tmp_path_factory.mktemp("server") / "coordlab.sqlite3"


@pytest.fixture(scope="session")
def server_url(server_database):
    # Every browser test opens its labs from 127.0.0.1: more than one address may keep.
    with running_server(COORDLAB_SQLITE_PATH=str(server_database), COORDLAB_MAX_SANDBOXES_PER_ADDRESS="1000") as url:
        yield url


def manage(server_database, *args: str, **env: str) -> None:
    """Run a management command against the browser tests' server database."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "coordlab.settings",
                   "COORDLAB_SQLITE_PATH": str(server_database), **env}
    subprocess.run([sys.executable, "manage.py", *args], env=environment, check=True, capture_output=True,
                   timeout=60, cwd=Path(__file__).resolve().parents[2])


@pytest.fixture(scope="session")
def instructor(server_url, server_database):
    """An instructor account in the server's database: (username, password)."""
    manage(server_database, "create_instructor", "ada", "--password", "lovelace-1815")
    return "ada", "lovelace-1815"


@pytest.fixture(scope="session")
def superuser(server_url, server_database):
    """An admin account in the server's database: (username, password)."""
    manage(server_database, "createsuperuser", "--noinput", "--username", "root", "--email", "root@example.org",
           DJANGO_SUPERUSER_PASSWORD="admin-pass-42")
    return "root", "admin-pass-42"


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    yield page
    context.close()
    assert errors == [], errors
