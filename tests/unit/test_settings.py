from datetime import time
from ipaddress import ip_network
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backend.settings import (
    CirculationSettings,
    InvalidSettings,
    NoticeSettings,
    SecuritySettings,
    Settings,
    variables,
)

KEY = "a-secret-key-of-some-length"


def refusal(environ: dict[str, str]) -> list[str]:
    with pytest.raises(InvalidSettings) as refused:
        Settings.from_env(environ)
    return refused.value.problems


def test_nothing_set_gives_the_defaults_of_the_embedded_setup() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.database.url == "" and settings.redis.url == ""
    assert settings.network.timezone == ZoneInfo("Asia/Shanghai")
    assert settings.notices.quiet_hours == (time(22), time(8))


def test_every_variable_keeps_its_name_from_before_the_groups() -> None:
    names = variables()
    assert len(names) == len(set(names))
    for name in [
        "SHUXIANG_DATA_DIR",
        "SHUXIANG_DATABASE_URL",
        "SHUXIANG_REDIS_URL",
        "SHUXIANG_SECRET_KEY",
        "SHUXIANG_WECHAT_APPID",
        "SHUXIANG_WECHAT_TEMPLATES_PATH",
        "SHUXIANG_TIMEZONE",
        "SHUXIANG_HOLD_SHELF_DAYS",
        "SHUXIANG_HOLDS_PREFER_LOCAL",
        "SHUXIANG_EVENT_CHECK_IN_BEFORE_MINUTES",
        "SHUXIANG_NO_SHOW_LIMIT",
        "SHUXIANG_QUIET_HOURS",
        "SHUXIANG_NOTICE_RETENTION_DAYS",
        "SHUXIANG_DUE_SOON_DAYS",
        "SHUXIANG_CARD_PAYLOAD_TTL_SECONDS",
        "SHUXIANG_PORT",
    ]:
        assert name in names


def test_each_variable_lands_in_its_group_as_its_type() -> None:
    settings = Settings.from_env(
        {
            "SHUXIANG_DATA_DIR": "/srv/shuxiang",
            "SHUXIANG_DATABASE_URL": "postgres://shuxiang@db/shuxiang",
            "SHUXIANG_SECRET_KEY": KEY,
            "SHUXIANG_HOLD_SHELF_DAYS": "10",
            "SHUXIANG_HOLDS_PREFER_LOCAL": "yes",
            "SHUXIANG_WECHAT_TIMEOUT_SECONDS": "2.5",
            "SHUXIANG_WECHAT_TEMPLATES_PATH": "",
            "SHUXIANG_TIMEZONE": "Asia/Urumqi",
            "SHUXIANG_QUIET_HOURS": "21:30-07:00",
            "SHUXIANG_NO_SHOW_LIMIT": "1",
            "SHUXIANG_DUE_SOON_DAYS": "2",
        }
    )
    assert settings.server.data_dir == Path("/srv/shuxiang")
    assert settings.circulation == CirculationSettings(hold_shelf_days=10, holds_prefer_local=True)
    assert settings.wechat.timeout_seconds == 2.5 and settings.wechat.templates_path is None
    assert settings.network.timezone == ZoneInfo("Asia/Urumqi")
    assert settings.notices == NoticeSettings(quiet_hours=(time(21, 30), time(7)), due_soon_days=2)
    assert settings.no_shows.limit == 1


def test_trusted_proxies_are_addresses_and_networks_separated_by_commas_or_spaces() -> None:
    settings = Settings.from_env({"SHUXIANG_TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.7  2001:db8::/32,"})
    assert settings.server.trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.7/32"),
        ip_network("2001:db8::/32"),
    )
    assert Settings.from_env({"SHUXIANG_TRUSTED_PROXIES": ""}).server.trusted_proxies == ()


def test_empty_quiet_hours_mean_none() -> None:
    assert Settings.from_env({"SHUXIANG_QUIET_HOURS": ""}).notices.quiet_hours is None


@pytest.mark.parametrize("word", ["true", "1", "Yes", "ON"])
def test_a_bool_reads_true_only_from_a_word_for_true(word: str) -> None:
    assert Settings.from_env({"SHUXIANG_HOLDS_PREFER_LOCAL": word}).circulation.holds_prefer_local


@pytest.mark.parametrize("word", ["false", "0", "No", "off"])
def test_a_bool_reads_false_from_a_word_for_false(word: str) -> None:
    assert not Settings.from_env({"SHUXIANG_HOLDS_PREFER_LOCAL": word}).circulation.holds_prefer_local


