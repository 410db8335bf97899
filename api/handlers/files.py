"""Signed links: a track's, a manifest's, a cobrowse session's and a composition's file, checked and streamed."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from api.handlers.common import composition_ids, path_ids
from api.keys import (
    COBROWSE,
    COMPOSITIONS,
    DOWNLOADS,
    EVIDENCE,
    RECORDINGS,
)
from api.paths import API, LEGACY_PREFIX
from recorder.downloads import Served
from recorder.evidence.access import Action, Actor
from recorder.models import Composition, Recording


def _check_link(request: web.Request) -> None:
    """The link's signature, over its path as sent (either prefix), method and parameters."""
    path = request.rel_url.raw_path
    if path.startswith(LEGACY_PREFIX + API):
        path = path[len(LEGACY_PREFIX) :]
    request.config_dict[DOWNLOADS].verify(request.method if request.method != "HEAD" else "GET", path, request.query)


def _served(request: web.Request, owner: Recording | Composition, what: str | None) -> None:
    """The access log: a file served through a signed link, to whom the link was issued (its `By`)."""
    if request.method == "HEAD":
        return
    recorder_id = owner.recorder_id if isinstance(owner, Recording) else None
    request.config_dict[EVIDENCE].access.record(
        Action.FILE_SERVED,
        owner.organization_id,
        application_id=owner.application_id,
        conversation_id=owner.conversation_id,
        recorder_id=recorder_id,
        object=what,
        detail=request.headers.get("Range"),
        actor=Actor(request.query.get("By", "unknown"), "LINK"),
    )


async def _serve(request: web.Request, served: Served) -> web.StreamResponse:
    if served.path is not None:
        return _file(served.path)
    assert served.provider is not None and served.key is not None
    return await _stream(request, served)


def _file(path: Path) -> web.FileResponse:
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{path.name}"'})


async def _stream(request: web.Request, served: Served) -> web.StreamResponse:
    """An object of a storage without URLs of its own (SFTP), streamed through; one byte range at most."""
    provider, key, size, name = served.provider, served.key, served.size, served.name
    assert provider is not None and key is not None
    start, end = 0, size
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    if "Range" in request.headers:
        try:
            span = request.http_range
        except ValueError:
            span = slice(size, None)
        if span.start is not None and span.start < 0:
            start = max(0, size + span.start)
        else:
            start, end = span.start or 0, size if span.stop is None else min(span.stop, size)
        if start >= end:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response = web.StreamResponse(status=206 if "Content-Range" in headers else 200, headers=headers)
    response.content_length = end - start
    await response.prepare(request)
    if request.method != "HEAD":
        async for piece in provider.read_range(key, start, end):
            await response.write(piece)
    await response.write_eof()
    return response


async def track_attachment(request: web.Request) -> web.StreamResponse:
    """A signed track link: no Authorization header; Range requests answer 206 (or 416)."""
    _check_link(request)
    recording = await request.config_dict[RECORDINGS].get(None, *path_ids(request))
    info = request.match_info
    served = await request.config_dict[DOWNLOADS].track_file(recording, info["trackId"], info["fileName"])
    track = next(t for s in recording.streams for t in s.tracks if t.id == info["trackId"])
    _served(request, recording, track.object_location or track.local_location)
    return await _serve(request, served)


async def manifest_attachment(request: web.Request) -> web.StreamResponse:
    """A signed manifest link: no Authorization header; Range supported."""
    _check_link(request)
    recording = await request.config_dict[RECORDINGS].get(None, *path_ids(request))
    served = await request.config_dict[DOWNLOADS].locate(
        recording.application_id,
        request.match_info["fileName"],
        recording.manifest_location,
        None,
        recording.recorder_id,
    )
    _served(request, recording, recording.manifest_location)
    return await _serve(request, served)


async def cobrowse_attachment(request: web.Request) -> web.StreamResponse:
    """A signed cobrowse session link: no Authorization header; Range supported."""
    _check_link(request)
    recording = await request.config_dict[RECORDINGS].get(None, *path_ids(request))
    session = await request.config_dict[COBROWSE].session(recording, request.match_info["sessionId"])
    served = await request.config_dict[DOWNLOADS].locate(
        recording.application_id, request.match_info["fileName"], session.location, None, recording.recorder_id
    )
    _served(request, recording, session.location)
    return await _serve(request, served)


async def composition_attachment(request: web.Request) -> web.StreamResponse:
    """A signed composition link: no Authorization header; Range supported."""
    _check_link(request)
    composition = await request.config_dict[COMPOSITIONS].get_completed(None, *composition_ids(request))
    served = await request.config_dict[DOWNLOADS].composition_file(composition, request.match_info["fileName"])
    _served(request, composition, composition.object_location or composition.file_name)
    return await _serve(request, served)
