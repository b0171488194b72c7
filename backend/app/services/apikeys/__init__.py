"""Better-Auth API keys (``@better-auth/api-key`` 1.7.5), verified the way its verify does."""
