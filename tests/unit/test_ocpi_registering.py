"""The pure parts of onboarding a CPO: what our versions and version details say, whose
credentials may register (the role check), and how operators write a party."""

from typing import Any

import msgspec
import pytest

from chargehook.ocpi.parties import Party, parse_party, party_code
from chargehook.ocpi.registering import (
    RegistrationError,
    Registry,
    our_credentials,
    our_role,
    pushing_parties,
    version_details,
    versions,
)
from chargehook.schemas.ocpi_transport import CredentialsRole, credentials_decoder

BASE = "https://hooks.example/chargehook"


def test_our_versions_name_2_2_1_and_its_details() -> None:
    for public_url in (BASE, BASE + "/"):
        assert msgspec.to_builtins(versions(public_url)) == [
            {"version": "2.2.1", "url": f"{BASE}/ocpi/2.2.1"}
        ]


def test_our_details_are_credentials_as_sender_and_sessions_and_cdrs_as_receiver() -> None:
    assert msgspec.to_builtins(version_details(BASE + "/")) == {
        "version": "2.2.1",
        "endpoints": [
            {
                "identifier": "credentials",
                "role": "SENDER",
                "url": f"{BASE}/ocpi/2.2.1/credentials",
            },
            {"identifier": "sessions", "role": "RECEIVER", "url": f"{BASE}/ocpi/2.2.1/sessions"},
            {"identifier": "cdrs", "role": "RECEIVER", "url": f"{BASE}/ocpi/2.2.1/cdrs"},
        ],
    }


def test_our_credentials_carry_the_callers_token_and_our_emsp_role() -> None:
    registry = Registry(None, BASE, False, our_role("es", "chg", "chargehook"))  # type: ignore[arg-type]
    ours = msgspec.to_builtins(our_credentials(registry, "chp_the-callers-own"))
    assert ours == {
        "token": "chp_the-callers-own",
        "url": f"{BASE}/ocpi/versions",
        "roles": [
            {
                "role": "EMSP",
                "business_details": {"name": "chargehook"},
                "party_id": "CHG",
                "country_code": "ES",
            }
        ],
    }
    # and they are credentials a CPO can read back
    assert credentials_decoder.decode(msgspec.json.encode(ours)).token == "chp_the-callers-own"


def role(role: str, country_code: str, party_id: str) -> CredentialsRole:
    details: dict[str, Any] = {"name": "x"}
    raw = {"role": role, "country_code": country_code, "party_id": party_id}
    return msgspec.convert({**raw, "business_details": details}, CredentialsRole)


REGISTERED: set[Party] = {("ES", "ABC"), ("PT", "XYZ")}


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ([role("CPO", "ES", "ABC")], {("ES", "ABC")}),
        ([role("CPO", "es", "abc")], {("ES", "ABC")}),  # CiString: any case
        ([role("CPO", "ES", "ABC"), role("CPO", "FR", "NEW")], {("ES", "ABC")}),  # FR ignored
        ([role("CPO", "ES", "ABC"), role("CPO", "PT", "XYZ")], REGISTERED),
        ([role("EMSP", "ES", "ABC"), role("CPO", "PT", "XYZ")], {("PT", "XYZ")}),
    ],
)
def test_the_registered_parties_offered_as_cpo_are_kept(
    offered: list[CredentialsRole], kept: set[Party]
) -> None:
    assert pushing_parties(offered, REGISTERED) == kept


@pytest.mark.parametrize(
    ("offered", "registered"),
    [
        ([role("CPO", "FR", "NEW")], REGISTERED),  # only parties the operator did not register
        ([role("EMSP", "ES", "ABC")], REGISTERED),  # a registered party, but not as CPO
        ([role("HUB", "ES", "ABC")], REGISTERED),
        ([role("CPO", "ES", "ABC")], set()),  # no party registered at all
    ],
)
def test_credentials_without_a_registered_party_as_cpo_are_2001_naming_roles(
    offered: list[CredentialsRole], registered: set[Party]
) -> None:
    with pytest.raises(RegistrationError) as refused:
        pushing_parties(offered, registered)
    assert (refused.value.http_status, refused.value.status_code) == (400, 2001)
    assert refused.value.message.startswith("$.roles: expected role CPO")
    assert ("ES-ABC, PT-XYZ" if registered else "none yet") in refused.value.message


@pytest.mark.parametrize(("code", "found"), [("ES-ABC", ("ES", "ABC")), ("es-a1c", ("ES", "A1C"))])
def test_a_party_is_written_country_dash_party_and_kept_upper_case(code: str, found: Party) -> None:
    assert parse_party(code) == found
    assert party_code(found) == code.upper()


@pytest.mark.parametrize("code", ["ESABC", "ES-AB", "ESP-ABC", "ES_ABC", "ES-ABC\n", "É1-ABC", ""])
def test_anything_else_is_not_a_party(code: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. ES-ABC"):
        parse_party(code)
