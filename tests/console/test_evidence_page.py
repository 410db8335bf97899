"""The auditor's part of the console in headless Chromium: a recording's integrity (verified, then reported not
intact once a stored file is changed), its access history, and its legal hold placed and released."""

from __future__ import annotations

from pathlib import Path

from pytest_aiohttp import AiohttpClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.builders import KEYS, fake_room, make_client, make_settings
from tests.client import API, ids
from tests.console.test_console import accessible, browse, browser, screens, shot, sign_in, wait
from tests.evidence.test_evidence import FAST, _recorded

__all__ = ["browser", "screens"]  # (the fixtures, shared with the console's other tests)


async def test_an_auditor_verifies_a_recording_sees_who_opened_it_and_holds_it(
    aiohttp_client: AiohttpClient, tmp_path: Path, browser: WebDriver, screens: Path
) -> None:
    client = await make_client(aiohttp_client, make_settings(tmp_path, "http://127.0.0.1:9/janus", **FAST), fake_room)
    base = str(client.make_url("")).rstrip("/")
    event = await _recorded(client, "audit-1")
    verified = await client.json("GET", f"{API}/recordings/{ids(event)}/verify")
    chat = next(o["key"] for o in verified["objects"] if o["kind"] == "CHAT")

    def audit() -> None:
        sign_in(browser, base, KEYS["AUDITOR"])
        browser.execute_script("location.hash = arguments[0]", f"#/recording/{ids(event)}")
        wait(browser, lambda d: d.find_element(By.ID, "verify")).click()
        verdict = wait(browser, lambda d: d.find_element(By.ID, "verdict"))
        assert verdict.text.startswith("Intact · signed seal valid"), verdict.text
        rows = browser.find_elements(By.CSS_SELECTOR, "#integrity tbody tr")
        assert [r.get_attribute("data-status") for r in rows] == ["INTACT"] * 3
        wait(browser, lambda d: "Not under legal hold" in d.find_element(By.ID, "hold-state").text)
        browser.find_element(By.ID, "hold-reason").send_keys("case 2026-17")
        browser.find_element(By.ID, "hold-button").click()
        wait(browser, lambda d: "Under legal hold since" in d.find_element(By.ID, "hold-state").text)
        assert "case 2026-17" in browser.find_element(By.ID, "hold-state").text
        assert browser.find_element(By.ID, "hold-button").text == "Release legal hold"
        accessible(browser)
        shot(browser, screens, "evidence")

    await browse(audit)
    held = await client.json("GET", f"{API}/holds/audit-1")
    assert held["placedBy"] == "AUDITOR" and held["reason"] == "case 2026-17"
    await client.json("DELETE", f"{API}/recordings/audit-1", status=409)
    (tmp_path / "storage" / chat).write_text('{"entries": []}')  # someone rewrites the transcript

    def again() -> None:
        browser.refresh()
        wait(browser, lambda d: d.find_element(By.ID, "verify")).click()
        verdict = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#verdict.bad"))
        assert verdict.text.startswith("Not intact"), verdict.text
        changed = browser.find_element(By.CSS_SELECTOR, "#integrity tr[data-status=CHANGED]")
        assert changed.text.startswith("transcript.json")
        history = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#access-history table")).text
        assert "verified" in history and "hold placed" in history and "AUDITOR" in history, history
        browser.find_element(By.ID, "hold-reason").send_keys("case closed")
        browser.find_element(By.ID, "hold-button").click()
        wait(browser, lambda d: "Not under legal hold" in d.find_element(By.ID, "hold-state").text)
        browser.set_window_size(390, 844)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        shot(browser, screens, "evidence-phone")
        browser.set_window_size(1280, 900)

    await browse(again)
    await client.json("GET", f"{API}/holds/audit-1", status=404)
