"""The portal's scripts, read as text: they agree with the wire and never build markup from data."""

import re
from pathlib import Path

import pytest

from chargehook.schemas import DELIVERY_STATUSES, STATUSES

UI = Path(__file__).parents[2] / "ingest" / "operators" / "ui"
SCRIPTS = sorted(UI.glob("*.js"))
# Ways a value could become markup or code, rather than text.
AS_MARKUP = re.compile(
    r"innerHTML|outerHTML\s*=|insertAdjacentHTML|document\.write|eval\(|new Function"
    r"|srcdoc|DOMParser|createContextualFragment|setAttribute\(\s*[\"'`](href|src)"
)
# Every link the scripts make is to a view of the page itself: "#/...".
LINK = re.compile(r"href:\s*(\S)")


def js_array(name: str) -> list[str]:
    text = (UI / "api.js").read_text()
    found = re.search(rf"export const {name} = \[([^\]]*)\]", text)
    assert found, name
    return re.findall(r'"([^"]+)"', found[1])


def test_the_portals_statuses_are_the_wires() -> None:
    assert js_array("SESSION_STATUSES") == list(STATUSES)
    assert js_array("DELIVERY_STATUSES") == list(DELIVERY_STATUSES)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_script_turns_a_value_into_markup_or_a_link_elsewhere(script: Path) -> None:
    text = script.read_text()
    assert not AS_MARKUP.findall(text)
    for start in LINK.finditer(text):
        assert text[start.start(1) : start.start(1) + 2] in ('"#', "`#"), text[start.start() :][:60]


def test_the_page_has_no_inline_code_for_its_policy_to_refuse() -> None:
    page = (UI / "index.html").read_text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts == [(' type="module" src="app.js"', "")]
    assert "<style" not in page and not re.findall(r"<[^>]*\s(on\w+|style)=", page)
