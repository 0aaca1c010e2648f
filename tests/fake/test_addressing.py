"""Address arithmetic: which subnet of a VNet holds an address."""

from ipaddress import ip_address, ip_network

from adapters.shared.addressing import subnet_containing

SUBNETS = tuple(f"10.0.{i}.0/24" for i in range(200, -1, -2))  # every other /24, listed backwards


def test_the_subnet_holding_an_address_is_found_among_many():
    assert subnet_containing(SUBNETS, ip_address("10.0.0.4")) == ip_network("10.0.0.0/24")
    assert subnet_containing(SUBNETS, ip_address("10.0.100.255")) == ip_network("10.0.100.0/24")
    assert subnet_containing(SUBNETS, ip_address("10.0.200.9")) == ip_network("10.0.200.0/24")


def test_an_address_between_below_or_beyond_the_subnets_has_none():
    for address in ("10.0.1.4", "10.0.201.1", "9.255.255.255", "10.1.0.0"):
        assert subnet_containing(SUBNETS, ip_address(address)) is None, address


def test_overlapping_subnets_still_answer_with_one_that_holds_the_address():
    # Azure refuses overlapping subnets; an estate file may still have them
    prefixes = ("10.0.0.0/16", "10.0.5.0/24")
    assert subnet_containing(prefixes, ip_address("10.0.9.1")) == ip_network("10.0.0.0/16")
    assert subnet_containing(prefixes, ip_address("10.0.5.1")) == ip_network("10.0.5.0/24")


def test_addresses_of_the_other_family_are_not_confused():
    prefixes = ("10.0.0.0/24", "fd00::/64")
    assert subnet_containing(prefixes, ip_address("fd00::4")) == ip_network("fd00::/64")
    assert subnet_containing(prefixes, ip_address("::ffff:10.0.0.4")) is None
