"""The README's layout table matches the tree: every room it names exists, every room is named."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "chargehook"


def layout_paths() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## How it fits together", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {path for row in rows for path in re.findall(r"`([\w./]+)`", row.split("|")[1])}


def test_every_path_in_the_layout_table_exists() -> None:
    missing = {path for path in layout_paths() if not (ROOT / path).exists()}
    assert not missing


def test_every_room_of_the_package_is_in_the_layout_table() -> None:
    listed = layout_paths()
    rooms = {
        f"{path.name}/" if path.is_symlink() else f"chargehook/{path.name}/"
        for path in PACKAGE.iterdir()
        if (path / "__init__.py").exists()
    }
    assert rooms <= listed
    top_level = {f"{p.name}/" for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert top_level - {"build/"} - {p for p in top_level if p.endswith("egg-info/")} <= listed | {
        "chargehook/"
    }
