"""Compositions below /composition/api: request, query, link, cancel, run again, delete."""

from __future__ import annotations

from aiohttp import web

from api.auth import origin
from api.handlers.common import composition_ids, org
from api.keys import (
    COMPOSITIONS,
    DOWNLOADS,
)
from api.presenters import (
    composition_message,
)
from recorder.compositions.queue import CompositionCommand
from schemas.composition import CompositionRequest, CompositionsMessage, ReexecuteComposition
from schemas.recording import (
    URLResourceMessage,
)


async def request_composition(request: web.Request) -> web.Response:
    body = CompositionRequest.model_validate_json(await request.read())
    width, height = body.size
    composition = await request.config_dict[COMPOSITIONS].request(
        CompositionCommand(
            organization_id=org(request),
            conversation_id=body.conversation_id,
            name=body.name or f"{body.conversation_id} {body.type.value.lower()}",
            type=body.type,
            width=width,
            height=height,
            layout=body.layout,
            priority=body.priority,
            keep_pauses=body.keep_pauses,
        )
    )
    return web.json_response(composition_message(composition).wire())


async def query_compositions(request: web.Request) -> web.Response:
    compositions = await request.config_dict[COMPOSITIONS].query(org(request), request.match_info["conversationId"])
    return web.json_response(CompositionsMessage(compositions=[composition_message(c) for c in compositions]).wire())


async def composition_url(request: web.Request) -> web.Response:
    """The file's URL: the storage's own signed URL once uploaded there, else the service's signed link."""
    composition = await request.config_dict[COMPOSITIONS].get_completed(org(request), *composition_ids(request))
    url, valid_until = await request.config_dict[DOWNLOADS].composition_url(composition, origin(request))
    return web.json_response(URLResourceMessage(url=url, valid_until=valid_until).wire())


async def cancel_composition(request: web.Request) -> web.Response:
    """A queued or running composition stops (its worker ends, nothing is stored): CANCELLED."""
    composition = await request.config_dict[COMPOSITIONS].cancel(org(request), *composition_ids(request))
    return web.json_response(composition_message(composition).wire())


async def reexecute_composition(request: web.Request) -> web.Response:
    """A FAILED or CANCELLED composition is queued again (same id)."""
    body = ReexecuteComposition.model_validate_json(await request.read())
    composition = await request.config_dict[COMPOSITIONS].reexecute(org(request), body.conversation_id, body.target)
    return web.json_response(composition_message(composition).wire())


async def delete_composition(request: web.Request) -> web.Response:
    await request.config_dict[COMPOSITIONS].delete(org(request), *composition_ids(request))
    return web.Response(status=204)
