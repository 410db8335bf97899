"""The route table: who may call what. Every recorder path answers under /rtc-recorder/api and
/auvious.video/rtc-recorder/api; the composition paths under /composition/api; the token endpoint is at
/security/oauth/token."""

from __future__ import annotations

from aiohttp import web

from api import auth, console_files
from api.auth import Handler
from api.facades import coaching, realtimekit, videosdk, whip
from api.facades.coaching import backend
from api.facades.whip import ingests
from api.handlers import compositions, evidence, files, operations, recordings, sidecars, storage, webhooks
from api.paths import API, COACHING, COMPOSITION_API, LEGACY_PREFIX, REALTIMEKIT, TOKEN_PATH, VIDEOSDK, WHIP
from recorder.settings import Role, Settings

IDS = "{conversationId}/{recorderId}/{instanceId}"
PUBLIC: frozenset[Role] = frozenset()  # no Authorization: signed links check their signature instead
AGENT = frozenset({Role.AGENT})
SUPERVISOR = frozenset({Role.SUPERVISOR})
AGENT_OR_SUPERVISOR = AGENT | SUPERVISOR
ADMIN = frozenset({Role.ADMIN})
# Auvious's composition docs: AGENT, SUPERVISOR and SERVICE request a composition; whoever may request one
# may follow it, fetch it, cancel it and run it again. Deleting stays with supervisors (and machine clients).
COMPOSERS = AGENT | SUPERVISOR | frozenset({Role.SERVICE})
SUPERVISOR_OR_SERVICE = SUPERVISOR | frozenset({Role.SERVICE})
SERVICE = frozenset({Role.SERVICE})  # an application's backend
EVERY_ROLE = frozenset(Role)
AUDITOR = frozenset({Role.AUDITOR})
AUDITOR_OR_SUPERVISOR = AUDITOR | SUPERVISOR  # read recordings, verify them, place and release legal holds

# (method, path below the API base, roles allowed, handler); more specific paths first
ROUTES: list[tuple[str, str, frozenset[Role], Handler]] = [
    ("POST", "/recordings/start", AGENT, recordings.start),
    ("POST", "/recordings/stop", AGENT, recordings.stop_by_body),
    ("POST", "/recordings/chat/transcript/add", AGENT, sidecars.add_chat_transcript),
    ("POST", "/recordings/cobrowse/event", AGENT, sidecars.add_cobrowse_event),
    ("POST", "/ingests", AGENT, ingests.create_ingest),
    ("DELETE", "/ingests/{ingestId}", AGENT, ingests.revoke_ingest),
    ("GET", f"/recordings/attachment/track/{IDS}/{{trackId}}/{{fileName}}", PUBLIC, files.track_attachment),
    ("GET", f"/recordings/attachment/manifest/{IDS}/{{fileName}}", PUBLIC, files.manifest_attachment),
    (
        "GET",
        f"/recordings/attachment/cobrowse/{IDS}/{{sessionId}}/{{fileName}}",
        PUBLIC,
        files.cobrowse_attachment,
    ),
    ("GET", "/me", EVERY_ROLE, recordings.me),
    ("GET", "/evidence/keys", PUBLIC, evidence.evidence_keys),
    ("GET", "/access-log/verify", AUDITOR, evidence.access_log_check),
    ("GET", "/access-log", AUDITOR, evidence.access_log),
    ("GET", "/holds", AUDITOR_OR_SUPERVISOR, evidence.list_holds),
    ("GET", "/holds/{conversationId}", AUDITOR_OR_SUPERVISOR, evidence.get_hold),
    ("PUT", "/holds/{conversationId}", AUDITOR_OR_SUPERVISOR, evidence.place_hold),
    ("POST", "/holds/{conversationId}/release", AUDITOR_OR_SUPERVISOR, evidence.release_hold),
    ("GET", "/deletions/{receiptId}", ADMIN | AUDITOR, evidence.deletion_receipt),
    ("GET", "/recordings", AUDITOR_OR_SUPERVISOR, recordings.search),
    ("GET", "/recordings/{conversationId}/active", AGENT_OR_SUPERVISOR, recordings.active),
    ("GET", "/recordings/{conversationId}/cobrowse", AUDITOR_OR_SUPERVISOR, sidecars.cobrowse_sessions),
    ("POST", f"/recordings/{IDS}/stop", AGENT, recordings.stop),
    ("POST", f"/recordings/{IDS}/pause", AGENT, recordings.pause),
    ("POST", f"/recordings/{IDS}/resume", AGENT, recordings.resume),
    ("PUT", f"/recordings/{IDS}/rules", AGENT, recordings.put_rules),
    ("GET", f"/recordings/{IDS}/state", AGENT_OR_SUPERVISOR, recordings.state),
    ("GET", f"/recordings/{IDS}/chat", AUDITOR_OR_SUPERVISOR, sidecars.chat_entries),
    ("GET", f"/recordings/{IDS}/storage/info", ADMIN, storage.storage_info),
    ("POST", f"/recordings/{IDS}/upload", ADMIN, storage.retry_upload),
    ("GET", f"/recordings/{IDS}/cobrowse/{{sessionId}}/url/attachment", AUDITOR_OR_SUPERVISOR, sidecars.cobrowse_url),
    ("GET", f"/recordings/{IDS}/verify", AUDITOR_OR_SUPERVISOR, evidence.verify_recording),
    ("GET", f"/recordings/{IDS}", AGENT_OR_SUPERVISOR | AUDITOR, recordings.info),  # Auvious: "at least Agent"
    ("GET", "/recordings/{conversationId}", AUDITOR_OR_SUPERVISOR, recordings.conversation),
    ("DELETE", "/recordings/{conversationId}", ADMIN, evidence.delete_conversation),
    ("GET", "/compositions/{conversationId}", AUDITOR_OR_SUPERVISOR, recordings.latest_recording),
    ("POST", "/storageproviders/{applicationId}/verify", ADMIN, storage.verify_storage),
    ("POST", "/storageproviders/{applicationId}/verified", ADMIN, storage.confirm_storage),
    ("GET", "/storageproviders/{applicationId}", ADMIN, storage.get_storage_profile),
    ("PUT", "/storageproviders/{applicationId}", ADMIN, storage.put_storage_profile),
    ("DELETE", "/storageproviders/{applicationId}", ADMIN, storage.delete_storage_profile),
    ("GET", "/webhooks/{applicationId}", ADMIN, webhooks.list_webhooks),
    ("POST", "/webhooks/{applicationId}", ADMIN, webhooks.create_webhook),
    ("GET", "/webhooks/{applicationId}/{subscriptionId}/deliveries", ADMIN, webhooks.webhook_deliveries),
    (
        "POST",
        "/webhooks/{applicationId}/{subscriptionId}/deliveries/{deliveryId}/redeliver",
        ADMIN,
        webhooks.redeliver_webhook,
    ),
    ("POST", "/webhooks/{applicationId}/{subscriptionId}/replay", ADMIN, webhooks.replay_webhooks),
    ("POST", "/webhooks/{applicationId}/{subscriptionId}/secret", ADMIN, webhooks.rotate_webhook_secret),
    ("GET", "/webhooks/{applicationId}/{subscriptionId}", ADMIN, webhooks.get_webhook),
    ("PUT", "/webhooks/{applicationId}/{subscriptionId}", ADMIN, webhooks.put_webhook),
    ("DELETE", "/webhooks/{applicationId}/{subscriptionId}", ADMIN, webhooks.delete_webhook),
    ("PUT", "/sessions/{applicationId}/{sessionId}", SERVICE, backend.put_session),
    ("PATCH", "/sessions/{applicationId}/{sessionId}", SERVICE, backend.patch_session),
    ("GET", "/sessions/{applicationId}/{sessionId}", SERVICE, backend.get_session),
    ("GET", "/openapi.yaml", PUBLIC, recordings.openapi),
]

