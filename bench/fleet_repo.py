"""Desired-state YAML the scale benchmarks write their fleet's repository with: the repository
config and one NodeGroup per OpenYurt node pool (`plan_scale`, `steady_scale`). Imported from
the scripts' own folder (`python bench/…` puts it first on the path). No side effects."""

CONFIG = """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: bench
spec:
  cloudVersion: v1.16.0
  defaultNamespace: edge-apps
"""
GROUP = """---
apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: {name}
spec:
  selector:
    matchLabels:
      apps.openyurt.io/nodepool: {name}
"""
