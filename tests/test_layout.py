"""ftbook's package docstring is its map: it must name every module, so it cannot fall behind."""

import ftbook
from ftbook.run import ROOT


def test_the_package_docstring_names_every_module():
    package = ROOT / "ftbook"
    modules = sorted(path for path in package.rglob("*.py")
                     if path.name not in ("__init__.py", "__main__.py") and "__pycache__" not in path.parts)
    missing = [str(path.relative_to(ROOT)) for path in modules
               if path.stem not in ftbook.__doc__ and path.parent.name != "claims"]
    assert not missing, f"ftbook/__init__.py's docstring does not name: {', '.join(missing)}"
