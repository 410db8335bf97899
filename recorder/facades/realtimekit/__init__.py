"""Cloudflare RealtimeKit's recordings over ours: `wire` (its recording object and statuses, also the
`realtimekit` webhook format's), `storage` (a recording's own `storage_config` as our storage profile),
`recordings` (start, act, read for an organization's key). Its HTTP side is `api.facades.realtimekit`."""
