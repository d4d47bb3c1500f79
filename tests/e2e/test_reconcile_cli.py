"""`chargehook bills reconcile` as an operator runs it, on the day of tests/books_support.py in a
database of the test's own: a table to read, the API's JSON with --format json, and one clear
line for a bad day or provider."""

import msgspec
import pytest

from chargehook.billing.books import Reconciliation
from tests import processes
from tests.books_support import a_day_of_bills, fresh_books

pytestmark = pytest.mark.services
reconciliation = msgspec.json.Decoder(Reconciliation)

BOOKS = """\
provider  currency  kind     bills  amount  commission    tax
acme-cpo  EUR       finals       3   14.11        1.06   2.45
acme-cpo  EUR       credits      2   -8.12       -0.61  -1.41
acme-cpo  EUR       net          5    5.99        0.45   1.04
emt       JPY       finals       1    1664         125    289
emt       JPY       credits      0       0           0      0
emt       JPY       net          1    1664         125    289
repsol    EUR       finals       4   33.37        2.52   5.79
repsol    EUR       credits      1  -14.06       -1.06  -2.44
repsol    EUR       net          5   19.31        1.46   3.35
"""
FIGURES = """\
the providers' own figures, over the bills that sent each
provider  currency  figure               bills  theirs   ours  difference
acme-cpo  EUR       total_cost.excl_vat      5    4.60   4.50        0.10
emt       JPY       amount                   1    1664   1664           0
repsol    EUR       amount                   4   16.68  16.65        0.03
repsol    EUR       commision_price          4    1.26   1.26        0.00
repsol    EUR       tax_price                4    2.90   2.89        0.01
"""
MISMATCHES = """\
mismatches: a figure more than 0.01 from ours
provider  bill  session    kind    currency  figure               theirs   ours  difference
acme-cpo  {cdr:>4}  ES-ABC-s2  credit  EUR       total_cost.excl_vat   -2.00  -2.10        0.10
repsol    {off:>4}  s-off      final   EUR       amount                 1.70   1.67        0.03
"""


async def test_an_operator_reconciles_a_day_from_the_command_line() -> None:
    async with fresh_books() as books:
        ids = await a_day_of_bills(books)
        env = processes.chargehook_env(database_url=books.url, log_level="warning")

        async def chargehook(*args: str, code: int = 0) -> str:
            result = await processes.run(["bills", "reconcile", *args], env)
            assert result.returncode == code, result.stderr
            return result.stdout if code == 0 else result.stderr

        table = await chargehook("--day", "2026-03-01")
        assert table.startswith(
            "reconciliation of 2026-03-01 (UTC, by billed_at), every provider: finals and credits"
            " of 3 provider(s), 2 mismatch(es)\n\n"
        )
        mismatches = MISMATCHES.format(cdr=ids["cdr credit off"], off=ids["off"])
        assert table.split("\n", 2)[2] == f"{BOOKS}\n{FIGURES}\n{mismatches}"

        printed = await chargehook("--day", "2026-03-01", "--provider", "emt", "--format", "json")
        emt = reconciliation.decode(printed)
        assert [(p.provider, p.finals, str(p.currencies[0].net.amount)) for p in emt.providers] == [
            ("emt", 1, "1664")
        ]
        quiet = await chargehook("--day", "2026-03-05")
        assert quiet.endswith(
            "0 provider(s), 0 mismatch(es)\nno final nor credit was billed that day\n"
        )

        refused = await chargehook("--day", "2026-02-30", code=2)
        assert refused.endswith("argument --day: Expected a date as YYYY-MM-DD, got '2026-02-30'\n")
        bad = await chargehook("--day", "2026-03-01", "--provider", "Repsol", code=2)
        assert bad == "chargehook: provider name 'Repsol': use a-z, 0-9, '-' and '_'\n"
