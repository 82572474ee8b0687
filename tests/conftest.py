"""Shared fixtures: the API emulator's, from the test support package (tests/support)."""

pytest_plugins = ["heteropool_testing.kube.fixtures"]
