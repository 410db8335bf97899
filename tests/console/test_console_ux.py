"""The console off its happy path, in headless Chromium, as the issue that asked for it found it: no recording
nobody can stop (a camera denied, a page left, a tab closed), reasons shown wherever the API has one, a status
line that clears, signed-out pages that look signed out, a synced player with seek, time and keyboard that
keeps sound and picture within a frame, live figures that move, forms for storage and webhooks, and no serious
accessibility violation (axe-core) on any page at desktop and phone width. Screenshots of every page at both
widths go to $RECORDER_SCREENSHOTS."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.builders import KEYS, NO_ROOM, Client, fake_room, make_client, make_settings
from tests.client import API, COMPOSITION_API, ids
from tests.console.test_console import accessible, browse, browser, chromium, screens, shot, sign_in, wait, whip_publish
from tests.eventually import eventually

__all__ = ["browser", "screens"]  # (the fixtures, shared with the console's other tests)
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
PHONE, DESKTOP = (390, 844), (1280, 900)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path) -> Client:
    """The service with WHIP publishers and the fake conference (no Janus: these are the console's tests)."""
    return await make_client(aiohttp_client, make_settings(tmp_path, "http://127.0.0.1:9/janus"), fake_room)


def _base(client: Client) -> str:
    return str(client.make_url("")).rstrip("/")


def go(driver: WebDriver, hash_: str, ready: str) -> Any:
    driver.execute_script("location.hash = arguments[0]", hash_)
    return wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, ready))


def status(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "status").text)


def file_states(driver: WebDriver) -> list[str]:
    """The state of each file on a recording's page (read at once: the page renders again as they change)."""
    states: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#files .file-state')].map((e) => e.textContent)"
    )
    return states


def seek_value(driver: WebDriver) -> float:
    return float(driver.find_element(By.ID, "seek").get_attribute("value") or -1)


def text_of(driver: WebDriver, element_id: str) -> str:
    found: str = driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.textContent : ''", element_id
    )
    return found


