"""The system as real processes, for the end-to-end and fault tests and for the benchmarks:
``devstack.processes`` starts the Better-Auth server (``auth-server/``) and the API (uvicorn)
and runs the commands around them (migrations). Not part of the deployed application.
"""
