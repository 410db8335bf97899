"""The route table: who may call what. Every recorder path answers under /rtc-recorder/api and
/auvious.video/rtc-recorder/api; the composition paths under /composition/api; the token endpoint is at
/security/oauth/token."""

from __future__ import annotations

from aiohttp import web

from api import auth, console_files, handlers
from api.auth import Handler
from api.facades import coaching, realtimekit, videosdk, whip
from api.facades.coaching import backend
from api.facades.whip import ingests
from api.paths import API, COACHING, COMPOSITION_API, LEGACY_PREFIX, REALTIMEKIT, TOKEN_PATH, VIDEOSDK, WHIP
from recorder.settings import Role

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

# (method, path below the API base, roles allowed, handler); more specific paths first
ROUTES: list[tuple[str, str, frozenset[Role], Handler]] = [
    ("POST", "/recordings/start", AGENT, handlers.start),
    ("POST", "/recordings/stop", AGENT, handlers.stop_by_body),
    ("POST", "/recordings/chat/transcript/add", AGENT, handlers.add_chat_transcript),
    ("POST", "/recordings/cobrowse/event", AGENT, handlers.add_cobrowse_event),
    ("POST", "/ingests", AGENT, ingests.create_ingest),
    ("DELETE", "/ingests/{ingestId}", AGENT, ingests.revoke_ingest),
    ("GET", f"/recordings/attachment/track/{IDS}/{{trackId}}/{{fileName}}", PUBLIC, handlers.track_attachment),
    ("GET", f"/recordings/attachment/manifest/{IDS}/{{fileName}}", PUBLIC, handlers.manifest_attachment),
    (
        "GET",
        f"/recordings/attachment/cobrowse/{IDS}/{{sessionId}}/{{fileName}}",
        PUBLIC,
        handlers.cobrowse_attachment,
    ),
    ("GET", "/me", EVERY_ROLE, handlers.me),
    ("GET", "/recordings", SUPERVISOR, handlers.search),
    ("GET", "/recordings/{conversationId}/active", AGENT_OR_SUPERVISOR, handlers.active),
    ("GET", "/recordings/{conversationId}/cobrowse", SUPERVISOR, handlers.cobrowse_sessions),
    ("POST", f"/recordings/{IDS}/stop", AGENT, handlers.stop),
    ("POST", f"/recordings/{IDS}/pause", AGENT, handlers.pause),
    ("POST", f"/recordings/{IDS}/resume", AGENT, handlers.resume),
    ("PUT", f"/recordings/{IDS}/rules", AGENT, handlers.put_rules),
    ("GET", f"/recordings/{IDS}/state", AGENT_OR_SUPERVISOR, handlers.state),
    ("GET", f"/recordings/{IDS}/chat", SUPERVISOR, handlers.chat_entries),
    ("GET", f"/recordings/{IDS}/storage/info", ADMIN, handlers.storage_info),
    ("POST", f"/recordings/{IDS}/upload", ADMIN, handlers.retry_upload),
    ("GET", f"/recordings/{IDS}/cobrowse/{{sessionId}}/url/attachment", SUPERVISOR, handlers.cobrowse_url),
    ("GET", f"/recordings/{IDS}", AGENT_OR_SUPERVISOR, handlers.info),  # Auvious: "at least Agent"
    ("GET", "/recordings/{conversationId}", SUPERVISOR, handlers.conversation),
    ("GET", "/compositions/{conversationId}", SUPERVISOR, handlers.latest_recording),
    ("POST", "/storageproviders/{applicationId}/verify", ADMIN, handlers.verify_storage),
    ("POST", "/storageproviders/{applicationId}/verified", ADMIN, handlers.confirm_storage),
    ("GET", "/storageproviders/{applicationId}", ADMIN, handlers.get_storage_profile),
    ("PUT", "/storageproviders/{applicationId}", ADMIN, handlers.put_storage_profile),
    ("DELETE", "/storageproviders/{applicationId}", ADMIN, handlers.delete_storage_profile),
    ("GET", "/webhooks/{applicationId}", ADMIN, handlers.list_webhooks),
    ("POST", "/webhooks/{applicationId}", ADMIN, handlers.create_webhook),
    ("GET", "/webhooks/{applicationId}/{subscriptionId}/deliveries", ADMIN, handlers.webhook_deliveries),
    (
        "POST",
        "/webhooks/{applicationId}/{subscriptionId}/deliveries/{deliveryId}/redeliver",
        ADMIN,
        handlers.redeliver_webhook,
    ),
    ("POST", "/webhooks/{applicationId}/{subscriptionId}/replay", ADMIN, handlers.replay_webhooks),
    ("POST", "/webhooks/{applicationId}/{subscriptionId}/secret", ADMIN, handlers.rotate_webhook_secret),
    ("GET", "/webhooks/{applicationId}/{subscriptionId}", ADMIN, handlers.get_webhook),
    ("PUT", "/webhooks/{applicationId}/{subscriptionId}", ADMIN, handlers.put_webhook),
    ("DELETE", "/webhooks/{applicationId}/{subscriptionId}", ADMIN, handlers.delete_webhook),
    ("PUT", "/sessions/{applicationId}/{sessionId}", SERVICE, backend.put_session),
    ("PATCH", "/sessions/{applicationId}/{sessionId}", SERVICE, backend.patch_session),
    ("GET", "/sessions/{applicationId}/{sessionId}", SERVICE, backend.get_session),
    ("GET", "/openapi.yaml", PUBLIC, handlers.openapi),
]