# the console's files (a web page, not an API: not in openapi.yaml)
CONSOLE_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/console", console_files.console_root),
    ("GET", "/console/", console_files.console_file),
    ("GET", "/console/{name}", console_files.console_file),
]

# at the root: for Prometheus, and for the orchestrator's probes (no Authorization)
OPERATIONS_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/metrics", operations.metrics),
    ("GET", "/livez", operations.livez),
    ("GET", "/readyz", operations.readyz),
    ("GET", "/capacity", operations.capacity),
]

# the same, below /composition/api
COMPOSITION_ROUTES: list[tuple[str, str, frozenset[Role], Handler]] = [
    ("POST", "/request", COMPOSERS, compositions.request_composition),
    ("POST", "/reexecute", COMPOSERS, compositions.reexecute_composition),
    ("GET", "/query/conversation/{conversationId}", COMPOSERS, compositions.query_compositions),
    ("GET", "/player/{conversationId}/{compositionId}/url/attachment", COMPOSERS, compositions.composition_url),
    ("GET", "/attachment/{conversationId}/{compositionId}/{fileName}", PUBLIC, files.composition_attachment),
    ("POST", "/{conversationId}/{compositionId}/cancel", COMPOSERS, compositions.cancel_composition),
    ("DELETE", "/{conversationId}/{compositionId}/delete", SUPERVISOR_OR_SERVICE, compositions.delete_composition),
]


FACADES = [
    (VIDEOSDK, videosdk.make_app),
    (REALTIMEKIT, realtimekit.make_app),
    (COACHING, coaching.make_app),
    (WHIP, whip.make_app),
]


def add_routes(app: web.Application, settings: Settings) -> None:
    app.router.add_post(TOKEN_PATH, auth.token)
    for _, path, handler in [*OPERATIONS_ROUTES, *CONSOLE_ROUTES]:
        app.router.add_get(path, handler)
    # each facade a sub-application: its routes, credentials and error envelope (RealtimeKit twice: Cloudflare's)
    for prefix, make_app in [*FACADES, (settings.cloudflare_api_base, realtimekit.make_cloudflare_app)]:
        app.add_subapp(prefix, make_app())
    tables = [(API, ROUTES), (LEGACY_PREFIX + API, ROUTES), (COMPOSITION_API, COMPOSITION_ROUTES)]
    for prefix, table in tables:
        for method, path, roles, handler in table:
            auth.add_route(app.router, method, prefix + path, auth.require(roles, handler) if roles else handler)
