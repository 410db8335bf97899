"""The console in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`, driven by
Selenium) against the service, with a conversation recorded from a Janus room and a WHIP publisher.

The service runs in this process: every browser step runs in a thread (`browse`), so the event loop keeps
serving the pages and the API. Screenshots of the main pages go to $RECORDER_SCREENSHOTS (else the test's
temporary folder); their paths are printed."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import av
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from pytest_aiohttp import AiohttpClient
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.builders import CLIENT_ID, CLIENT_SECRET, KEYS, Client, make_client, make_settings
from tests.client import API, ids
from tests.janus_host import JanusHost
from tests.publisher import PatternTrack, Publisher, ToneTrack, display

T = TypeVar("T")
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def chromium(*extra: str) -> WebDriver:
    """Headless Chromium with a fake camera and microphone (and `extra` switches); fails with the reason when it
    cannot start."""
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        raise RuntimeError("chromium and chromium-driver are missing: scripts/test.sh installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
        *extra,
    ):
        options.add_argument(argument)
    try:
        return webdriver.Chrome(service=Service(DRIVER), options=options)
    except WebDriverException as exc:
        raise RuntimeError(f"headless Chromium did not start: {exc.msg}") from None


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Chromium that grants the camera and microphone to every page (as if its user always said yes)."""
    driver = chromium("--use-fake-ui-for-media-stream")
    yield driver
    driver.quit()


@pytest.fixture
def screens(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RECORDER_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def browse(step: Callable[[], T]) -> T:
    return await asyncio.to_thread(step)


def wait(driver: WebDriver, done: Callable[[WebDriver], Any], seconds: float = 30) -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(done)


def sign_in(driver: WebDriver, base: str, secret: str, client_id: str | None = None) -> None:
    driver.get(base + "/console/")
    driver.execute_script("sessionStorage.clear(); location.hash = '#/'")
    driver.refresh()
    wait(driver, lambda d: d.find_element(By.ID, "sign-in"))
    if client_id is None:
        Select(driver.find_element(By.ID, "mode")).select_by_value("key")
    else:
        driver.find_element(By.ID, "client-id").send_keys(client_id)
    driver.find_element(By.ID, "secret").send_keys(secret)
    driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
    wait(driver, lambda d: d.find_element(By.ID, "nav").is_displayed())


def shot(driver: WebDriver, screens: Path, name: str) -> None:
    path = screens / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


UNLABELED = """return [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()
               && !e.placeholder).map(e => e.outerHTML)"""


def accessible(driver: WebDriver) -> None:
    """Every control of the page has a name a screen reader says (a label, aria-label or its text)."""
    assert driver.execute_script(UNLABELED) == []


def timed(driver: WebDriver, hash_: str, ready: str) -> float:
    """Milliseconds from navigating to `hash_` until `ready` (a CSS selector) is on the page."""
    started = time.monotonic()
    driver.execute_script("location.hash = arguments[0]", hash_)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ready))
    return (time.monotonic() - started) * 1000


async def whip_publish(client: Client, conversation: str, seconds: float) -> None:
    """A WHIP publisher (aiortc) in the conversation's live recording for `seconds`."""
    made = await client.json(
        "POST", f"{API}/ingests", 201, json={"applicationId": "app1", "conversationId": conversation, "userId": "bob"}
    )
    pc = RTCPeerConnection()
    pc.addTrack(ToneTrack())
    pc.addTrack(PatternTrack())
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Authorization": f"Bearer {made['token']}", "Content-Type": "application/sdp"}
    async with client.request("POST", f"/whip/{made['ingestId']}", data=pc.localDescription.sdp, headers=headers) as r:
        assert r.status == 201, await r.text()
        location = r.headers["Location"]
        await pc.setRemoteDescription(RTCSessionDescription(await r.text(), "answer"))
    await asyncio.sleep(seconds)
    async with client.request("DELETE", location, headers={"Authorization": headers["Authorization"]}) as r:
        assert r.status == 200
    await pc.close()


