"""Where the APIs are mounted."""

from __future__ import annotations

API = "/rtc-recorder/api"  # the recorder API (Auvious)
LEGACY_PREFIX = "/auvious.video"  # the recorder API answers below this prefix too
COMPOSITION_API = "/composition/api"
TOKEN_PATH = "/security/oauth/token"
REALTIMEKIT = "/realtimekit"  # the RealtimeKit facade: https://api.realtime.cloudflare.com becomes <base>/realtimekit
VIDEOSDK = "/videosdk"  # the VideoSDK facade: its clients change https://api.videosdk.live to <base>/videosdk
COACHING = "/coaching"  # the coaching session API: its app changes its API base to <base>/coaching/<application id>
WHIP = "/whip"  # WHIP ingest (RFC 9725): publishers send to the recorder directly
