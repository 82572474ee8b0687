"""Test support for heteropool (installed by `make test` from tests/support, never shipped).

`heteropool_testing.kube`: the in-memory Kubernetes API server the operator is tested against;
`heteropool_testing.processes`: starting simulators, Envoy and the picker and waiting for them;
`heteropool_testing.selectors_eval`: label selectors evaluated the way the API server does.
"""
