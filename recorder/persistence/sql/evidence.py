"""Evidence in SQL: stored objects' hashes, keys, seals, digests, the access log (chained per organization under
an advisory lock on PostgreSQL; SQLite's transactions are serial already), holds, receipts and chores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from recorder.persistence.database import Connection, Database, Row
from recorder.persistence.ports import (
    AccessEntry,
    AccessQuery,
    DigestRecord,
    EvidenceStore,
    Hold,
    StoredRecord,
)
from recorder.persistence.sql.rows import LIVE, UNFINISHED_UPLOAD, time_text

_ACCESS_LOCK = 7205  # advisory locks (7205, hashtext(organization)): one writer of an organization's chain
SEAL_WINDOW = timedelta(days=30)  # a recording is sealed within this long of its end (its uploads done), or never


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _stored(r: Row) -> StoredRecord:
    return StoredRecord(
        r["organization_id"],
        r["application_id"],
        r["conversation_id"],
        r["recorder_id"],
        r["composition_id"],
        r["kind"],
        r["subject"],
        r["object_key"],
        int(r["size"]),
        r["sha256"],
        r["version"],
        bool(r["own_storage"]),
        _when(r["stored"]),
        int(r["id"]),
        None if r["digest_seq"] is None else int(r["digest_seq"]),
        None if r["deleted"] is None else _when(r["deleted"]),
        r["receipt_id"],
    )


def _entry(r: Row) -> AccessEntry:
    return AccessEntry(
        r["organization_id"],
        r["application_id"],
        _when(r["at"]),
        r["action"],
        r["caller"],
        r["caller_type"],
        tuple(json.loads(r["roles"])),
        r["user_id"],
        r["conversation_id"],
        r["recorder_id"],
        r["object"],
        r["detail"],
        int(r["seq"]),
        r["prev"],
        r["hash"],
    )


def _hold(r: Row) -> Hold:
    return Hold(
        r["organization_id"], r["conversation_id"], r["application_id"], r["reason"], r["placed_by"], _when(r["placed"])
    )


def _digest(r: Row) -> DigestRecord:
    return DigestRecord(
        r["application_id"],
        int(r["seq"]),
        r["object_key"],
        r["sha256"],
        r["kid"],
        r["signature"],
        int(r["objects"]),
        _when(r["created"]),
    )


class SqlEvidence(EvidenceStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def publish_key(self, kid: str, public_pem: str) -> None:
        await self._db.execute(
            "INSERT INTO evidence_keys (kid, public_key, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            kid,
            public_pem,
            time_text(datetime.now().astimezone()),
        )

    async def keys(self) -> list[tuple[str, str, datetime]]:
        rows = await self._db.fetch("SELECT kid, public_key, created FROM evidence_keys ORDER BY created, kid")
        return [(r["kid"], r["public_key"], _when(r["created"])) for r in rows]

    async def record_object(self, record: StoredRecord) -> bool:
        r = record
        written = await self._db.execute(
            "INSERT INTO stored_objects (organization_id, application_id, conversation_id, recorder_id,"
            " composition_id, kind, subject, object_key, size, sha256, version, own_storage, stored)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            r.organization_id,
            r.application_id,
            r.conversation_id,
            r.recorder_id,
            r.composition_id,
            r.kind,
            r.subject,
            r.key,
            r.size,
            r.sha256,
            r.version,
            int(r.own_storage),
            time_text(r.stored),
        )
        return written == 1

    async def objects(
        self, organization_id: str, conversation_id: str | None = None, recorder_id: str | None = None
    ) -> list[StoredRecord]:
        sql, args = "SELECT * FROM stored_objects WHERE organization_id = ?", [organization_id]
        if conversation_id is not None:
            sql, args = sql + " AND conversation_id = ?", [*args, conversation_id]
        if recorder_id is not None:
            sql, args = sql + " AND recorder_id = ?", [*args, recorder_id]
        return [_stored(r) for r in await self._db.fetch(sql + " ORDER BY id", *args)]

    async def undigested(self, application_id: str, limit: int) -> list[StoredRecord]:
        rows = await self._db.fetch(
            "SELECT * FROM stored_objects WHERE application_id = ? AND digest_seq IS NULL ORDER BY id LIMIT ?",
            application_id,
            limit,
        )
        return [_stored(r) for r in rows]

    async def digest_head(self, application_id: str) -> DigestRecord | None:
        rows = await self._db.fetch(
            "SELECT * FROM evidence_digests WHERE application_id = ? ORDER BY seq DESC LIMIT 1", application_id
        )
        return _digest(rows[0]) if rows else None

    async def add_digest(self, digest: DigestRecord, object_ids: list[int]) -> bool:
        d = digest
        async with self._db.transaction() as db:
            written = await db.execute(
                "INSERT INTO evidence_digests (application_id, seq, object_key, sha256, kid, signature, objects,"
                " created) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                d.application_id,
                d.seq,
                d.key,
                d.sha256,
                d.kid,
                d.signature,
                d.objects,
                time_text(d.created),
            )
            if written != 1:
                return False
            await db.execute_many(
                "UPDATE stored_objects SET digest_seq = ? WHERE id = ?", [(d.seq, i) for i in object_ids]
            )
        return True

    async def applications_to_digest(self) -> list[str]:
        rows = await self._db.fetch("SELECT DISTINCT application_id FROM stored_objects WHERE digest_seq IS NULL")
        return sorted(r["application_id"] for r in rows)

    async def to_seal(self, ended_before: datetime, limit: int) -> list[str]:
        rows = await self._db.fetch(
            f"SELECT r.recorder_id FROM recordings r WHERE r.state NOT IN ({LIVE}) AND r.stopped > ?"
            " AND r.stopped < ? AND NOT EXISTS (SELECT 1 FROM evidence_seals s WHERE s.recorder_id = r.recorder_id)"
            " AND (r.manifest_location IS NOT NULL OR r.manifest_error IS NOT NULL"
            " OR NOT EXISTS (SELECT 1 FROM tracks t WHERE t.recorder_id = r.recorder_id))"
            " AND NOT EXISTS (SELECT 1 FROM upload_jobs j WHERE j.recorder_id = r.recorder_id"
            f" AND j.state IN {UNFINISHED_UPLOAD}) ORDER BY r.stopped LIMIT ?",
            time_text(ended_before - SEAL_WINDOW),
            time_text(ended_before),
            limit,
        )
        return [r["recorder_id"] for r in rows]

    async def add_seal(self, recorder_id: str, key: str, kid: str, signature: str) -> bool:
        written = await self._db.execute(
            "INSERT INTO evidence_seals (recorder_id, object_key, kid, signature, created) VALUES (?,?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            recorder_id,
            key,
            kid,
            signature,
            time_text(datetime.now().astimezone()),
        )
        return written == 1

    async def seal(self, recorder_id: str) -> tuple[str, str, str] | None:
        rows = await self._db.fetch(
            "SELECT object_key, kid, signature FROM evidence_seals WHERE recorder_id = ?", recorder_id
        )
        return (rows[0]["object_key"], rows[0]["kid"], rows[0]["signature"]) if rows else None

    async def _append(self, db: Connection, organization_id: str, entries: list[AccessEntry]) -> None:
        if self._db.dialect == "postgresql":
            await db.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", _ACCESS_LOCK, organization_id)
        head = await db.fetch(
            "SELECT hash FROM access_log WHERE organization_id = ? ORDER BY seq DESC LIMIT 1", organization_id
        )
        prev = head[0]["hash"] if head else ""
        rows = []
        for entry in entries:  # each chained to the one before it, in the order given
            row = entry.chained(prev)
            rows.append(
                (
                    row.organization_id,
                    row.application_id,
                    row.at.isoformat(),
                    row.action,
                    row.caller,
                    row.caller_type,
                    json.dumps(list(row.roles)),
                    row.user_id,
                    row.conversation_id,
                    row.recorder_id,
                    row.object,
                    row.detail,
                    row.prev,
                    row.hash,
                )
            )
            prev = row.hash
        await db.execute_many(
            "INSERT INTO access_log (organization_id, application_id, at, action, caller, caller_type, roles,"
            " user_id, conversation_id, recorder_id, object, detail, prev, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    async def append(self, entries: list[AccessEntry]) -> None:
        by_organization: dict[str, list[AccessEntry]] = {}
        for entry in entries:
            by_organization.setdefault(entry.organization_id, []).append(entry)
        for organization_id, rows in sorted(by_organization.items()):
            async with self._db.transaction() as db:
                await self._append(db, organization_id, rows)

    async def access(self, query: AccessQuery) -> list[AccessEntry]:
        q = query
        sql, args = "SELECT * FROM access_log WHERE organization_id = ? AND seq > ?", [q.organization_id, q.after_seq]
        for column, value in (("conversation_id", q.conversation_id), ("caller", q.caller)):
            if value is not None:
                sql, args = f"{sql} AND {column} = ?", [*args, value]
        if q.since is not None:
            sql, args = sql + " AND at >= ?", [*args, q.since.isoformat()]
        if q.until is not None:
            sql, args = sql + " AND at < ?", [*args, q.until.isoformat()]
        return [_entry(r) for r in await self._db.fetch(sql + " ORDER BY seq LIMIT ?", *args, q.limit)]

    async def access_chain(self, organization_id: str, after_seq: int, limit: int) -> list[AccessEntry]:
        return await self.access(AccessQuery(organization_id, after_seq=after_seq, limit=limit))

    async def access_head(self, organization_id: str) -> tuple[int, str] | None:
        rows = await self._db.fetch(
            "SELECT seq, hash FROM access_log WHERE organization_id = ? ORDER BY seq DESC LIMIT 1", organization_id
        )
        return (int(rows[0]["seq"]), rows[0]["hash"]) if rows else None

    async def place_hold(self, hold: Hold) -> Hold:
        h = hold
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO legal_holds (organization_id, conversation_id, application_id, reason, placed_by, placed)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                h.organization_id,
                h.conversation_id,
                h.application_id,
                h.reason,
                h.placed_by,
                time_text(h.placed),
            )
            rows = await db.fetch(
                "SELECT * FROM legal_holds WHERE organization_id = ? AND conversation_id = ?",
                h.organization_id,
                h.conversation_id,
            )
        return _hold(rows[0])

    async def release_hold(self, organization_id: str, conversation_id: str) -> Hold | None:
        async with self._db.transaction() as db:
            rows = await db.fetch(
                "SELECT * FROM legal_holds WHERE organization_id = ? AND conversation_id = ?",
                organization_id,
                conversation_id,
            )
            await db.execute(
                "DELETE FROM legal_holds WHERE organization_id = ? AND conversation_id = ?",
                organization_id,
                conversation_id,
            )
        return _hold(rows[0]) if rows else None

    async def holds(self, organization_id: str, conversation_id: str | None = None) -> list[Hold]:
        sql, args = "SELECT * FROM legal_holds WHERE organization_id = ?", [organization_id]
        if conversation_id is not None:
            sql, args = sql + " AND conversation_id = ?", [*args, conversation_id]
        return [_hold(r) for r in await self._db.fetch(sql + " ORDER BY placed, conversation_id", *args)]

    async def expired(self, application_id: str, ended_before: datetime, limit: int) -> list[tuple[str, str, str]]:
        rows = await self._db.fetch(
            f"SELECT r.organization_id, r.conversation_id, r.recorder_id FROM recordings r"
            f" WHERE r.application_id = ? AND r.state NOT IN ({LIVE}) AND r.stopped IS NOT NULL AND r.stopped < ?"
            " AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.organization_id = r.organization_id"
            " AND h.conversation_id = r.conversation_id) ORDER BY r.stopped LIMIT ?",
            application_id,
            time_text(ended_before),
            limit,
        )
        return [(r["organization_id"], r["conversation_id"], r["recorder_id"]) for r in rows]

    async def forget(
        self, organization_id: str, conversation_id: str, recorder_ids: list[str], receipt: tuple[str, str, str]
    ) -> None:
        receipt_id, application_id, document = receipt
        deleted = time_text(datetime.now().astimezone())
        each = [(r,) for r in recorder_ids]
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO deletion_receipts (id, organization_id, application_id, conversation_id, document,"
                " created) VALUES (?,?,?,?,?,?)",
                receipt_id,
                organization_id,
                application_id,
                conversation_id,
                document,
                deleted,
            )
            for table in (
                "cobrowse_events",
                "cobrowse_sessions",
                "chat_entries",
                "chat_transcripts",
                "track_segments",
                "tracks",
                "streams",
                "upload_jobs",
                "recording_storage",
                "webhook_subscriptions",
                "evidence_seals",
                "recorder_instances",
            ):
                await db.execute_many(f"DELETE FROM {table} WHERE recorder_id = ?", each)
            await db.execute_many("UPDATE coaching_sessions SET recorder_id = NULL WHERE recorder_id = ?", each)
            await db.execute_many("DELETE FROM recordings WHERE recorder_id = ?", each)
            await db.execute_many(
                "UPDATE stored_objects SET deleted = ?, receipt_id = ? WHERE recorder_id = ? AND deleted IS NULL",
                [(deleted, receipt_id, r) for r in recorder_ids],
            )
            left = await db.fetch(
                "SELECT 1 FROM recordings WHERE organization_id = ? AND conversation_id = ? LIMIT 1",
                organization_id,
                conversation_id,
            )
            if not left:  # the conversation is gone: so are its compositions
                await db.execute(
                    "UPDATE stored_objects SET deleted = ?, receipt_id = ? WHERE organization_id = ?"
                    " AND conversation_id = ? AND composition_id IS NOT NULL AND deleted IS NULL",
                    deleted,
                    receipt_id,
                    organization_id,
                    conversation_id,
                )
                await db.execute(
                    "DELETE FROM compositions WHERE organization_id = ? AND conversation_id = ?",
                    organization_id,
                    conversation_id,
                )

    async def receipt(self, organization_id: str, receipt_id: str) -> str | None:
        rows = await self._db.fetch(
            "SELECT document FROM deletion_receipts WHERE organization_id = ? AND id = ?", organization_id, receipt_id
        )
        return str(rows[0]["document"]) if rows else None

    async def claim_chore(self, name: str, holder: str, lease_until: float, now: float) -> bool:
        written = await self._db.execute(
            "INSERT INTO chores (name, holder, lease_until) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
            " SET holder = excluded.holder, lease_until = excluded.lease_until"
            " WHERE chores.holder = excluded.holder OR chores.lease_until < ?",
            name,
            holder,
            lease_until,
            now,
        )
        return written == 1
