"""create_app: the composition root. Every concrete class is made and wired here, once; the handlers find
the capabilities under the keys of `api.keys`."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from api.auth import actor_scope
from api.credentials import Authenticator, sha256_hash
from api.errors import body_timeout, error_middleware
from api.keys import (
    AUTHENTICATOR,
    CHAT,
    COACHING,
    COBROWSE,
    COMPOSITIONS,
    DELIVERER,
    DOWNLOADS,
    EVIDENCE,
    METRICS,
    OUTBOUND,
    READINESS,
    REALTIMEKIT,
    RECORDINGS,
    RTK_SIGNER,
    SETTINGS,
    STORAGE,
    VIDEOSDK,
    WEBHOOKS,
)
from api.paths import API, COMPOSITION_API
from api.routes import add_routes
from recorder import logcontext
from recorder.cluster.leftovers import Leftovers
from recorder.cluster.membership import Cluster, ClusterOptions
from recorder.compositions.queue import CompositionOptions, Compositions
from recorder.conference.factory import Conferences, Rooms
from recorder.conference.whip import Ingests
from recorder.downloads import Downloads
from recorder.durability import Durability
from recorder.events import Format
from recorder.evidence.access import AccessLog
from recorder.evidence.documents import EvidenceSigner
from recorder.evidence.holds import Deletions, Holds
from recorder.evidence.ledger import Ledger
from recorder.evidence.service import Evidence
from recorder.facades.coaching.sessions import CoachingSessions
from recorder.facades.core import ServiceCore
from recorder.facades.realtimekit.recordings import RealtimeKitRecordings
from recorder.facades.realtimekit.signature import RtkSigner
from recorder.facades.videosdk.tracks import VideoSdkTracks
from recorder.keyfiles import kept_key
from recorder.media.ports import use_port_range
from recorder.models import Composition, Recording
from recorder.operations.health import Readiness
from recorder.operations.metrics import Metrics
from recorder.outbound import policy_of
from recorder.persistence.store import Store, open_store
from recorder.recordings.admission import Admission
from recorder.recordings.service import RecordingService
from recorder.retention import Retention
from recorder.settings import (
    ClientSettings,
    CloudflareTokenSettings,
    CoachingSettings,
    RealtimeKitKeySettings,
    Role,
    Settings,
    VideoSdkKeySettings,
)
from recorder.sidecars.chat import ChatTranscripts
from recorder.sidecars.cobrowse import CobrowseSessions
from recorder.sidecars.documents import Documents
from recorder.sidecars.manifest import Manifests
from recorder.signing import UrlSigner
from recorder.storage.profiles import StorageProfiles
from recorder.storage.providers import Providers
from recorder.tasks import TaskSet
from recorder.uploads.admin import StorageAdmin
from recorder.uploads.uploader import Uploader, UploadOptions
from recorder.webhooks.delivery import Deliverer, Links
from recorder.webhooks.subscriptions import Webhooks

logger = logging.getLogger(__name__)


def _kept_secret(path: Path) -> str:
    """A random secret kept in `path` (made on first use, readable by this user only)."""
    return kept_key(path, lambda: secrets.token_urlsafe(32).encode()).decode().strip()


def _key(configured: SecretStr | None, path: Path) -> bytes:
    return (configured.get_secret_value() if configured is not None else _kept_secret(path)).encode()


def _clients(settings: Settings) -> list[ClientSettings]:
    """The configured clients; with no clients and no API keys, the demo client (every role, organization
    `demo`), whose secret is in <data_dir>/demo-client-secret."""
    if settings.clients or settings.api_keys:
        return settings.clients
    path = settings.data_dir / "demo-client-secret"
    secret = _kept_secret(path)
    logger.info("demo client: client_id demo, its secret is in %s", path)
    demo = {"id": "demo", "secret_hash": sha256_hash(secret), "organization_id": "demo", "roles": list(Role)}
    return [ClientSettings.model_validate(demo)]


def _demo_facade_keys(settings: Settings) -> None:
    """On the embedded defaults (no client, API key or facade key configured), the facades' demo keys of the
    first application: VideoSDK's `demo` (its secret in <data_dir>/videosdk-demo-secret), RealtimeKit's
    organization `demo` (its API key in <data_dir>/realtimekit-demo-key), a Cloudflare API token of account `demo`
    and app `demo` (<data_dir>/cloudflare-demo-token) and the coaching session API's HS256 secret
    (<data_dir>/coaching-demo-secret)."""
    keys = (settings.clients, settings.api_keys, settings.videosdk_keys, settings.realtimekit_keys)
    configured = any(keys) or bool(settings.cloudflare_tokens)
    if configured or not settings.applications:
        return
    first = settings.applications[0]
    app = first.id
    if first.coaching is None:
        coaching = _kept_secret(settings.data_dir / "coaching-demo-secret")
        first.coaching = CoachingSettings(jwt_secret=SecretStr(coaching))
    secret = _kept_secret(settings.data_dir / "videosdk-demo-secret")
    settings.videosdk_keys = [VideoSdkKeySettings(api_key="demo", secret=SecretStr(secret), application_id=app)]
    key = _kept_secret(settings.data_dir / "realtimekit-demo-key")
    settings.realtimekit_keys = [
        RealtimeKitKeySettings(organization_id="demo", api_key=SecretStr(key), application_id=app)
    ]
    token = SecretStr(_kept_secret(settings.data_dir / "cloudflare-demo-token"))
    settings.cloudflare_tokens = [
        CloudflareTokenSettings(api_token=token, account_id="demo", app_id="demo", application_id=app)
    ]
    logger.info(
        "demo facade keys: VideoSDK apikey demo, RealtimeKit organization demo, Cloudflare account demo app demo"
        " and the coaching token secret"
        " (secrets in %s)",
        settings.data_dir,
    )


def _database_url(settings: Settings) -> str | None:
    return settings.database_url.get_secret_value() if settings.database_url is not None else None


SHUTDOWN_STEP_SECONDS = 10.0


async def _bounded(name: str, step: Coroutine[Any, Any, None]) -> None:
    """A shutdown step that must not hold the exit (the recordings are handed over, the uploads drained by
    then): after `SHUTDOWN_STEP_SECONDS` it is left, and what every task was doing is logged."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_STEP_SECONDS)
    if not done:
        stacks = [
            f"{other.get_name()}: " + " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in other.get_stack(limit=4))
            for other in asyncio.all_tasks()
        ]
        task.cancel()  # (not waited for: whatever holds it, the exit goes on)
        logger.error("shutdown: %s did not end in %.0f s; going on. Tasks: %s", name, SHUTDOWN_STEP_SECONDS, stacks)


