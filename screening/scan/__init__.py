"""`ipscreen scan`: bulk audits of a collection against the registry on Ray Data."""
