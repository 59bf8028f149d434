"""The hosting configurations are valid against their published schemas.

check-jsonschema carries copies of the schemas that Read the Docs and GitHub
publish (SchemaStore's github-workflow schema, Read the Docs' own schema for
.readthedocs.yaml), so this runs offline. A broken copy of each file is
checked too, so that a check which can no longer fail is noticed.
"""

import shutil
import sys
from pathlib import Path

import pytest

from ftbook.run import ROOT, run_command

CONFIGS = {
    "vendor.readthedocs": ROOT / ".readthedocs.yaml",
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
    # version 2 -> a version the schema does not allow; `runs-on` -> a key no job may have
    broken.write_text(text.replace("version: 2", "version: 7").replace("runs-on:", "runs-onn:"))
    assert broken.read_text() != text
    assert validate(schema, broken).returncode != 0