@dataclass(frozen=True)
class _Keys:
    """The service's secrets: URL signing, token signing, storage credentials' sealing, RealtimeKit's webhook
    signature, the evidence's signatures."""

    signer: UrlSigner
    token: bytes
    credentials: bytes
    webhooks: RtkSigner
    evidence: EvidenceSigner


def _make_keys(settings: Settings) -> _Keys:
    signer = UrlSigner(_key(settings.url_signing_key, settings.data_dir / "url-signing.key"), settings.url_ttl_seconds)
    token = _key(settings.token_signing_key, settings.data_dir / "token-signing.key")
    credentials = _key(settings.storage_credentials_key, settings.data_dir / "storage-credentials.key")
    configured = settings.webhook_signing_key
    webhooks = (
        RtkSigner(configured.get_secret_value().encode())
        if configured is not None
        else RtkSigner.kept_in(settings.data_dir / "webhook-signing.pem")
    )
    evidence = (
        EvidenceSigner(settings.evidence_signing_key.get_secret_value().encode())
        if settings.evidence_signing_key is not None
        else EvidenceSigner.kept_in(settings.data_dir / "evidence-signing.pem")
    )
    return _Keys(signer, token, credentials, webhooks, evidence)


def _make_uploader(settings: Settings, store: Store, providers: Providers, metrics: Metrics) -> Uploader:
    options = UploadOptions(
        settings.upload_concurrency,
        settings.upload_max_attempts,
        settings.upload_backoff_seconds,
        settings.upload_backoff_max_seconds,
        settings.instance_id,
        settings.lease_seconds,
        settings.upload_share,
        settings.upload_attempt_timeout_seconds,
    )
    return Uploader(store.uploads, providers.of, options, metrics)


@dataclass(frozen=True)
class _Sidecars:
    chat: ChatTranscripts
    cobrowse: CobrowseSessions
    manifests: Manifests

    async def store(self, recording: Recording, key_template: Callable[[str], str]) -> None:
        """A recording's end stores its sidecars."""
        await self.chat.store(recording)
        await self.cobrowse.store(recording)
        await self.manifests.store(recording, recording.key_template or key_template(recording.application_id))


def _make_sidecars(
    settings: Settings, store: Store, uploader: Uploader, key_template: Callable[[str], str]
) -> _Sidecars:
    documents = Documents(uploader, key_template, settings.spool / "artifacts")
    chat = ChatTranscripts(store.sidecars, store.recordings, documents, uploader, settings.chat_entries_per_recording)
    cobrowse = CobrowseSessions(store.sidecars, store.recordings, documents, uploader)
    return _Sidecars(chat, cobrowse, Manifests(store.sidecars, store.recordings, documents, uploader))


