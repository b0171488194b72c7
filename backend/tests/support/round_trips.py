"""Counts PostgreSQL round trips on the wire: a relay in front of the server that reads the
server's messages and counts ``ReadyForQuery`` ('Z'), which ends every answered request
(a simple query, or an extended-protocol batch up to its Sync).

Connections through it must not negotiate SSL (``ssl=disable``): the server's one-byte answer
to an SSLRequest has no message frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct


class RoundTripCounter:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.count = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        for task in (self._relay(client_r, server_w), self._count(server_r, client_w)):
            running = asyncio.ensure_future(task)
            self._tasks.add(running)
            running.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _count(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readexactly(5)
                (length,) = struct.unpack("!I", head[1:])
                body = await reader.readexactly(length - 4)
                if head[:1] == b"Z":
                    self.count += 1
                writer.write(head + body)
                await writer.drain()
        writer.close()
