"""Cluster backends: the `Cluster` protocol and how to open one from `--cluster`.

`base` holds the protocol and errors; `sim` the simulated cluster; `kube` (later) the
Kubernetes adapter, the only module allowed to import `kubernetes`.
"""
