"""`chargehook ocpi ...` and `chargehook status` as an operator runs them: token A printed
once with the versions URL to give the CPO, the CPOs listed and shown with their endpoints,
token C rotated and revoked; the CPO's token B never printed."""

import msgspec
import pytest

from chargehook.ocpi.registering import Registry, our_role, register
from chargehook.plumbing.database import Pool
from chargehook.providers.rules import hash_token
from chargehook.schemas.ocpi_transport import credentials_decoder
from tests import processes
from tests.ocpi_cpo import new_name, new_party, simulated_cpo

pytestmark = pytest.mark.services
PUBLIC = "https://cpo-facing.example"


async def test_an_operator_onboards_a_cpo_from_the_command_line(
    amqp_url: str, database_url: str, pool: Pool
) -> None:
    env = processes.chargehook_env(amqp_url=amqp_url, database_url=database_url, public_url=PUBLIC)
    name, party, more = new_name(), new_party(), new_party()

    async def chargehook(*args: str, code: int = 0) -> str:
        result = await processes.run(list(args), env)
        assert result.returncode == code, result.stderr
        return result.stdout if code == 0 else result.stderr

    added = await chargehook("ocpi", "add", name, "--party", party, "--party", more)
    token_a = added.split()[-1]
    assert f"versions URL: {PUBLIC}/ocpi/versions" in added and added.count(token_a) == 1
    assert await pool.fetchval(
        "SELECT use FROM provider_tokens WHERE token_hash = $1", hash_token(token_a)
    ) == "ocpi_registration"  # fmt: skip
    listed = await chargehook("ocpi", "list")
    [line] = [line for line in listed.splitlines() if line.startswith(name)]
    assert line.split()[1:3] == ["token_a_issued", "0"]
    assert line.endswith(", ".join(sorted([party.upper(), more.upper()])))

    async with simulated_cpo() as cpo:
        registry = Registry(pool, PUBLIC, True, our_role("ES", "CHG", "chargehook"))
        offered = credentials_decoder.decode(msgspec.json.encode(cpo.credentials(party)))
        await register(registry, name, offered)
    shown = await chargehook("ocpi", "show", name)
    assert f"CPO {name}: registered; parties" in shown
    assert "its endpoints (2):" in shown and cpo.endpoints[1]["url"] in shown
    status = await chargehook("status")
    [line] = [line for line in status.splitlines() if line.startswith(name)]
    assert line.split()[1:3] == ["registered", "2"]
    for output in (listed, shown, status):
        assert cpo.token_b not in output

    refused = await chargehook("ocpi", "token-a", name, code=2)
    assert refused.startswith(f"chargehook: CPO {name} is registered")
    rotated = await chargehook("ocpi", "rotate", name, "--grace", "60")
    token_c = rotated.split()[-1]
    assert token_c.startswith("chp_") and rotated.count(token_c) == 1
    revoked = await chargehook("ocpi", "revoke", name)
    assert f"CPO {name}: 2 token(s) revoked" in revoked  # the registration's C and the rotated C
    assert (
        await pool.fetchval("SELECT count(*) FROM provider_tokens WHERE provider = $1", name) == 0
    )
    missing = await chargehook("ocpi", "show", "no-such-cpo", code=2)
    assert missing.startswith("chargehook: no CPO 'no-such-cpo'")
