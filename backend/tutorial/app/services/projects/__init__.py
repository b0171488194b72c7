"""Projects of organizations."""
