"""The hosting configuration is valid against its published schema.

The book is published by one GitHub Pages workflow (Read the Docs' 15-minute
limit cannot hold a first build with the ThreadSanitizer builds of NumPy;
see the README). check-jsonschema carries a copy of SchemaStore's
github-workflow schema, so this runs offline. A broken copy of the file is
checked too, so that a check which can no longer fail is noticed.
"""

import shutil
import sys
from pathlib import Path

import pytest

from ftbook.run import ROOT, run_command

CONFIGS = {
    "vendor.github-workflows": ROOT / ".github" / "workflows" / "docs.yml",
}


def validate(schema: str, path: Path):
    checker = Path(sys.executable).parent / "check-jsonschema"
    return run_command([shutil.which("check-jsonschema") or checker, "--builtin-schema", schema, path],
                       timeout=120)


@pytest.mark.parametrize("schema", CONFIGS)
def test_configuration_matches_its_schema(schema):
    outcome = validate(schema, CONFIGS[schema])
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


@pytest.mark.parametrize("schema", CONFIGS)
def test_a_broken_configuration_is_rejected(schema, tmp_path):
    broken = tmp_path / CONFIGS[schema].name
    text = CONFIGS[schema].read_text()
    # `runs-on` -> a key no job may have
    broken.write_text(text.replace("runs-on:", "runs-onn:"))
    assert broken.read_text() != text
    assert validate(schema, broken).returncode != 0
