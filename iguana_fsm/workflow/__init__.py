"""The workflow language: a typed model, a YAML parser that keeps positions, and validation."""