@pytest.mark.parametrize("word", ["", "y", "enabled", "2"])
def test_a_bool_that_is_not_a_bool_is_refused_rather_than_read_as_false(word: str) -> None:
    (problem,) = refusal({"SHUXIANG_HOLDS_PREFER_LOCAL": word})
    assert problem.startswith("SHUXIANG_HOLDS_PREFER_LOCAL: ") and "not a bool" in problem


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SHUXIANG_HOLD_SHELF_DAYS", "0", "must be at least 1"),
        ("SHUXIANG_HOLD_SHELF_DAYS", "seven", "not a whole number"),
        ("SHUXIANG_PORT", "70000", "must be at most 65535"),
        ("SHUXIANG_WECHAT_TIMEOUT_SECONDS", "0", "must be at least 0.1"),
        ("SHUXIANG_WECHAT_TIMEOUT_SECONDS", "soon", "not a number"),
        ("SHUXIANG_NOTICE_SEND_CONCURRENCY", "-4", "must be at least 1"),
        ("SHUXIANG_TIMEZONE", "Asia/Shangai", "not a time zone"),
        ("SHUXIANG_TIMEZONE", "Asia", "not a time zone"),
        ("SHUXIANG_TIMEZONE", "", "not a time zone"),
        ("SHUXIANG_QUIET_HOURS", "22:00", "not HH:MM-HH:MM"),
        ("SHUXIANG_QUIET_HOURS", "24:00-08:00", "not HH:MM-HH:MM"),
        ("SHUXIANG_QUIET_HOURS", "22:00-22:00", "same time"),
        ("SHUXIANG_SECRET_KEY", "too-short", "at least 16 characters"),
        ("SHUXIANG_CARD_PREFIX", "TL", "not 1 to 11 digits"),
        ("SHUXIANG_WECHAT_API_BASE", "api.weixin.qq.com", "not an http"),
        ("SHUXIANG_LOG_FORMAT", "yaml", "not one of json, text"),
        ("SHUXIANG_METRICS_TOKEN", "guessable", "at least 16 characters"),
        ("SHUXIANG_METRICS_WORKER_PORT", "70000", "must be at most 65535"),
        ("SHUXIANG_TRUSTED_PROXIES", "10.0.0.0/8, nginx", "'nginx' is not an IP address or network"),
        ("SHUXIANG_TRUSTED_PROXIES", "10.0.0.0/33", "not an IP address or network"),
        ("SHUXIANG_TRUSTED_PROXIES", "10.0.0.1/8", "neither the network 10.0.0.0/8 nor the address 10.0.0.1"),
    ],
)
def test_a_value_out_of_its_rules_is_refused_naming_its_variable(variable: str, value: str, says: str) -> None:
    (problem,) = refusal({variable: value})
    assert problem.startswith(f"{variable}: ") and says in problem


def test_a_database_url_needs_the_secret_key_every_host_shares() -> None:
    (problem,) = refusal({"SHUXIANG_DATABASE_URL": "postgres://shuxiang@db/shuxiang"})
    assert problem.startswith("SHUXIANG_SECRET_KEY: ") and "SHUXIANG_DATABASE_URL" in problem


def test_a_misspelt_variable_is_refused_with_the_name_it_probably_meant_and_the_valid_names() -> None:
    problems = refusal({"SHUXIANG_HOLD_SHELF_DAY": "3"})
    assert problems[0] == "SHUXIANG_HOLD_SHELF_DAY: not a setting (did you mean SHUXIANG_HOLD_SHELF_DAYS?)"
    assert problems[-1].startswith("the settings are: ") and "SHUXIANG_HOLD_SHELF_DAYS" in problems[-1]


def test_variables_of_other_programs_and_of_one_command_are_no_concern() -> None:
    Settings.from_env({"SHUXIANGX": "1", "PGHOST": "db", "SHUXIANG_ADMIN_PASSWORD": "a password"})


def test_every_problem_is_reported_at_once() -> None:
    problems = refusal({"SHUXIANG_PORT": "0", "SHUXIANG_TIMEZONE": "Mars/Olympus", "SHUXIANG_NO_SHOW_LIMT": "1"})
    assert [p.split(":")[0] for p in problems[:3]] == [
        "SHUXIANG_NO_SHOW_LIMT",
        "SHUXIANG_PORT",
        "SHUXIANG_TIMEZONE",
    ]


def test_settings_made_in_code_are_checked_too() -> None:
    with pytest.raises(InvalidSettings, match="SHUXIANG_SECRET_KEY"):
        SecuritySettings(secret_key="short")
    with pytest.raises(InvalidSettings, match="SHUXIANG_DUE_SOON_DAYS"):
        NoticeSettings(due_soon_days=0)


def test_secrets_stay_out_of_the_settings_repr() -> None:
    settings = Settings(security=SecuritySettings(secret_key=KEY))
    assert KEY not in repr(settings)
