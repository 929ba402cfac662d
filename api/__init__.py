"""The HTTP service (FastAPI). Built in issue 5; it will call screening/ only."""
