from tests.integration.service import Service

METHODS = {"get", "put", "post", "delete", "patch"}


async def test_every_operation_has_a_short_summary_and_a_description(service: Service) -> None:
    schema = (await service.client.get("/docs/openapi.json")).json()

    operations = [
        (f"{method.upper()} {path}", operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    unsummarised = [name for name, op in operations if not 0 < len(op.get("summary", "")) <= 90]
    undescribed = [name for name, op in operations if not op.get("description", "").strip()]

    assert len(operations) > 100
    assert (unsummarised, undescribed) == ([], [])


async def test_an_operation_is_summarised_by_its_docstrings_first_clause(service: Service) -> None:
    schema = (await service.client.get("/docs/openapi.json")).json()

    checkout = schema["paths"]["/staff/checkouts"]["post"]

    assert checkout["summary"] == "Lend a copy at the desk"
    assert checkout["description"].startswith("Lend a copy at the desk: ")
