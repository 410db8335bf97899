"""Storage profiles set through the API, in SQL (credentials arrive encrypted)."""

from __future__ import annotations

from recorder.persistence.database import Database
from recorder.persistence.ports import StorageProfileStore, StoredProfile


class SqlStorageProfiles(StorageProfileStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def all(self) -> list[StoredProfile]:
        rows = await self._db.fetch("SELECT * FROM storage_profiles ORDER BY application_id")
        return [StoredProfile(r["application_id"], r["settings"], r["credentials"]) for r in rows]

    async def save(self, profile: StoredProfile) -> None:
        await self._db.execute(
            "INSERT INTO storage_profiles (application_id, settings, credentials) VALUES (?,?,?)"
            " ON CONFLICT (application_id) DO UPDATE SET settings = excluded.settings,"
            " credentials = excluded.credentials",
            profile.application_id,
            profile.settings,
            profile.credentials,
        )

    async def delete(self, application_id: str) -> bool:
        return await self._db.execute("DELETE FROM storage_profiles WHERE application_id = ?", application_id) > 0

    async def save_own(self, recorder_id: str, profile: StoredProfile, public: str) -> None:
        await self._db.execute(
            "INSERT INTO recording_storage (recorder_id, settings, credentials, public) VALUES (?,?,?,?)",
            recorder_id,
            profile.settings,
            profile.credentials,
            public,
        )

    async def own(self, recorder_id: str) -> tuple[StoredProfile, str] | None:
        rows = await self._db.fetch("SELECT * FROM recording_storage WHERE recorder_id = ?", recorder_id)
        if not rows:
            return None
        row = rows[0]
        return StoredProfile(row["recorder_id"], row["settings"], row["credentials"]), row["public"]
