import importlib

import pytest


@pytest.mark.parametrize("package", ["heteropool.sim", "heteropool.fleet"])
def test_package_exports_exactly_its_public_names(package: str) -> None:
    mod = importlib.import_module(package)
    public = {n for n in vars(mod) if not n.startswith("_") and not isinstance(getattr(mod, n), type(mod))}
    assert set(mod.__all__) == public
