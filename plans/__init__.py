"""Rating plans shipped with ipscreen (YAML data; see default.yaml)."""
