"""gitops-edge: a GitOps reconciler for edge Kubernetes fleets.

Owns nothing but the package version; see README.md for the architecture.
"""

__version__ = "0.1.0"