def _make_compositions(
    settings: Settings,
    store: Store,
    recordings: RecordingService,
    uploader: Uploader,
    providers: Providers,
    key_template: Callable[[str], str],
    cluster: Cluster,
    metrics: Metrics,
) -> Compositions:
    options = CompositionOptions(
        settings.spool / "compositions",
        settings.composition_concurrency,
        settings.composition_threads,
        settings.composition_nice,
        settings.composition_preset,
        settings.instance_id,
        settings.lease_seconds,
        settings.composition_idle,
    )
    compositions = Compositions(
        store.compositions,
        recordings.recordings,
        uploader,
        providers.of,
        key_template,
        options,
        tell_owner=lambda owner, composition_id: cluster.send(
            owner, "cancel-composition", compositionId=composition_id
        ),
        metrics=metrics,
    )

    async def cancel_composition(message: dict[str, Any]) -> None:
        await compositions.stop_worker(str(message.get("compositionId")))

    cluster.on("cancel-composition", cancel_composition)
    return compositions


def _make_evidence(
    settings: Settings,
    store: Store,
    keys: _Keys,
    providers: Providers,
    uploader: Uploader,
    compositions: Compositions,
    key_template: Callable[[str], str],
) -> Evidence:
    """The ledger hears of every stored object; holds guard every deletion path (compositions' too)."""
    access = AccessLog(store.evidence)
    documents = Documents(uploader, key_template, settings.spool / "artifacts")
    ledger = Ledger(
        settings,
        store.evidence,
        store.recordings,
        store.compositions,
        providers,
        keys.evidence,
        access,
        documents.store,
    )
    uploader.observe(ledger.stored)
    holds = Holds(store.evidence, store.recordings, providers, access)
    ledger.on_stored = holds.stored

    async def compositions_of(organization_id: str, conversation_id: str) -> list[Composition]:
        return [c for c in await store.compositions.for_conversation(organization_id, conversation_id) if not c.deleted]

    deletions = Deletions(
        settings,
        store.evidence,
        store.recordings,
        store.sidecars,
        providers,
        holds,
        ledger,
        access,
        compositions_of,
        compositions.remove,
    )
    compositions.may_delete, compositions.access = holds.refuse_if_held, access
    return Evidence(ledger, access, holds, deletions, settings.evidence_interval_seconds)


def _count_at_scrape(metrics: Metrics, store: Store, deliverer: Deliverer, recordings: RecordingService) -> None:
    """What the database knows, counted at each scrape."""

    async def counts() -> None:
        uploads, queue = await store.uploads.counts(), await store.compositions.counts()
        for state in ("PENDING", "UPLOADED", "FAILED"):
            metrics.upload_jobs.labels(state).set(uploads.get(state, 0))
        for state in ("QUEUED", "PREPROCESSING", "PROCESSING"):
            metrics.compositions.labels(state).set(queue.get(state, 0))
        room = await recordings.capacity()
        for scope, figures in (
            ("instance", (room.own, room.here, room.free_here)),
            ("cluster", (room.total, room.live, room.free)),
        ):
            for kind, value in zip(("total", "live", "free"), figures, strict=True):
                metrics.capacity.labels(scope, kind).set(value)

    metrics.on_refresh(counts)
    metrics.on_refresh(deliverer.refresh_metrics)


