"""Evidence: the signing keys, a recording's verification, the access log (JSON pages or CSV), legal holds, the
deletion of a conversation and its receipts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api.handlers.common import int_query, org, path_ids
from api.keys import EVIDENCE, RECORDINGS
from recorder.errors import InvalidRequestError
from recorder.models import iso
from recorder.persistence.ports import AccessEntry, AccessQuery
from schemas.evidence import DeletionRequest, HoldRequest

CSV_COLUMNS = (
    "seq",
    "at",
    "action",
    "caller",
    "callerType",
    "roles",
    "userId",
    "applicationId",
    "conversationId",
    "recorderId",
    "object",
    "detail",
    "hash",
)


def entry_json(entry: AccessEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": iso(entry.at),
        "action": entry.action,
        "caller": entry.caller,
        "callerType": entry.caller_type,
        "roles": list(entry.roles),
        "userId": entry.user_id,
        "applicationId": entry.application_id,
        "conversationId": entry.conversation_id,
        "recorderId": entry.recorder_id,
        "object": entry.object,
        "detail": entry.detail,
        "prev": entry.prev,
        "hash": entry.hash,
    }


async def evidence_keys(request: web.Request) -> web.Response:
    """The public keys seals, digests and receipts are signed with (no Authorization: they are public)."""
    return web.json_response(await request.config_dict[EVIDENCE].ledger.public_keys())


async def verify_recording(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].get(org(request), *path_ids(request))
    return web.json_response(await request.config_dict[EVIDENCE].ledger.verify(recording))


def _time(request: web.Request, name: str) -> datetime | None:
    """An ISO 8601 time of the query (absent: None; present, it must be one: an empty value is 400)."""
    if name not in request.query:
        return None
    try:
        return datetime.fromisoformat(request.query[name].replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise InvalidRequestError(f"{name} must be an ISO 8601 time, e.g. 2026-12-05T10:00:00Z") from None


def _access_query(request: web.Request, limit: int) -> AccessQuery:
    q = request.query
    since, until = _time(request, "from"), _time(request, "to")
    after = int_query(request, "after", 0, 0, 2**62)
    assert after is not None
    return AccessQuery(
        org(request), q.get("conversationId") or None, q.get("caller") or None, since, until, after, limit
    )


async def access_log(request: web.Request) -> web.StreamResponse:
    """Pages of `pageSize` rows in order (`next`: the `after` of the next page), or every matching row as CSV
    (`format=csv`)."""
    access = request.config_dict[EVIDENCE].access
    if request.query.get("format") == "csv":
        query = _access_query(request, 1000)  # (a bad parameter is a 400 before anything is sent)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": 'attachment; filename="access-log.csv"',
            }
        )
        await response.prepare(request)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        while rows := await access.query(query):
            for row in rows:
                values = entry_json(row)
                values["roles"] = " ".join(row.roles)
                writer.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
            await response.write(out.getvalue().encode())
            out.seek(0)
            out.truncate()
            query = AccessQuery(**{**query.__dict__, "after_seq": rows[-1].seq})
        await response.write(out.getvalue().encode())
        await response.write_eof()
        return response
    if request.query.get("format") not in (None, "json"):
        raise InvalidRequestError("format must be json or csv")
    size = int_query(request, "pageSize", 100, 1, 1000)
    assert size is not None
    rows = await access.query(_access_query(request, size))
    return web.json_response(
        {"entries": [entry_json(r) for r in rows], "next": rows[-1].seq if len(rows) == size else None}
    )


async def access_log_check(request: web.Request) -> web.Response:
    check = await request.config_dict[EVIDENCE].access.check(org(request))
    return web.json_response(
        {"intact": check.intact, "rows": check.rows, "brokenAt": check.broken_at, "problem": check.problem}
    )


async def list_holds(request: web.Request) -> web.Response:
    return web.json_response({"holds": await request.config_dict[EVIDENCE].holds.all(org(request))})


async def get_hold(request: web.Request) -> web.Response:
    holds = request.config_dict[EVIDENCE].holds
    return web.json_response(await holds.get(org(request), request.match_info["conversationId"]))


async def place_hold(request: web.Request) -> web.Response:
    body = HoldRequest.model_validate_json(await request.read())
    holds = request.config_dict[EVIDENCE].holds
    return web.json_response(await holds.place(org(request), request.match_info["conversationId"], body.reason))


async def release_hold(request: web.Request) -> web.Response:
    body = HoldRequest.model_validate_json(await request.read())
    holds = request.config_dict[EVIDENCE].holds
    return web.json_response(await holds.release(org(request), request.match_info["conversationId"], body.reason))


async def delete_conversation(request: web.Request) -> web.Response:
    """Everything stored for a conversation; answers the signed receipt."""
    raw = await request.read()
    body = DeletionRequest.model_validate_json(raw) if raw.strip() else DeletionRequest()
    deletions = request.config_dict[EVIDENCE].deletions
    return web.json_response(
        await deletions.delete_conversation(org(request), request.match_info["conversationId"], body.reason)
    )


async def deletion_receipt(request: web.Request) -> web.Response:
    deletions = request.config_dict[EVIDENCE].deletions
    return web.json_response(await deletions.receipt(org(request), request.match_info["receiptId"]))
