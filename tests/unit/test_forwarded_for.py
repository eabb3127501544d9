from ipaddress import ip_network
from typing import Any

import pytest

from backend.settings import Networks
from miniprogram_api.client_address import UNKNOWN, client_address

PROXIES = Networks((ip_network("10.0.0.0/8"), ip_network("2001:db8:aa::/48")))


def scope(peer: str | None, *forwarded_for: str | bytes) -> Any:
    headers = [(b"host", b"shuxiang.test")] + [
        (b"x-forwarded-for", value if isinstance(value, bytes) else value.encode("latin-1")) for value in forwarded_for
    ]
    return {"type": "http", "client": None if peer is None else (peer, 50000), "headers": headers}


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert client_address(scope("10.0.0.2", "198.51.100.1"), Networks()) == "10.0.0.2"


def test_an_untrusted_peers_forwarded_for_is_ignored() -> None:
    assert client_address(scope("203.0.113.7", "198.51.100.1, 10.0.0.2"), PROXIES) == "203.0.113.7"


def test_a_trusted_peer_forwards_for_the_rightmost_address() -> None:
    assert client_address(scope("10.0.0.2", "198.51.100.1"), PROXIES) == "198.51.100.1"


def test_trusted_hops_are_skipped_from_the_right_and_the_first_untrusted_one_is_the_client() -> None:
    forwarded = "192.0.2.99, 198.51.100.1, 10.1.1.1, 10.0.0.9"
    assert client_address(scope("10.0.0.2", forwarded), PROXIES) == "198.51.100.1"


def test_several_forwarded_for_headers_are_one_list_in_order() -> None:
    assert client_address(scope("10.0.0.2", "198.51.100.1", "198.51.100.2, 10.0.0.9"), PROXIES) == "198.51.100.2"


def test_a_trusted_peer_without_the_header_is_the_client() -> None:
    assert client_address(scope("10.0.0.2"), PROXIES) == "10.0.0.2"


def test_when_every_hop_is_trusted_the_leftmost_is_the_client() -> None:
    assert client_address(scope("10.0.0.2", "10.0.0.7, 10.0.0.9"), PROXIES) == "10.0.0.7"


@pytest.mark.parametrize(
    "forwarded",
    ["not-an-address", "198.51.100.1:443", "[2001:db8::1]", "999.0.0.1", "", " ", ",,", "198.51.100.1,", "unknown"],
)
def test_a_malformed_last_hop_leaves_the_peer_as_the_client(forwarded: str) -> None:
    assert client_address(scope("10.0.0.2", forwarded), PROXIES) == "10.0.0.2"


def test_a_malformed_hop_ends_the_walk_at_the_last_trusted_hop() -> None:
    assert client_address(scope("10.0.0.2", "198.51.100.1, junk, 10.0.0.9"), PROXIES) == "10.0.0.9"


def test_bytes_that_are_not_text_end_the_walk_without_raising() -> None:
    assert client_address(scope("10.0.0.2", b"\xff\xfe\x00, \xe4\xb8\xad"), PROXIES) == "10.0.0.2"


def test_ipv6_proxies_and_clients_are_walked_alike() -> None:
    forwarded = "2001:db8:1::5, 2001:db8:aa::1"
    assert client_address(scope("2001:db8:aa::2", forwarded), PROXIES) == "2001:db8:1::5"


def test_addresses_are_compared_and_given_in_one_form() -> None:
    assert client_address(scope("::ffff:10.0.0.2", "2001:DB8:1:0:0:0:0:5"), PROXIES) == "2001:db8:1::5"
    assert client_address(scope("::ffff:203.0.113.7"), PROXIES) == "203.0.113.7"


def test_a_peer_that_is_not_an_address_is_given_as_it_is_and_no_peer_as_unknown() -> None:
    assert client_address(scope("testclient", "198.51.100.1"), PROXIES) == "testclient"
    assert client_address(scope(None, "198.51.100.1"), PROXIES) == UNKNOWN
