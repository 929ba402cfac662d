"""The works registry: the source of truth every index is rebuilt from."""
