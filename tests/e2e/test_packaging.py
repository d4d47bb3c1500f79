"""What `pip install .` puts into site-packages: one import name, `chargehook`, and all of it."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]
PORTAL_FILES = {path.name for path in (ROOT / "ingest" / "operators" / "ui").iterdir()}


def test_the_wheel_adds_exactly_one_top_level_import_name(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("chargehook-*.whl")
    files = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/")[0] for name in files if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"chargehook"}
    # the folders linked into the package travel inside it, and so do the migrations
    for inside in ("ingest/app.py", "workers/notify/deliverer.py", "schemas/session.py"):
        assert f"chargehook/{inside}" in files
    assert any(name.startswith("chargehook/plumbing/migrations/0001") for name in files)
    # the portal is static files in the wheel: nothing to build at install or run time
    shipped = {name for name in files if name.startswith("chargehook/ingest/operators/ui/")}
    assert {f"chargehook/ingest/operators/ui/{name}" for name in PORTAL_FILES} == shipped
