"""The model in Redis: stored in pieces under its version, read back whole, refused when of another format."""

import logging
import pickle
import zlib

import pytest

from recommendations.blend import SHIPPED, Model, train
from recommendations.data import days_of
from recommendations.store import MODEL_FORMAT, ModelCache, PickStore, pack_model
from tests.integration.service import Service
from tests.unit.recommendations.test_blend import CUTOFF, clustered_loans


def trained() -> Model:
    model = train(clustered_loans(), {}, {}, days_of(CUTOFF))
    model.histories.clear()
    return model


async def _keys(service: Service, version: str) -> set[bytes]:
    return {key async for key in service.redis.scan_iter(match=f"recs:{version}:*")}


async def test_a_model_stored_in_pieces_is_read_back_whole_and_deleted_with_its_version(service: Service) -> None:
    model = trained()
    pieces = pack_model(model, chunk_bytes=1024)
    store = PickStore(service.redis)

    version = await store.begin(pieces)
    await store.publish(version)
    loaded = await ModelCache().model(store)

    assert len(pieces) > 2
    assert await _keys(service, version) == {f"recs:{version}:model".encode()} | {
        f"recs:{version}:model:{index}".encode() for index in range(len(pieces))
    }
    assert loaded is not None and loaded[0] == version
    history = model.history_from([("c0-00", days_of(CUTOFF))])
    assert loaded[1].recommend(history, SHIPPED, 10) == model.recommend(history, SHIPPED, 10)

    await store.publish(await store.begin(pack_model(model)))
    assert await _keys(service, version) == set()


async def test_a_model_missing_a_piece_is_no_model_yet(service: Service) -> None:
    store = PickStore(service.redis)
    version = await store.begin(pack_model(trained(), chunk_bytes=4096))
    await store.publish(version)
    await service.redis.delete(f"recs:{version}:model:1")  # its version being deleted as it is read

    assert await ModelCache().model(store) is None


async def test_a_model_of_the_former_format_in_one_value_is_refused_once(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    store = PickStore(service.redis)
    version = await store.begin([])
    await store.publish(version)
    former = b"shuxiang-recs-model:3\n" + zlib.compress(pickle.dumps(trained()), 1)
    await service.redis.set(f"recs:{version}:model", former)
    models = ModelCache()

    with caplog.at_level(logging.WARNING, logger="recommendations.store"):
        assert await models.model(store) is None
        assert await models.model(store) is None

    assert [record.getMessage() for record in caplog.records if "another format" in record.getMessage()] == [
        f"the stored model {version} is of another format (shuxiang-recs-model:3) than {MODEL_FORMAT}: no refreshes "
        "until the next training"
    ]
