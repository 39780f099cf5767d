"""OpenAPI ``content`` for responses that are files: ninja documents only JSON bodies itself."""

CSV = {"text/csv": {"schema": {"type": "string"}}}
ZIP = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
