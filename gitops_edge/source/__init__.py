"""The git source and the status written back to it."""
