"""HTTP API (FastAPI) over the knowledge base: `create_app(settings)`."""
