"""The repository and its validation: reading files, safe YAML, the rules, diagnostics."""
