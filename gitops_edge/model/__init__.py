"""The desired and observed model, rendering manifests into it, and the plan's action types."""
