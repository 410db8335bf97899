"""Settings, read once at start-up (environment variables `RECORDER_*` and an optional TOML file)."""

from __future__ import annotations

import ipaddress
import os
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from recorder.addresses import Rule
from recorder.errors import NotFoundError
from recorder.signing import MAX_TTL
from storage_providers.settings import StorageSettings

CONFIG_FILE_VARIABLE = "RECORDER_CONFIG_FILE"


class JanusSettings(BaseModel):
    """The application's Janus server: the conference id of a start request is a VideoRoom room."""

    url: str = "http://127.0.0.1:8088/janus"
    api_secret: SecretStr | None = None
    # the VideoRoom plugin's `string_ids`: rooms have string ids (Auvious's conference ids are GUIDs); else
    # a conference id must be a room number (1 to 2^63-1)
    string_ids: bool = False


WebhookFormat = Literal["native", "videosdk", "realtimekit"]


class WebhookSettings(BaseModel):
    """A webhook subscription of the configuration (the admin API adds others): events signed with `secret`
    (Standard Webhooks: `whsec_` and the base64 of 24 to 64 random bytes); `events` None: every event."""

    id: str | None = None  # default: cfg-<application>-<its place in the list>
    url: str = Field(pattern=r"^https?://[!-~]+$")
    events: list[str] | None = None
    format: WebhookFormat = "native"
    secret: SecretStr


class CoachingSettings(BaseModel):
    """The coaching session API of an application (`/coaching/<application id>`): its end users send the app's
    own bearer tokens, JWTs signed HS256 with `jwt_secret` or RS256 with the private key of `jwt_public_key`
    (PEM), whose `user_claim` names the user and `user_type_claim` says `coach` or `customer`."""

    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    user_claim: str = "sub"
    user_type_claim: str = "user_type"
    issuer: str | None = None  # checked when set (`iss`)
    audience: str | None = None  # checked when set (`aud`)
    url_ttl_seconds: int = Field(default=7200, gt=0, le=MAX_TTL)  # a stream-record URL's life: 2 h

    @model_validator(mode="after")
    def _one_key(self) -> CoachingSettings:
        if (self.jwt_secret is None) == (self.jwt_public_key is None):
            raise ValueError("coaching needs exactly one of jwt_secret (HS256) and jwt_public_key (RS256)")
        return self


class RetentionSettings(BaseModel):
    """How long an application's records of what happened are kept once they are done with (days): its
    recordings' events, their webhook deliveries, and upload jobs that finished."""

    events_days: float = Field(default=90, gt=0)
    deliveries_days: float = Field(default=30, gt=0)
    upload_jobs_days: float = Field(default=30, gt=0)
    # the recordings themselves (their files, transcripts, cobrowse sessions, compositions and rows) are deleted
    # this long after they ended, with a signed receipt; a conversation under legal hold is kept. None: forever
    recordings_days: float | None = Field(default=None, gt=0)


class ApplicationSettings(BaseModel):
    id: str
    organization_id: str
    janus: JanusSettings = Field(default_factory=JanusSettings)
    storage: StorageSettings
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    coaching: CoachingSettings | None = None  # the coaching session API (None: not served for this application)
    # an S3 profile without credentials uses this machine's own AWS credentials (environment, instance role):
    # only when the operator says so for the application
    ambient_credentials: bool = False
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @model_validator(mode="after")
    def _own_credentials(self) -> ApplicationSettings:
        s3 = getattr(self.storage, "provider", None) == "AMAZON_S3"
        if s3 and self.storage.credentials is None and not self.ambient_credentials:
            raise ValueError(
                f"application {self.id}: its S3 storage has no credentials; set them, or set"
                " ambient_credentials = true to use this machine's own (environment, instance role)"
            )
        return self


class VideoSdkKeySettings(BaseModel):
    """A VideoSDK-style API key: clients send a JWT (HS256) signed with `secret` whose `apikey` claim is
    `api_key`; its calls act for `application_id` (and that application's organization) as an AGENT."""

    api_key: str = Field(min_length=1)
    secret: SecretStr
    application_id: str


