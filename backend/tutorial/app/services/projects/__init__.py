"""Projects of organizations: the tutorial's domain (docs/guides/your-own-endpoint.md)."""
