"""A subscription's payload format: the bodies of the messages an event becomes (which messages, in which
order, is the catalogue's: `recorder.events.messages`). A registry: format name -> renderer.

- `native`: one message per event, `{type, timestamp, data}` (Standard Webhooks' recommended shape).
- `videosdk`, `realtimekit`: the vendors' own webhooks; each facade's renderer lives with its facade
  (`recorder.facades.<name>.wire`).

Messages are chosen when an event is written (each becomes a delivery of its own, in order) and rendered when
sent, with download URLs valid from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recorder.events import Event, Format
from recorder.facades.realtimekit import wire as realtimekit
from recorder.facades.videosdk import wire as videosdk


def _native(message: str, event: Event, urls: dict[str, str]) -> dict[str, Any]:
    payload = event.payload()
    file = payload["data"].get("file")
    if file is not None and file.get("location") in urls:
        payload["data"]["file"] = {**file, "url": urls[file["location"]]}
    return payload


def render(format_: str, message: str, event: Event, urls: dict[str, str]) -> dict[str, Any]:
    """The body of one message; `urls`: download URLs by file location, valid from now."""
    renderer = RENDERERS.get(format_)
    if renderer is None:
        raise ValueError(f"unknown webhook format {format_!r}")
    return renderer(message, event, urls)


Renderer = Callable[[str, Event, dict[str, str]], dict[str, Any]]
RENDERERS: dict[str, Renderer] = {
    Format.NATIVE: _native,
    Format.VIDEOSDK: videosdk.render,
    Format.REALTIMEKIT: realtimekit.render,
}