def no_serious_violations(driver: WebDriver, page: str) -> None:
    """axe-core (npm, run inside the page): no serious or critical violation."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: scripts/test.sh installs axe-core into .tools")
    driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations.map((v) =>"
        " ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html).slice(0, 3)}))), (e) => done(String(e)));"
    )
    assert isinstance(result, list), result
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{page}: {json.dumps(serious, indent=1)}"


async def _recordings(client: Client, prefix: str) -> list[dict[str, Any]]:
    found = await client.json("GET", f"{API}/recordings", params={"applicationId": "app1", "conversationId": prefix})
    return list(found["recordings"])


@pytest.fixture
def asking_browser() -> Iterator[WebDriver]:
    """Chromium whose site settings decide the camera and microphone (no fake prompt that says yes)."""
    driver = chromium()
    yield driver
    driver.quit()


async def test_no_recording_is_left_that_nobody_can_stop(
    client: Client, browser: WebDriver, asking_browser: WebDriver, screens: Path
) -> None:
    base = _base(client)

    def denied() -> None:
        sign_in(asking_browser, base, KEYS["all"])
        for name in ("camera", "microphone"):  # the site's camera and microphone refused in Chromium's settings
            asking_browser.execute_cdp_cmd(
                "Browser.setPermission", {"origin": base, "permission": {"name": name}, "setting": "denied"}
            )
        go(asking_browser, "#/test-call", "#start-call").click()
        wait(asking_browser, lambda d: "refused" in status(d))
        assert asking_browser.find_element(By.ID, "start-call").is_enabled(), "one may try again"
        shot(asking_browser, screens, "test-call-denied")

    await browse(denied)
    assert await _recordings(client, "test-call") == [], "a refused camera makes no recording"

    def left_mid_call() -> None:
        sign_in(browser, base, KEYS["all"])
        go(browser, "#/test-call", "#start-call").click()
        wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#written li.track")) == 2)
        assert "leaving this page stops it" in status(browser)
        go(browser, "#/conversations", "#search")
        assert status(browser) == "", "the status line of the page left is gone"

    await browse(left_mid_call)
    [left] = await _recordings(client, "test-call")
    await eventually(
        lambda: client.json("GET", f"{API}/recordings/{ids(left)}"),
        lambda r: r["state"] == "STOPPED",
        what="the recording of the page left stopped",
    )

    def tab_closed() -> None:
        first = browser.current_window_handle
        browser.switch_to.new_window("tab")  # (a tab of its own: its own session storage, signed in again)
        sign_in(browser, base, KEYS["all"])
        go(browser, "#/test-call", "#start-call").click()
        wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#written li.track")) == 2)
        browser.close()  # the tab goes away mid-call
        browser.switch_to.window(first)

    await browse(tab_closed)
    live = [r for r in await _recordings(client, "test-call") if r["recorderId"] != left["recorderId"]]
    assert len(live) == 1
    await eventually(
        lambda: client.json("GET", f"{API}/recordings/{ids(live[0])}"),
        lambda r: r["state"] == "STOPPED",
        what="the recording of the closed tab stopped",
    )


async def test_a_live_recording_is_paused_resumed_and_stopped_from_its_page_with_figures_that_move(
    client: Client, browser: WebDriver, screens: Path
) -> None:
    base = _base(client)
    publishing = asyncio.create_task(whip_publish(client, "ux-live", 12))
    event = await eventually(lambda: _recordings(client, "ux-live"), lambda found: found, what="a live recording")
    await client.wait_tracks(event[0], "bob", 2)
    path = f"#/recording/{ids(event[0])}"

    def watch() -> None:
        sign_in(browser, base, KEYS["all"])
        go(browser, path, "#stop-recording")
        first = wait(browser, file_states)
        headings = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#files thead th")]
        assert headings == ["Track", "Codec", "State", "File"], headings
        assert all(text.startswith("being written: ") for text in first), first
        wait(browser, lambda d: file_states(d) != first, 10)
        shot(browser, screens, "recording-live")
        browser.find_element(By.ID, "pause-recording").click()
        wait(browser, lambda d: text_of(d, "state") == "ACTIVE (paused)")
        assert status(browser) == "Recording paused"
        browser.find_element(By.ID, "resume-recording").click()
        wait(browser, lambda d: text_of(d, "state") == "ACTIVE")
        browser.find_element(By.ID, "stop-recording").click()
        wait(browser, lambda d: text_of(d, "state") == "STOPPED")
        wait(browser, lambda d: all(state.startswith("stored") for state in file_states(d)), 30)
        assert not browser.find_elements(By.ID, "stop-recording")

    await browse(watch)
    publishing.cancel()
    info = await client.json("GET", f"{API}/recordings/{ids(event[0])}")
    assert info["state"] == "STOPPED" and len(info["pauses"]) == 1


async def test_failures_say_why_and_nothing_is_offered_that_cannot_work(
    client: Client, browser: WebDriver, screens: Path
) -> None:
    base = _base(client)
    failed = await client.json(
        "POST",
        f"{API}/recordings/start",
        json={"applicationId": "app1", "conferenceId": NO_ROOM, "conversationId": "ux-failed"},
    )
    assert failed["state"] == "FAILED"
    info = await client.json("GET", f"{API}/recordings/{ids(failed)}")
    composition = await client.json(
        "POST", f"{COMPOSITION_API}/request", json={"conversationId": "ux-failed", "type": "audio"}
    )
    reason = await eventually(
        lambda: client.json("GET", f"{COMPOSITION_API}/query/conversation/ux-failed"),
        lambda q: q["compositions"][0]["state"] == "FAILED",
        what="the composition failed",
    )

    def look() -> None:
        sign_in(browser, base, KEYS["all"])
        go(browser, f"#/recording/{ids(failed)}", "#reason")
        assert browser.find_element(By.ID, "reason").text == f"Failed: {info['error']['message']}"
        summary = browser.find_element(By.ID, "summary").text
        assert not re.search("\u00b7\\s*(\u2013|\u00b7|$)|\u2013\\s*(\u00b7|$)", summary), summary  # nothing dangles
        assert browser.find_element(By.ID, "files").text.startswith("Nothing was recorded")
        shot(browser, screens, "recording-failed")
        go(browser, "#/compositions/ux-failed", "article[data-state=FAILED]")
        card = browser.find_element(By.CSS_SELECTOR, "article[data-state=FAILED]").text
        assert reason["compositions"][0]["error"]["message"] in card and "0%" not in card, card
        button = browser.find_element(By.CSS_SELECTOR, "#compose button")
        assert not button.is_enabled() and "Nothing was recorded" in browser.find_element(By.ID, "compose-note").text
        enabled_look = browser.execute_script(
            "return getComputedStyle(document.querySelector('#sign-out')).backgroundColor"
        )
        disabled_look = browser.execute_script("return getComputedStyle(arguments[0]).backgroundColor", button)
        assert disabled_look not in ("rgb(11, 98, 214)", enabled_look), "a disabled button looks disabled"
        shot(browser, screens, "compositions-failed")
        go(browser, "#/recording/none/none/none", "#refusal")  # a recording that is not there: a 404, said
        assert "404" in status(browser)
        go(browser, "#/conversations", "#search")
        assert status(browser) == "", "an error of a page stays with that page"

    await browse(look)
    assert composition["id"]


async def test_signed_out_pages_look_signed_out(client: Client, browser: WebDriver) -> None:
    base = _base(client)

    def out() -> None:
        sign_in(browser, base, KEYS["all"])
        go(browser, "#/recording/none/none/none", "#refusal")
        browser.find_element(By.ID, "sign-out").click()
        wait(browser, lambda d: d.find_element(By.ID, "sign-in"))
        assert not browser.find_element(By.ID, "nav").is_displayed()
        assert not browser.find_element(By.ID, "sign-out").is_displayed()
        assert browser.find_element(By.ID, "who").get_attribute("textContent") == ""
        assert status(browser) == "Signed out"

    await browse(out)


async def test_the_synced_player_seeks_tells_time_answers_keys_and_keeps_lip_sync(
    client: Client, browser: WebDriver, screens: Path
) -> None:
    base = _base(client)
    publishing = asyncio.create_task(whip_publish(client, "ux-play", 8))
    [event] = await eventually(lambda: _recordings(client, "ux-play"), lambda found: found, what="a live recording")
    start = datetime.now(UTC)
    lines = [{"timeStamp": start.isoformat(), "transcript": f"line {n}", "userId": "bob"} for n in range(1)]
    await publishing
    body = {**{k: event[k] for k in ("conversationId", "recorderId", "instanceId")}, "chatTranscriptList": lines}
    await client.json("POST", f"{API}/recordings/chat/transcript/add", json=body)
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    info = await client.wait_for(
        f"{API}/recordings/{ids(event)}",
        lambda r: all(t["storage"].get("objectStorage", {}).get("uploaded") for s in r["streams"] for t in s["tracks"]),
    )
    tracks = {t["type"]: t for s in info["streams"] for t in s["tracks"]}
    starts = {k: datetime.fromisoformat(t["mediaStart"].replace("Z", "+00:00")).timestamp() for k, t in tracks.items()}
    placed = starts["VIDEO"] - starts["AUDIO"]  # where the manifest puts the video against the sound

    def play() -> list[float]:
        sign_in(browser, base, KEYS["all"])
        go(browser, f"#/recording/{ids(event)}", "#play")
        length = float(browser.find_element(By.ID, "seek").get_attribute("max") or 0)
        assert 7 < length < 10, length
        assert browser.find_element(By.ID, "clock").text == f"0:00 / 0:0{int(length)}"
        browser.find_element(By.ID, "play").click()
        wait(browser, lambda d: d.execute_script("return document.querySelector('.players video').currentTime") > 1)
        offsets = []
        for _ in range(30):  # while playing: where the picture is against the sound, on the manifest's timeline
            video, audio = browser.execute_script(
                "const v = document.querySelector('.players video'), a = document.querySelector('.players audio');"
                "return [v.currentTime, a.currentTime]"
            )
            offsets.append((video + placed) - audio)
            time.sleep(0.1)
        shot(browser, screens, "player")
        playback = browser.find_element(By.ID, "playback")
        playback.send_keys(Keys.SPACE)  # pause
        wait(browser, lambda d: d.find_element(By.ID, "play").text == "Play")
        playback.send_keys(Keys.HOME)
        wait(browser, lambda d: d.find_element(By.ID, "clock").text.startswith("0:00 /"))
        playback.send_keys(Keys.ARROW_RIGHT)
        wait(browser, lambda d: d.find_element(By.ID, "clock").text.startswith("0:05 /"))
        timeline = browser.find_element(By.ID, "timeline")
        browser.execute_script(
            "const t = arguments[0], box = t.getBoundingClientRect();"
            "t.dispatchEvent(new MouseEvent('click', {clientX: box.left + box.width * 0.25, bubbles: true}))",
            timeline,
        )
        wait(browser, lambda d: abs(seek_value(d) - length / 4) < 0.2)
        playback.send_keys(Keys.END)
        wait(
            browser,
            lambda d: (
                d.find_element(By.ID, "clock").text.split(" / ")[0]
                == d.find_element(By.ID, "clock").text.split(" / ")[1]
            ),
        )
        browser.find_element(By.ID, "seek").send_keys(Keys.HOME)
        browser.execute_script(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
            browser.find_element(By.ID, "seek"),
            length - 1,
        )
        browser.find_element(By.ID, "play").click()
        wait(browser, lambda d: d.find_element(By.ID, "play").text == "Play", 10)  # played to the end: Play again
        assert browser.find_element(By.CSS_SELECTOR, "#transcript li.now").text.endswith("line 0")
        return offsets

    offsets = await browse(play)
    settled = sorted(abs(o) for o in offsets[5:])
    p90 = settled[int(len(settled) * 0.9)]
    print(
        f"player: picture against sound {min(offsets) * 1000:.0f}..{max(offsets) * 1000:.0f} ms, p90 {p90 * 1000:.0f}"
    )
    assert settled[-1] <= 0.040, offsets


async def test_storage_and_webhooks_are_forms_with_write_only_secrets(
    client: Client, browser: WebDriver, screens: Path, tmp_path: Path
) -> None:
    base = _base(client)

    def administer() -> str:
        sign_in(browser, base, KEYS["ADMIN"])
        go(browser, "#/admin/storage", "form.profile")
        assert "Set in the service's configuration" in browser.find_element(By.TAG_NAME, "main").text
        browser.find_element(By.XPATH, "//button[text()='Verify']").click()  # the folder of the configuration
        checks = wait(browser, lambda d: d.find_element(By.ID, "verdict-app1")).find_element(By.XPATH, "..").text
        assert "The recorder can store files here." in checks and str(tmp_path) not in checks, checks
        assert "TestResult" not in checks and "passed" not in checks, "in words, not the API's field names"
        assert not browser.find_element(By.CSS_SELECTOR, "form.profile button[type=submit]").is_enabled()
        Select(browser.find_element(By.ID, "app1-provider")).select_by_value("AMAZON_S3")
        for field, value in (("bucket", "calls"), ("endpointUrl", "http://127.0.0.1:9"), ("accessKeyId", "AKIA1"),
                             ("secretAccessKey", "s3cr3t-value")):  # fmt: skip
            browser.find_element(By.ID, f"app1-AMAZON_S3-{field}").send_keys(value)
        template = browser.find_element(By.ID, "app1-any-keyTemplate")
        template.clear()
        template.send_keys("calls/{conversationId}/{recorderId}/{trackId}.{ext}")
        browser.find_element(By.CSS_SELECTOR, "form.profile button[type=submit]").click()
        wait(browser, lambda d: status(d) == "Saved the storage of app1")
        secret = browser.find_element(By.ID, "app1-AMAZON_S3-secretAccessKey")
        assert secret.get_attribute("value") == "" and secret.get_attribute("placeholder") == "unchanged (write-only)"
        assert "s3cr3t-value" not in browser.page_source
        browser.find_element(By.XPATH, "//button[text()='Verify']").click()  # nothing answers there
        checks = wait(browser, lambda d: d.find_element(By.ID, "verdict-app1"), 60).find_element(By.XPATH, "..").text
        assert "The recorder cannot store files here yet." in checks, checks
        shot(browser, screens, "storage-form")
        go(browser, "#/admin/webhooks", "#app1-subscribe")
        assert "No subscriptions yet" in browser.find_element(By.TAG_NAME, "main").text
        browser.find_element(By.ID, "app1-hook-url").send_keys("http://127.0.0.1:9/hook")
        browser.find_element(By.CSS_SELECTOR, "input[value='recording.stopped']").click()
        browser.find_element(By.CSS_SELECTOR, "#app1-subscribe button[type=submit]").click()
        shown = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#app1-hook-secret code")).text
        assert (
            shown.startswith("whsec_") and "http://127.0.0.1:9/hook" in browser.find_element(By.TAG_NAME, "main").text
        )
        shot(browser, screens, "webhooks-form")
        browser.refresh()
        wait(browser, lambda d: d.find_element(By.ID, "app1-subscribe"))
        assert "whsec_" not in browser.find_element(By.TAG_NAME, "main").text, "shown once"
        return str(shown)

    secret = await browse(administer)
    profile = await client.json("GET", f"{API}/storageproviders/app1")
    assert profile["keyTemplate"] == "calls/{conversationId}/{recorderId}/{trackId}.{ext}"
    assert profile["source"] == "API" and profile["provider"] == "AMAZON_S3" and profile["hasCredentials"]
    [subscription] = (await client.json("GET", f"{API}/webhooks/app1"))["subscriptions"]
    assert subscription["events"] == ["recording.stopped"] and secret not in json.dumps(subscription)


async def test_every_page_is_accessible_and_fits_a_phone(client: Client, browser: WebDriver, screens: Path) -> None:
    base = _base(client)
    event = await client.start(1, "ux-pages")
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    pages = {
        "conversations": ("#/conversations", "table"),
        "recording": (f"#/recording/{ids(event)}", "#files"),
        "compositions": ("#/compositions/ux-pages", "#no-compositions"),  # (an empty list says so)
        "storage": ("#/admin/storage", "form.profile"),
        "webhooks": ("#/admin/webhooks", "form.profile"),
        "test-call": ("#/test-call", "#start-call"),
    }

    def walk() -> None:
        for width, height in (DESKTOP, PHONE):
            browser.set_window_size(width, height)
            browser.get(base + "/console/")
            browser.execute_script("sessionStorage.clear(); location.hash = '#/'")
            browser.refresh()
            wait(browser, lambda d: d.find_element(By.ID, "sign-in"))
            no_serious_violations(browser, f"sign-in at {width}")
            shot(browser, screens, f"sign-in-{width}")
            sign_in(browser, base, KEYS["all"])
            for name, (hash_, ready) in pages.items():
                go(browser, hash_, ready)
                time.sleep(0.2)
                accessible(browser)
                no_serious_violations(browser, f"{name} at {width}")
                fits = browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
                assert fits, f"{name} is wider than the screen at {width} px"
                if width == PHONE[0]:
                    header = browser.execute_script(
                        "return document.querySelector('header').getBoundingClientRect().height"
                    )
                    assert header <= 0.12 * PHONE[1], f"the header takes {header} px of {PHONE[1]}"
                    for th in browser.find_elements(By.TAG_NAME, "th"):  # headings break between words only
                        style = browser.execute_script(
                            "const s = getComputedStyle(arguments[0]); return [s.overflowWrap, s.wordBreak]", th
                        )
                        assert style == ["normal", "normal"], (name, th.text, style)
                shot(browser, screens, f"{name}-{width}")
        browser.set_window_size(*DESKTOP)

    await browse(walk)
