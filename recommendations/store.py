"""Where trained picks live between the nightly training and the requests: Redis, under a version flipped at once.

Keys (`recs:` prefix): `current` names the version serving reads; `building` the one a training run is writing.
Under a version `v`: `recs:v:model` (the pickled `Model`, zlib-compressed, for per-reader refreshes in any worker
process), `recs:v:picks:<reader id>` (a reader's picks with their reasons) and `recs:v:also:<record id>` (the
record's also-borrowed neighbours). A run writes its whole version, then flips `current`, then deletes the old
version: a request reads `current` once and sees one whole model or the previous one, never half of each.

Size: one Redis value holds at most 512 MB. The model of the Shakespeare and Company loans pickles to a few MB; at
city scale (2M items x 100 neighbours) the co-borrow matrix alone is ~1.6 GB, so the model would move to a shared
file (or be split per source) before then; picks (~2 KB per reader) and neighbours (~200 B per record) stay here.
"""

from __future__ import annotations

import asyncio
import pickle
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence

import msgspec
from redis.asyncio import Redis

from recommendations.blend import Model
from recommendations.reasons import Pick

_CURRENT = "recs:current"
_BUILDING = "recs:building"
_BATCH = 1000  # keys per pipeline round trip


def _picks_key(version: str, reader_id: int) -> str:
    return f"recs:{version}:picks:{reader_id}"


def _also_key(version: str, record_id: int) -> str:
    return f"recs:{version}:also:{record_id}"


def _model_key(version: str) -> str:
    return f"recs:{version}:model"


_PICKS = msgspec.json.Decoder(list[Pick])
_IDS = msgspec.json.Decoder(list[int])
_ENCODE = msgspec.json.Encoder()


class PickStore:
    """The recommender's Redis keys, read by the API and written by the worker."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def current(self) -> str | None:
        version = await self._redis.get(_CURRENT)
        return version.decode() if version is not None else None

    async def picks(self, reader_id: int) -> list[Pick] | None:
        """The reader's stored picks, or None when the model has none for them (or there is no model)."""
        version = await self.current()
        if version is None:
            return None
        stored = await self._redis.get(_picks_key(version, reader_id))
        return _PICKS.decode(stored) if stored is not None else None

    async def also_borrowed(self, record_id: int) -> list[int]:
        version = await self.current()
        if version is None:
            return []
        stored = await self._redis.get(_also_key(version, record_id))
        return _IDS.decode(stored) if stored is not None else []

    async def forget_reader(self, reader_id: int) -> None:
        """Delete the reader's picks in the version served and in any being built (the profile a switch-off ends)."""
        versions = {v.decode() for v in await self._redis.mget(_CURRENT, _BUILDING) if v is not None}
        if versions:
            await self._redis.delete(*(_picks_key(version, reader_id) for version in versions))

    async def write_picks(self, version: str, picks: Mapping[int, Sequence[Pick]]) -> None:
        items = list(picks.items())
        for start in range(0, len(items), _BATCH):
            async with self._redis.pipeline(transaction=False) as pipe:
                for reader_id, reader_picks in items[start : start + _BATCH]:
                    pipe.set(_picks_key(version, reader_id), _ENCODE.encode(list(reader_picks)))
                await pipe.execute()

    async def write_also_borrowed(self, version: str, neighbours: Mapping[int, Sequence[int]]) -> None:
        items = list(neighbours.items())
        for start in range(0, len(items), _BATCH):
            async with self._redis.pipeline(transaction=False) as pipe:
                for record_id, others in items[start : start + _BATCH]:
                    pipe.set(_also_key(version, record_id), _ENCODE.encode(list(others)))
                await pipe.execute()

    async def begin(self, model_blob: bytes) -> str:
        """A new version, marked as being built, holding the model."""
        version = uuid.uuid4().hex[:12]
        await self._redis.set(_BUILDING, version)
        await self._redis.set(_model_key(version), model_blob)
        return version

    async def publish(self, version: str) -> None:
        """Serve `version` from now on and delete the one it replaces."""
        old = await self.current()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_CURRENT, version)
            pipe.delete(_BUILDING)
            await pipe.execute()
        if old is not None and old != version:
            await self.delete_version(old)

    async def delete_version(self, version: str) -> None:
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=f"recs:{version}:*", count=_BATCH):
            batch.append(key)
            if len(batch) >= _BATCH:
                await self._redis.unlink(*batch)
                batch = []
        if batch:
            await self._redis.unlink(*batch)

    async def model_blob(self, version: str) -> bytes | None:
        blob: bytes | None = await self._redis.get(_model_key(version))
        return blob


def pack_model(model: Model) -> bytes:
    return zlib.compress(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), 1)


class ModelCache:
    """The model of the version served, unpickled once per process and version (a refresh job needs it whole)."""

    def __init__(self) -> None:
        self._version: str | None = None
        self._model: Model | None = None

    async def model(self, store: PickStore) -> tuple[str, Model] | None:
        version = await store.current()
        if version is None:
            return None
        if version != self._version or self._model is None:
            blob = await store.model_blob(version)
            if blob is None:
                return None
            # Our own pickle, written by the training run into our own Redis: trusted as the code is.
            self._model = await asyncio.to_thread(_unpack, blob)
            self._version = version
        return version, self._model


def _unpack(blob: bytes) -> Model:
    model = pickle.loads(zlib.decompress(blob))
    if not isinstance(model, Model):
        raise TypeError("the stored model is not a recommendations Model")
    return model


def record_ids(keys: Iterable[str]) -> list[int]:
    """Item keys of the model (record ids as text) back to ids."""
    return [int(key) for key in keys]
