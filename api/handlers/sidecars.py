"""Chat transcripts and cobrowse sessions of a recording."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import web

from api.auth import origin
from api.handlers.common import LARGE_BODY, org, path_ids
from api.keys import (
    CHAT,
    COBROWSE,
    DOWNLOADS,
    RECORDINGS,
)
from api.presenters import (
    cobrowse_sessions_message,
)
from recorder.models import ChatEntry, CobrowseEvent, iso
from schemas.recording import (
    AddChatTranscriptCmd,
    AddCobrowseEventCmd,
    CobrowseUrlQuery,
    URLResourceMessage,
)


async def chat_entries(request: web.Request) -> web.Response:
    """A recording's chat transcript entries, in time order (the console shows them beside the timeline)."""
    recording = await request.config_dict[RECORDINGS].get(org(request), *path_ids(request))
    entries = [
        {
            k: v
            for k, v in (
                ("timeStamp", iso(e.time_stamp)),
                ("transcript", e.transcript),
                ("userId", e.user_id),
                ("userDisplayName", e.user_display_name),
            )
            if v is not None
        }
        for e in await request.config_dict[CHAT].entries(recording)
    ]
    return web.json_response({"entries": entries})


def _chat_entries(raw: bytes) -> tuple[AddChatTranscriptCmd, list[ChatEntry]]:
    body = AddChatTranscriptCmd.model_validate_json(raw)
    return body, [
        ChatEntry(e.time_stamp, e.transcript, e.user_id, e.user_display_name) for e in body.chat_transcript_list
    ]


async def add_chat_transcript(request: web.Request) -> web.Response:
    """Up to 10,000 entries a request: a large body is read off the event loop, so that it delays no one."""
    raw = await request.read()
    body, entries = await asyncio.to_thread(_chat_entries, raw) if len(raw) > LARGE_BODY else _chat_entries(raw)
    ids = (body.conversation_id, body.recorder_id, body.instance_id)
    recording = await request.config_dict[RECORDINGS].get(org(request), *ids)
    kept = [e for e in entries if recording.paused_at(e.time_stamp) is None]  # a pause stores nothing of its span
    added = await request.config_dict[CHAT].add(recording, kept) if kept else 0
    return web.json_response({"added": added, "withheld": len(entries) - len(kept)})


async def add_cobrowse_event(request: web.Request) -> web.Response:
    body = AddCobrowseEventCmd.model_validate_json(await request.read())
    event = CobrowseEvent(body.event.session_id, body.event.sequence_id, body.event.timestamp, body.event.payload)
    ids = (body.conversation_id, body.recorder_id, body.instance_id)
    recording = await request.config_dict[RECORDINGS].get(org(request), *ids)
    moment = datetime.fromtimestamp(event.timestamp / 1000, UTC)  # (epoch milliseconds, as browsers count)
    if recording.paused or recording.paused_at(moment) is not None:  # a pause stores nothing of its span
        return web.json_response({"added": False, "withheld": True})
    added = await request.config_dict[COBROWSE].add(recording, event)
    return web.json_response({"added": added, "withheld": False})


async def cobrowse_sessions(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversationId"]
    recordings = await request.config_dict[RECORDINGS].recordings(org(request), conversation_id)
    sessions = await request.config_dict[COBROWSE].of(recordings)
    return web.json_response(cobrowse_sessions_message(conversation_id, sessions).wire())


async def cobrowse_url(request: web.Request) -> web.Response:
    """The spec repeats the ids as required query parameters (`id`: the recorderId); the path's are used."""
    CobrowseUrlQuery.model_validate(dict(request.query))
    recording = await request.config_dict[RECORDINGS].get(org(request), *path_ids(request))
    session = await request.config_dict[COBROWSE].session(recording, request.match_info["sessionId"])
    url, valid_until = request.config_dict[DOWNLOADS].cobrowse_url(recording, session, origin(request))
    return web.json_response(URLResourceMessage(url=url, valid_until=valid_until).wire())