class RealtimeKitKeySettings(BaseModel):
    """A RealtimeKit organization's API key: clients send `Authorization: Basic base64(organization_id:api_key)`;
    its calls act for `application_id` (and that application's organization) as an AGENT and a SUPERVISOR."""

    organization_id: str = Field(min_length=1)
    api_key: SecretStr
    application_id: str


class CloudflareTokenSettings(BaseModel):
    """A Cloudflare API token of the RealtimeKit recordings API as Cloudflare serves it (`cloudflare_api_base` +
    `/accounts/{account_id}/realtime/kit/{app_id}/recordings...`, `Authorization: Bearer <api_token>`): it acts
    only under its `account_id` and `app_id`, for `application_id`, as the RealtimeKit keys do."""

    api_token: SecretStr = Field(min_length=16)
    account_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    app_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    application_id: str


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Role(StrEnum):
    AGENT = "AGENT"  # starts and stops recordings, sends chat transcripts and cobrowse events
    SUPERVISOR = "SUPERVISOR"  # reads recordings, cobrowse sessions, compositions and their URLs
    ADMIN = "ADMIN"  # verifies storage and reads storage profiles
    SERVICE = "SERVICE"  # a machine client: requests, follows, cancels and runs again compositions
    AUDITOR = "AUDITOR"  # verifies recordings, reads the access log, places and releases legal holds


class ClientSettings(BaseModel):
    """An OAuth client (client_credentials): its secret is kept only as a hash (`python -m api.auth`)."""

    id: str = Field(min_length=1)
    secret_hash: SecretStr
    organization_id: str
    roles: list[Role] = Field(min_length=1)


