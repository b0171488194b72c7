"""The handler of ``bench.own_app`` in a bare FastAPI app: no middleware, no authentication, the
same route path and return annotation. The ceiling "your own endpoint" is measured against."""

from typing import Any

from fastapi import FastAPI

app = FastAPI()
ITEMS = [1, 2, 3]


@app.get("/api/v1/own/open")
async def own_open() -> dict[str, Any]:
    return {"id": "anonymous", "items": ITEMS}