def create_app(settings: Settings, rooms: Rooms | None = None) -> web.Application:
    """The composition root: the one place where concrete classes are made and wired together. `rooms`: the
    conference connections to make instead of Janus VideoRoom ones (the fast tests' fake conference)."""
    app = web.Application(
        middlewares=[error_middleware, actor_scope, body_timeout(settings.request_body_timeout_seconds)],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    keys = _make_keys(settings)
    app[AUTHENTICATOR] = Authenticator(settings, keys.token, _clients(settings))
    _demo_facade_keys(settings)
    logcontext.install(settings.instance_id)
    use_port_range(settings.media_port_min, settings.media_port_max)
    app[METRICS] = Metrics()
    app[OUTBOUND] = policy_of(settings)
    app.cleanup_ctx.append(functools.partial(_service, keys, rooms))
    app[RTK_SIGNER] = keys.webhooks
    add_routes(app, settings)
    return app


async def _service(keys: _Keys, rooms: Rooms | None, app: web.Application) -> AsyncIterator[None]:
    """The service's parts, made, started, and shut down in order."""
    settings, metrics, policy = app[SETTINGS], app[METRICS], app[OUTBOUND]
    async with (
        await open_store(_database_url(settings), settings.sqlite_file) as store,
        aiohttp.ClientSession() as http,
    ):
        profiles = StorageProfiles(settings, store.profiles, keys.credentials, policy)
        await profiles.load()
        webhooks = Webhooks(settings, store.webhooks, keys.credentials, policy)
        await webhooks.load()
        providers = Providers(profiles, policy)
        uploader = _make_uploader(settings, store, providers, metrics)

        def key_template(application_id: str) -> str:
            return profiles.get(application_id).key_template

        sidecars = _make_sidecars(settings, store, uploader, key_template)
        address = settings.public_url or f"http://{settings.host}:{settings.port}"
        cluster = Cluster(
            store.cluster,
            store.database,
            ClusterOptions(
                settings.instance_id,
                address,
                settings.lease_seconds,
                settings.heartbeat_seconds,
                settings.liveness_seconds,
                settings.capacity,
            ),
        )
        admission = Admission(settings, metrics)
        durability = Durability(store.journal, providers.of, settings.segment_seconds)
        recordings = RecordingService(
            settings,
            store.recordings,
            store.cluster,
            cluster,
            uploader,
            Conferences(http, settings.conference_request_timeout_seconds, Ingests(), rooms),
            admission,
            Leftovers(
                store.cluster,
                store.recordings,
                uploader,
                key_template,
                durability,
                settings.spool,
                settings.media_lost_after_seconds,
            ),
            key_template,
            lambda recording: sidecars.store(recording, key_template),
            metrics,
            subscribe=lambda recording, url, format_: webhooks.for_recording(recording, url, format_),
            durability=durability if settings.segment_seconds else None,
        )
        compositions = _make_compositions(
            settings, store, recordings, uploader, providers, key_template, cluster, metrics
        )
        app[RECORDINGS], app[COMPOSITIONS] = recordings, compositions
        app[CHAT], app[COBROWSE] = sidecars.chat, sidecars.cobrowse
        storage = app[STORAGE] = StorageAdmin(settings, profiles, providers, uploader)
        downloads = app[DOWNLOADS] = Downloads(keys.signer, providers, settings.public_url, API, COMPOSITION_API)
        links = Links(downloads, store.recordings, store.compositions, address)
        signers = {Format.REALTIMEKIT.value: keys.webhooks.headers}  # (beside Standard Webhooks' signature)
        deliverer = Deliverer(settings, store.webhooks, webhooks, links, store.database, metrics, policy, signers)
        app[WEBHOOKS], app[DELIVERER] = webhooks, deliverer
        evidence = app[EVIDENCE] = _make_evidence(
            settings, store, keys, providers, uploader, compositions, key_template
        )
        downloads.access = evidence.access
        core = ServiceCore(recordings)  # the facades' port
        app[COACHING] = CoachingSessions(store.sessions, core, compositions, downloads)
        app[REALTIMEKIT] = RealtimeKitRecordings(core, storage, downloads)
        app[VIDEOSDK] = VideoSdkTracks(core, webhooks.check_url)
        app[READINESS] = Readiness(settings, store.database, admission.room, lambda: cluster.draining)
        _count_at_scrape(metrics, store, deliverer, recordings)

        async def tidy() -> None:  # after each retention round
            profiles.forget_own()
            await providers.evict_idle()

        background = TaskSet("service")
        background.spawn(metrics.watch_loop_lag(), name="event-loop-lag")
        background.spawn(Retention(settings, store.retention, tidy).run(), name="retention")

        background.spawn(evidence.run(), name="evidence")

        await admission.keep_reserve()
        await evidence.start()
        await uploader.start()
        await cluster.start()
        await compositions.start()
        await deliverer.start()
        try:
            yield
        finally:
            # take no new work; hand the recordings over (or stop them); give uploads under way
            # `shutdown_upload_deadline_seconds`; leave the rest (leases given up) to the others or the next start
            await recordings.aclose()
            await sidecars.chat.aclose()
            await _bounded("compositions", compositions.aclose())
            left = await uploader.drain(settings.shutdown_upload_deadline_seconds)
            if left:
                logger.warning("%d uploads are left to the other instances (or the next start)", left)
            await _bounded("webhooks", deliverer.aclose())
            await background.aclose()
            await _bounded("access log", evidence.aclose())
            await _bounded("cluster", cluster.aclose())
            await _bounded("uploader", uploader.aclose())
            await _bounded("storage providers", providers.aclose())
            logger.info("shut down: recordings, compositions, uploads and leases given up; closing the database")
