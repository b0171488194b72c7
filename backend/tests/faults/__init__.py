"""Fault injection through the real app: the auth server's JWKS misbehaving, the database going
away mid-request, an admin action interrupted between its statements, SIGTERM with a request in
flight. Redis going away (rate limits fail open, one warning) is covered in
``tests/test_auth.py::TestRateLimits::test_redis_down_fails_open``."""
