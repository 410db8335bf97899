"""The StorageProfileStore contract."""

from __future__ import annotations

from recorder.persistence.ports import StoredProfile
from recorder.persistence.store import Store


async def test_save_replaces_an_applications_profile(store: Store) -> None:
    await store.profiles.save(StoredProfile("app1", "{}", None))
    await store.profiles.save(StoredProfile("app1", '{"a":1}', "token"))
    assert await store.profiles.all() == [StoredProfile("app1", '{"a":1}', "token")]


async def test_all_lists_by_application(store: Store) -> None:
    for app in ("b", "a"):
        await store.profiles.save(StoredProfile(app, "{}", None))
    assert [p.application_id for p in await store.profiles.all()] == ["a", "b"]


async def test_delete_says_whether_there_was_one(store: Store) -> None:
    await store.profiles.save(StoredProfile("app1", "{}", None))
    assert await store.profiles.delete("app1")
    assert not await store.profiles.delete("app1")
    assert await store.profiles.all() == []