# the console's files (a web page, not an API: not in openapi.yaml)
CONSOLE_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/console", console_files.console_root),
    ("GET", "/console/", console_files.console_file),
    ("GET", "/console/{name}", console_files.console_file),
]

# at the root: for Prometheus, and for the orchestrator's probes (no Authorization)
OPERATIONS_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/metrics", handlers.metrics),
    ("GET", "/livez", handlers.livez),
    ("GET", "/readyz", handlers.readyz),
]

# the same, below /composition/api
COMPOSITION_ROUTES: list[tuple[str, str, frozenset[Role], Handler]] = [
    ("POST", "/request", COMPOSERS, handlers.request_composition),
    ("POST", "/reexecute", COMPOSERS, handlers.reexecute_composition),
    ("GET", "/query/conversation/{conversationId}", COMPOSERS, handlers.query_compositions),
    ("GET", "/player/{conversationId}/{compositionId}/url/attachment", COMPOSERS, handlers.composition_url),
    ("GET", "/attachment/{conversationId}/{compositionId}/{fileName}", PUBLIC, handlers.composition_attachment),
    ("POST", "/{conversationId}/{compositionId}/cancel", COMPOSERS, handlers.cancel_composition),
    ("DELETE", "/{conversationId}/{compositionId}/delete", SUPERVISOR_OR_SERVICE, handlers.delete_composition),
]


FACADES = [(VIDEOSDK, videosdk), (REALTIMEKIT, realtimekit), (COACHING, coaching), (WHIP, whip)]


def add_routes(app: web.Application) -> None:
    app.router.add_post(TOKEN_PATH, auth.token)
    for _, path, handler in [*OPERATIONS_ROUTES, *CONSOLE_ROUTES]:
        app.router.add_get(path, handler)
    for prefix, facade in FACADES:  # each a sub-application: its routes, credentials and error envelope
        app.add_subapp(prefix, facade.make_app())
    tables = [(API, ROUTES), (LEGACY_PREFIX + API, ROUTES), (COMPOSITION_API, COMPOSITION_ROUTES)]
    for prefix, table in tables:
        for method, path, roles, handler in table:
            guarded = auth.require(roles, handler) if roles else handler
            if method == "GET":  # HEAD answers like GET without the body (a player probing a signed link)
                app.router.add_get(prefix + path, guarded)
            else:
                app.router.add_route(method, prefix + path, guarded)
