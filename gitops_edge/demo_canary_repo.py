"""The desired-state repository of the demo's canary wave (`demo.canary_wave`): file name →
text, written to a temporary folder by the demo. Data only; no side effects.
"""

from __future__ import annotations

CANARY_REPO = {
    "gitops-edge.yaml": """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: canary-fleet
spec: {}
""",
    "namespaces.yaml": """apiVersion: v1
kind: Namespace
metadata:
  name: edge
""",
    "groups.yaml": "".join(
        f"""---
apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{apps.openyurt.io/nodepool: {name}}}
"""
        for name in ("canary", "north", "south")
    ),
    "agent.yaml": """\
apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: edge-agent
  namespace: edge
spec:
  strategy:
    type: AdvancedRollingUpdate
    maxUnavailable: 1
  rollout:
    waves:
      - groups: [canary]
        bakeSeconds: 60
      - groups: [north, south]
    progressDeadlineSeconds: 90
    autoRollback: true
  template:
    metadata:
      labels: {app: edge-agent}
    spec:
      containers:
        - name: agent
          image: registry.example.com/edge/agent:2.0.0
  groups:
    - name: canary
    - name: north
    - name: south
""",
}
