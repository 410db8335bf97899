"""The application's typed keys, in one place: the capabilities the handlers call."""

from __future__ import annotations

from aiohttp import web

from recorder.compositions.queue import Compositions
from recorder.downloads import Downloads
from recorder.events.delivery import Deliverer
from recorder.events.health import Readiness
from recorder.events.metrics import Metrics
from recorder.events.subscriptions import Webhooks
from recorder.outbound import OutboundPolicy
from recorder.recordings.service import RecordingService
from recorder.sessions.coaching import CoachingSessions
from recorder.settings import Settings
from recorder.sidecars.chat import ChatTranscripts
from recorder.sidecars.cobrowse import CobrowseSessions
from recorder.uploads.admin import StorageAdmin

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
COACHING = web.AppKey("coaching", CoachingSessions)
OUTBOUND = web.AppKey("outbound", OutboundPolicy)
