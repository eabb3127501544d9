from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from backend import db
from tests.integration.conftest import Service


async def test_the_committed_migrations_describe_the_models_exactly(service: Service) -> None:
    apps = db.tortoise_config(service.settings.effective_database_url)["apps"]

    pending = await MigrationAutodetector(Tortoise.apps, apps).changes()

    assert [w.name for w in pending] == [], "models changed without a migration: run `tortoise makemigrations`"
