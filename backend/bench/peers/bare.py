"""The ceiling: FastAPI with one GET endpoint returning a small JSON dict, no middleware, no
authentication. Served like the API (uvicorn, uvloop, httptools, no access log, 1 worker)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/users/me")
async def me() -> dict[str, str]:
    return {"id": "bare", "email": "bare@example.com"}
