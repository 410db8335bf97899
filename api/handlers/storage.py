"""Storage administration (ADMIN): verify, confirm, the profile, where a recording's files are, retry its upload."""

from __future__ import annotations

from aiohttp import web

from api.handlers.common import JSON_OBJECT, org, path_ids
from api.keys import (
    RECORDINGS,
    SETTINGS,
    STORAGE,
)
from api.presenters import (
    storage_profile,
    storage_profile_view,
)
from schemas.recording import (
    StorageTestResult,
    StorageVerificationStatusMessage,
    ThroughputTestResult,
)
from storage_providers.base import CheckResult


async def storage_info(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].get(org(request), *path_ids(request))
    location = await request.config_dict[STORAGE].location(recording.application_id, recording.recorder_id)
    return web.json_response(storage_profile(recording.application_id, location).wire())


async def verify_storage(request: web.Request) -> web.Response:
    result = await request.config_dict[STORAGE].verify(org(request), request.match_info["applicationId"])
    probe = result.throughput
    message = StorageVerificationStatusMessage(
        **{
            f"{name}_test_result": StorageTestResult(passed=check.passed, message=check.message)
            for name, check in vars(result).items()
            if isinstance(check, CheckResult)
        },
        throughput_test_result=ThroughputTestResult(
            passed=probe.passed,
            message=probe.message,
            bytes_transferred=probe.bytes_transferred,
            duration_millis=probe.duration_millis,
            throughput_mbps=probe.mbps,
        ),
    )
    return web.json_response(message.wire())


async def confirm_storage(request: web.Request) -> web.Response:
    """`POST .../storageproviders/{applicationId}/verified`: the profile in force is confirmed (204)."""
    await request.config_dict[STORAGE].confirm(org(request), request.match_info["applicationId"])
    return web.Response(status=204)


def _profile(request: web.Request, application_id: str) -> web.Response:
    view = storage_profile_view(application_id, *request.config_dict[STORAGE].profile(application_id))
    return web.json_response(view)


async def get_storage_profile(request: web.Request) -> web.Response:
    app = request.config_dict[SETTINGS].application_of(org(request), request.match_info["applicationId"])
    return _profile(request, app.id)


async def put_storage_profile(request: web.Request) -> web.Response:
    """Credentials are write-only: never answered, never logged, encrypted at rest."""
    body = JSON_OBJECT.validate_json(await request.read())  # bad bytes or not an object: 400
    application_id = request.match_info["applicationId"]
    await request.config_dict[STORAGE].set_profile(org(request), application_id, body)
    return _profile(request, application_id)


async def delete_storage_profile(request: web.Request) -> web.Response:
    await request.config_dict[STORAGE].delete_profile(org(request), request.match_info["applicationId"])
    return web.Response(status=204)


async def retry_upload(request: web.Request) -> web.Response:
    """Extension: try the recording's failed uploads again."""
    recording = await request.config_dict[RECORDINGS].get(org(request), *path_ids(request))
    queued = await request.config_dict[STORAGE].retry(recorder_id=recording.recorder_id)
    return web.json_response({"queued": queued}, status=202)
