#!/usr/bin/env python3
"""Expose the API server, which listens on loopback only, on the node's bridge address.

    apiforward.py LISTEN_ADDRESS PORT

Pods reach the API server through the `kubernetes` Service, which the API server advertises at
the bridge address (--advertise-address); this relays each connection to 127.0.0.1 on the same
port, byte for byte (TLS passes through untouched).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


async def serve(listen: str, port: int) -> None:
    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(relay(reader, up_writer), relay(up_reader, writer))

    server = await asyncio.start_server(connect, listen, port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