async def test_an_auditor_finds_plays_reads_and_composes_and_an_admin_verifies(
    aiohttp_client: AiohttpClient,
    tmp_path: Path,
    janus: JanusHost,
    http: aiohttp.ClientSession,
    room: int,
    browser: WebDriver,
    screens: Path,
) -> None:
    client = await make_client(aiohttp_client, make_settings(tmp_path, janus.url))
    base = str(client.make_url("")).rstrip("/")
    conversation = f"console-{room}"
    alice = Publisher(http, janus.url, room, display("alice"))
    await alice.join()
    await alice.publish()
    event = await client.start(room, conversation)
    try:
        await client.wait_tracks(event, "alice", 2)
        lines = [
            {"timeStamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "transcript": "hello", "userId": "alice"}
        ]
        body = {**{k: event[k] for k in ("conversationId", "recorderId", "instanceId")}, "chatTranscriptList": lines}
        await client.json("POST", f"{API}/recordings/chat/transcript/add", json=body)
        event_ids = {k: event[k] for k in ("conversationId", "recorderId", "instanceId")}
        cobrowse = {
            "payload": '{"click": "#buy"}',
            "sequenceId": 1,
            "sessionId": "cb-1",
            "timestamp": int(time.time() * 1000),
        }
        await client.json("POST", f"{API}/recordings/cobrowse/event", json={**event_ids, "event": cobrowse})
        await whip_publish(client, conversation, 4)  # a WHIP publisher in the same recording
    finally:
        await alice.leave()
    await client.stop(event)
    await client.wait_for(
        f"{API}/recordings/{ids(event)}",
        lambda r: all(t["storage"].get("objectStorage", {}).get("uploaded") for s in r["streams"] for t in s["tracks"]),
    )
    figures: dict[str, float] = {}

    def auditor() -> None:
        sign_in(browser, base, CLIENT_SECRET, CLIENT_ID)  # AGENT and SUPERVISOR
        figures["conversations"] = timed(browser, "#/conversations", "table tbody tr")
        search = browser.find_element(By.ID, "f-q")
        search.send_keys(conversation)
        browser.find_element(By.CSS_SELECTOR, "#search button").click()
        wait(browser, lambda d: d.find_element(By.LINK_TEXT, conversation))
        shot(browser, screens, "conversations")
        browser.find_element(By.LINK_TEXT, conversation).click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#transcript li"))
        assert "hello" in browser.find_element(By.ID, "transcript").text
        players = browser.find_elements(By.CSS_SELECTOR, ".players video, .players audio")
        assert len(players) == 4, "alice's and bob's audio and video"
        assert len(browser.find_elements(By.CSS_SELECTOR, ".timeline .segment")) == 4
        browser.find_element(By.ID, "play").click()
        wait(browser, lambda d: d.execute_script("return document.querySelector('.players video').currentTime") > 1)
        browser.find_element(By.CSS_SELECTOR, "#cobrowse summary").click()
        wait(browser, lambda d: d.find_element(By.XPATH, "//button[text()='Events and download']")).click()
        wait(browser, lambda d: "#buy" in d.find_element(By.ID, "cobrowse").text)
        assert "null" not in browser.find_element(By.TAG_NAME, "main").text.split()
        shot(browser, screens, "recording")
        browser.find_element(By.LINK_TEXT, "Compositions of this conversation").click()
        wait(browser, lambda d: d.find_element(By.ID, "compose"))
        browser.find_element(By.CSS_SELECTOR, "#compose button").click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "article[data-state=COMPLETED]"), 120)
        play = browser.find_element(By.CSS_SELECTOR, "article[data-state=COMPLETED] button")
        play.click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "article video"))
        assert not play.is_enabled() and len(browser.find_elements(By.CSS_SELECTOR, "article video")) == 1
        shot(browser, screens, "compositions")
        figures["recording"] = timed(browser, f"#/recording/{ids(event)}", "#play")
        accessible(browser)
        browser.set_window_size(390, 844)  # a phone's width: nothing wider than the screen
        timed(browser, f"#/conversations?q={conversation}", "table tbody tr")
        accessible(browser)
        shot(browser, screens, "conversations-phone")
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        browser.set_window_size(1280, 900)

    await browse(auditor)

    def administrator() -> None:
        sign_in(browser, base, KEYS["ADMIN"])
        figures["storage"] = timed(browser, "#/admin/storage", "form.profile")
        accessible(browser)
        browser.find_element(By.XPATH, "//button[text()='Verify']").click()
        wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".checks li.ok")) >= 4, 60)
        shot(browser, screens, "storage")
        figures["webhooks"] = timed(browser, "#/admin/webhooks", "section.card")

    await browse(administrator)

    def agent_only() -> None:
        sign_in(browser, base, KEYS["AGENT"])
        links = {
            a.get_attribute("textContent"): a.is_displayed() for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")
        }
        assert not links["Storage"] and not links["Webhooks"] and links["Record a test call"], links
        browser.execute_script("location.hash = '#/admin/storage'")
        wait(browser, lambda d: "403" in d.find_element(By.TAG_NAME, "main").text)
        shot(browser, screens, "agent-refused")

    await browse(agent_only)
    print("console page loads (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))


async def test_a_newcomer_records_a_test_call_from_the_browser(
    aiohttp_client: AiohttpClient, tmp_path: Path, browser: WebDriver, screens: Path, http: aiohttp.ClientSession
) -> None:
    client = await make_client(aiohttp_client, make_settings(tmp_path, "http://127.0.0.1:9/janus"))
    base = str(client.make_url("")).rstrip("/")

    def record() -> str:
        sign_in(browser, base, KEYS["all"])
        browser.execute_script("location.hash = '#/test-call'")
        wait(browser, lambda d: d.find_element(By.ID, "start-call")).click()
        wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#written li.track")) == 2)
        time.sleep(5)
        shot(browser, screens, "test-call")
        browser.find_element(By.ID, "stop-call").click()
        states = "return [...document.querySelectorAll('#written li.track')].map((e) => e.dataset.state)"
        wait(browser, lambda d: d.execute_script(states) == ["stored", "stored"])  # (the list goes on after the stop)
        link = browser.find_element(By.ID, "play-it-back")
        sent.update(
            {
                kind: int(browser.find_element(By.ID, "sent").get_attribute(f"data-{kind}") or -1)
                for kind in ("video-frames", "audio-packets")
            }
        )
        href = link.get_attribute("href") or ""
        return href.split("#/recording/")[1]

    sent: dict[str, int] = {}
    path = await browse(record)
    info = await client.wait_for(
        f"{API}/recordings/{path}",
        lambda r: all(t["storage"].get("objectStorage", {}).get("uploaded") for s in r["streams"] for t in s["tracks"]),
    )
    tracks = [t for s in info["streams"] for t in s["tracks"]]
    assert sorted(t["type"] for t in tracks) == ["AUDIO", "VIDEO"], tracks
    written: dict[str, int] = {}
    for t in tracks:
        async with http.get(t["url"]) as answer:  # the signed link, without Authorization
            data = await answer.read()
        file = tmp_path / f"{t['id']}.{t['codec']}"
        file.write_bytes(data)
        with av.open(str(file)) as container:
            decoded = sum(1 for _ in container.decode(container.streams[0]))
        with av.open(str(file)) as container:
            written[t["type"]] = sum(1 for p in container.demux(container.streams[0]) if p.size)
        assert decoded > 20, (t["type"], decoded)
    video, audio = f"{written['VIDEO']}/{sent['video-frames']}", f"{written['AUDIO']}/{sent['audio-packets']}"
    print(f"test call: written/sent video {video}, audio {audio}")
    assert written["VIDEO"] >= 0.99 * sent["video-frames"] and written["AUDIO"] >= 0.99 * sent["audio-packets"]
    # the manifest puts both files on one timeline: they start together (the browser sends both at once)
    async with http.get(info["manifest"]["url"]) as answer:
        manifest = await answer.json(content_type=None)
    starts = {t["kind"]: datetime.fromisoformat(t["mediaStart"].replace("Z", "+00:00")) for t in manifest["tracks"]}
    skew = abs((starts["audio"] - starts["video"]).total_seconds())
    print(f"test call: audio and video start {skew * 1000:.0f} ms apart on the manifest's timeline")
    assert skew < 0.5, manifest

    def play_back() -> None:
        browser.execute_script("location.hash = arguments[0]", f"#/recording/{path}")
        wait(browser, lambda d: d.find_element(By.ID, "play")).click()
        wait(browser, lambda d: d.execute_script("return document.querySelector('.players video').currentTime") > 1)
        shot(browser, screens, "test-call-played-back")

    await browse(play_back)
