"""Maps the source folder `operator/` to the import package `heteropool`.

`operator` is a standard-library module, so the folder must never be importable under its own
name; pyproject.toml cannot express a prefix rename of every subpackage, hence this file.
"""

from setuptools import find_packages, setup

setup(
    package_dir={"heteropool": "operator"},
    packages=["heteropool", *(f"heteropool.{name}" for name in find_packages("operator"))],
)