class ApiKeySettings(BaseModel):
    """A static API key (`Authorization: <key>` or `Bearer <key>`), kept only as a hash."""

    name: str
    key_hash: SecretStr
    organization_id: str
    roles: list[Role] = Field(min_length=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECORDER_", env_nested_delimiter="__", extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    database_path: Path | None = None  # default: <data_dir>/recorder.sqlite3
    # postgresql://user:password@host:port/database: a database shared by several instances (else SQLite)
    database_url: SecretStr | None = None
    spool_dir: Path | None = None  # where tracks are written before they are stored; default <data_dir>/spool
    instance_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    public_url: str | None = None  # base of the URLs handed out; default: the request's own origin
    # without public_url: the Host headers whose origin links may be built on (a name or name:port); the
    # embedded default (listening on a loopback address) takes loopback names only
    allowed_hosts: list[str] = Field(default_factory=list)
    # the outbound policy's exceptions: networks (10.0.0.0/8, [fd00::]/8:443) and host names (minio.internal,
    # minio.internal:9000) that callers' webhooks and storage may reach although they are not public
    outbound_allow: list[str] = Field(default_factory=list)
    outbound_public: bool = True  # False: callers' destinations must be on outbound_allow, public ones too
    url_signing_key: SecretStr | None = None  # default: kept in <data_dir>/url-signing.key
    # Evidence: the Ed25519 private key (PEM) that signs seals, digests and deletion receipts (default: kept in
    # <data_dir>/evidence-signing.pem; several instances: set the same key on each; a new key rotates it: the
    # public keys of earlier ones stay served at /evidence/keys). Digests and receipts are stored under
    # `evidence_prefix` in each application's storage; the chores (sealing, digests, the retention of recordings)
    # run every `evidence_interval_seconds` on one instance; a digest is written every `evidence_digest_seconds`;
    # a recording is sealed `evidence_seal_after_seconds` after it ended and every upload of it finished.
    evidence_signing_key: SecretStr | None = None
    evidence_prefix: str = Field(default="_evidence", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    evidence_interval_seconds: float = Field(default=5.0, gt=0)
    evidence_digest_seconds: float = Field(default=3600.0, gt=0)
    evidence_seal_after_seconds: float = Field(default=2.0, ge=0)
    url_ttl_seconds: int = Field(default=3600, gt=0, le=MAX_TTL)
    ice_servers: list[str] = Field(default_factory=list)
    flush_interval_ms: int = Field(default=1000, ge=100)
    # While a track is written, what its file gained is copied to the recording's storage this often (a segment
    # object): a lost machine costs about this much of each track. 0: only when the track ends.
    segment_seconds: float = Field(default=1.0, ge=0)
    # A recording stops by itself after this much recorded time (pauses left out), this long with no publisher
    # in the room, this long with publishers but no packet on any recorded track, or paused this long. A start
    # request may ask for less or more, up to the `_max` (RealtimeKit's range: 60 s to 24 h).
    max_duration_seconds: float = Field(default=86400.0, ge=1)
    max_duration_seconds_max: float = Field(default=86400.0, ge=1)
    empty_room_timeout_seconds: float = Field(default=600.0, ge=1)
    empty_room_timeout_seconds_max: float = Field(default=86400.0, ge=1)
    no_media_timeout_seconds: float = Field(default=600.0, ge=1)
    no_media_timeout_seconds_max: float = Field(default=86400.0, ge=1)
    pause_timeout_seconds: float = Field(default=7200.0, ge=1)
    # media still on its way when a recording stops (the SFU, the network, our socket) is received this long
    # more, so that its files keep their last sound and frame (at the cost of as much after the stop)
    stop_drain_seconds: float = Field(default=0.15, ge=0, le=5)
    # each media socket's receive buffer: a burst (a keyframe) that arrives while the event loop is busy waits
    # in the kernel instead of being dropped (0: the kernel's default, about 208 KiB)
    media_receive_buffer_bytes: int = Field(default=4 << 20, ge=0, le=64 << 20)
    # the UDP ports the media (Janus subscriptions and WHIP publishers) arrive on; None: any (the kernel's)
    media_port_min: int | None = Field(default=None, ge=1024, le=65535)
    media_port_max: int | None = Field(default=None, ge=1024, le=65535)
    start_timeout_seconds: float = Field(default=10.0, gt=0)
    conference_request_timeout_seconds: float = Field(default=10.0, gt=0)
    # a conference server that is lost (restarted, unreachable) is joined again for this long; then the
    # recording ends ABORTED (CONFERENCE_ENDED), keeping what was recorded
    conference_rejoin_seconds: float = Field(default=60.0, ge=0)
    max_body_bytes: int = Field(default=1 << 20, gt=0)
    # a connection must send a whole request header this soon after it opens, and a request its whole body
    # this soon after its header (else 408): slow clients cannot hold the service's connections
    request_header_timeout_seconds: float = Field(default=10.0, gt=0)
    request_body_timeout_seconds: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"
    # default: one application `demo` of organization `demo`, its Janus on this machine, files in <data_dir>/storage
    applications: list[ApplicationSettings] = Field(default_factory=list)
    # With neither clients nor API keys configured, a client `demo` of organization `demo` with every role
    # is made, its secret written to <data_dir>/demo-client-secret.
    clients: list[ClientSettings] = Field(default_factory=list)
    api_keys: list[ApiKeySettings] = Field(default_factory=list)
    videosdk_keys: list[VideoSdkKeySettings] = Field(default_factory=list)  # the VideoSDK facade's clients
    realtimekit_keys: list[RealtimeKitKeySettings] = Field(default_factory=list)  # the RealtimeKit facade's
    # Cloudflare's own RealtimeKit API: its API tokens, and where its paths start (Cloudflare's SDKs' base_url)
    cloudflare_tokens: list[CloudflareTokenSettings] = Field(default_factory=list)
    cloudflare_api_base: str = Field(default="/client/v4", pattern=r"^(/[A-Za-z0-9._~-]+)+$")
    # RSA private key (PEM) that signs the `realtimekit` webhooks' rtk-signature; default: kept in
    # <data_dir>/webhook-signing.pem. Several instances: set the same key on each (its public key is served).
    webhook_signing_key: SecretStr | None = None
    token_signing_key: SecretStr | None = None  # HS256 key of access tokens; default: <data_dir>/token-signing.key
    token_ttl_seconds: int = Field(default=3600, gt=0, le=24 * 3600)
    # the token endpoint: failed attempts allowed per client id and per address in a minute (then 429)
    token_failures_per_client: int = Field(default=10, ge=1)
    token_failures_per_address: int = Field(default=30, ge=1)
    # a client secret in the token URL's query string (it ends up in proxies' logs): for old clients only
    token_secret_in_query: bool = False
    # the longest life (exp - iat) of a facade's bearer JWT (VideoSDK's, the coaching app's end users'); exp
    # is required
    facade_token_max_seconds: int = Field(default=86400, gt=0, le=30 * 86400)
    # WHIP ingests: a token's default life, and the publications one ingest may open (one at a time)
    ingest_ttl_seconds: int = Field(default=300, ge=60, le=86400)
    ingest_max_publications: int = Field(default=10, ge=1, le=1000)
    # per-application bounds: live recordings, webhook subscriptions, chat entries of a recording
    live_recordings_per_application: int = Field(default=200, ge=1)
    webhook_subscriptions_per_application: int = Field(default=20, ge=1)
    chat_entries_per_recording: int = Field(default=10000, ge=1)
    # how often the retention task prunes what outlived its application's retention
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    # key that encrypts the credentials of storage profiles set through the API; default: kept in
    # <data_dir>/storage-credentials.key. Changing it makes those credentials unreadable (set them again).
    storage_credentials_key: SecretStr | None = None
    upload_concurrency: int = Field(default=4, ge=1, le=64)
    # the uploads one destination (an application's storage, a recording's own) may run at once: a storage
    # that never answers holds at most this many workers (default: half of upload_concurrency, at least 1)
    upload_concurrency_per_destination: int | None = Field(default=None, ge=1, le=64)
    # one upload attempt ends (and is tried again later) after this long
    upload_attempt_timeout_seconds: float = Field(default=900.0, gt=0)
    upload_max_attempts: int = Field(default=8, ge=1)  # transient faults; a refusal fails at once
    upload_backoff_seconds: float = Field(default=2.0, gt=0)  # doubles each attempt...
    upload_backoff_max_seconds: float = Field(default=60.0, gt=0)  # ...up to this
    # Recordings are refused (503 with Retry-After) while less than `spool_headroom_bytes` is left, counting
    # both the disk's free space and `spool_quota_bytes` (when set) minus what the spool holds.
    # How many recordings one instance runs at most: a start beyond it is refused at once (503 CAPACITY with
    # Retry-After: another instance may have room), counted in the start's own transaction. None: calibrated
    # from bench/bench_recording.py, `recordings_per_core` for each core (about 1.1 % of a core per A/V stream
    # recorded, four streams a recording, two thirds of a core left for them beside Janus and the API).
    max_recordings: int | None = Field(default=None, ge=0)
    recordings_per_core: int = Field(default=15, ge=1)
    capacity_retry_after_seconds: int = Field(default=1, gt=0)
    spool_quota_bytes: int | None = Field(default=None, gt=0)
    spool_headroom_bytes: int = Field(default=1 << 30, ge=0)
    spool_retry_after_seconds: int = Field(default=60, gt=0)
    # kept allocated on the spool's disk and freed when the disk fills up, so that the files being written
    # can still be closed (indexes, last clusters) and stored
    spool_reserve_bytes: int = Field(default=16 << 20, ge=0)
    # Compositions run in worker processes of their own, at most this many at once, each with this many
    # encoder threads and this niceness (live recordings on the same machine come first).
    composition_concurrency: int = Field(default=1, ge=1, le=16)
    composition_threads: int = Field(default=1, ge=1, le=16)
    composition_nice: int = Field(default=10, ge=0, le=19)
    # ... and in Linux's SCHED_IDLE class: they get only the CPU time nothing else wants, so that live
    # recordings (and Janus beside them) never wait for a composition; off: niced only
    composition_idle: bool = True
    # Several instances: each renews its leases (recordings, upload jobs, compositions) every
    # `heartbeat_seconds`; a lease not renewed for `lease_seconds` ends and another instance takes the work over.
    lease_seconds: float = Field(default=10.0, ge=2)
    heartbeat_seconds: float = Field(default=2.0, gt=0)
    # On PostgreSQL each instance also holds a lock for as long as its database session lives (the server lets
    # it go the moment the process dies, or within about 3 s of its host vanishing); its peers look every
    # `liveness_seconds` and take over the work of one whose lock is gone on two looks in a row.
    liveness_seconds: float = Field(default=0.25, gt=0)
    # A dead instance's track with neither its file on this machine nor a segment in storage is waited for this
    # long (its instance may come back with its disk), then recorded as MEDIA_LOST.
    media_lost_after_seconds: float = Field(default=60.0, ge=0)
    # SIGTERM: `handover` leaves live recordings to another instance at once (PENDING_RECOVERY; a single
    # instance takes them up again when it is back), `stop` stops them. Either way uploads under way get
    # `shutdown_upload_deadline_seconds` to finish; the rest are left to the others (or the next start).
    shutdown_recordings: Literal["handover", "stop"] = "handover"
    shutdown_upload_deadline_seconds: float = Field(default=30.0, ge=0)
    # a stop sent to an instance that does not own the recording waits this long for the owner to stop it
    command_timeout_seconds: float = Field(default=15.0, gt=0)
    # storage verification's throughput probe: the payload uploaded then downloaded, and the slowest direction
    # that passes (Mbit/s)
    storage_probe_bytes: int = Field(default=1 << 20, ge=1024, le=5 << 20)
    storage_min_throughput_mbps: float = Field(default=5.0, ge=0)
    # webhooks: a delivery is tried at once, then after each wait of the schedule (with +-20 % jitter; Standard
    # Webhooks' schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 27.6 h), then it is FAILED
    webhook_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0], max_length=20
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    # an instance holds the deliveries it sends this long; one that dies leaves them to the others after it
    webhook_lease_seconds: float = Field(default=30.0, ge=1)
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)  # a look at the outbox at least this often
    webhook_rotation_grace_seconds: float = Field(default=86400.0, ge=0)  # the old secret signs too, meanwhile
    composition_preset: str = Field(default="veryfast", pattern=r"^(ultrafast|superfast|veryfast|faster|fast|medium)$")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)),)
        return sources

    @model_validator(mode="after")
    def _demo_application(self) -> Settings:
        if "applications" not in self.model_fields_set:
            storage = {"provider": "LOCAL_STORAGE", "path": str(self.data_dir / "storage")}
            demo = {"id": "demo", "organization_id": "demo", "storage": storage}
            self.applications = [ApplicationSettings.model_validate(demo)]
        return self

    @model_validator(mode="after")
    def _allowlist(self) -> Settings:
        for entry in self.outbound_allow:
            Rule.parse(entry)
        return self

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Settings:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError("heartbeat_seconds must be at most half of lease_seconds (a lease outlives a late beat)")
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must be longer than webhook_timeout_seconds")
        if self.public_url is None and not self.allowed_hosts and not _loopback(self.host):
            raise ValueError(
                "public_url (or allowed_hosts) must be set when the service listens beyond loopback: links are"
                " never built on a request's Host header"
            )
        low, high = self.media_port_min, self.media_port_max
        if (low is None) != (high is None) or (low is not None and high is not None and high < low):
            raise ValueError("media_port_min and media_port_max go together, min <= max")
        return self

    @property
    def upload_share(self) -> int:
        """The uploads one destination may run at once."""
        return self.upload_concurrency_per_destination or max(1, self.upload_concurrency // 2)

    @property
    def sqlite_file(self) -> Path:
        """The embedded database's file (used when `database_url` is not set)."""
        return self.database_path or self.data_dir / "recorder.sqlite3"

    @property
    def capacity(self) -> int:
        """How many recordings one instance runs at most (`max_recordings`, else `recordings_per_core` for each
        core)."""
        if self.max_recordings is not None:
            return self.max_recordings
        return self.recordings_per_core * (os.cpu_count() or 1)

    @property
    def spool(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

    def application(self, application_id: str) -> ApplicationSettings | None:
        return next((a for a in self.applications if a.id == application_id), None)

    def application_of(self, organization_id: str, application_id: str) -> ApplicationSettings:
        """The caller's application; one of another organization is as unknown as one that does not exist."""
        app = self.application(application_id)
        if app is None or app.organization_id != organization_id:
            raise NotFoundError(f"application {application_id!r} not found")
        return app
