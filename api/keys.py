"""The application's typed keys, in one place: the capabilities the handlers call (part of the composition
root: it names what `api.app` makes)."""

from __future__ import annotations

from aiohttp import web

from api.credentials import Authenticator
from recorder.compositions.queue import Compositions
from recorder.downloads import Downloads
from recorder.evidence.service import Evidence
from recorder.facades.coaching.sessions import CoachingSessions
from recorder.facades.realtimekit.recordings import RealtimeKitRecordings
from recorder.facades.realtimekit.signature import RtkSigner
from recorder.facades.videosdk.tracks import VideoSdkTracks
from recorder.operations.health import Readiness
from recorder.operations.metrics import Metrics
from recorder.outbound import OutboundPolicy
from recorder.recordings.service import RecordingService
from recorder.settings import Settings
from recorder.sidecars.chat import ChatTranscripts
from recorder.sidecars.cobrowse import CobrowseSessions
from recorder.uploads.admin import StorageAdmin
from recorder.webhooks.delivery import Deliverer
from recorder.webhooks.subscriptions import Webhooks

SETTINGS = web.AppKey("settings", Settings)
RECORDINGS = web.AppKey("recordings", RecordingService)
COMPOSITIONS = web.AppKey("compositions", Compositions)
CHAT = web.AppKey("chat", ChatTranscripts)
COBROWSE = web.AppKey("cobrowse", CobrowseSessions)
STORAGE = web.AppKey("storage", StorageAdmin)
DOWNLOADS = web.AppKey("downloads", Downloads)
WEBHOOKS = web.AppKey("webhooks", Webhooks)
DELIVERER = web.AppKey("deliverer", Deliverer)
METRICS = web.AppKey("metrics", Metrics)
READINESS = web.AppKey("readiness", Readiness)
EVIDENCE = web.AppKey("evidence", Evidence)
# the facades' domains (api.facades)
COACHING = web.AppKey("coaching", CoachingSessions)
REALTIMEKIT = web.AppKey("realtimekit", RealtimeKitRecordings)
RTK_SIGNER = web.AppKey("rtk_signer", RtkSigner)
VIDEOSDK = web.AppKey("videosdk", VideoSdkTracks)
OUTBOUND = web.AppKey("outbound", OutboundPolicy)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
