#!/usr/bin/python3
"""A wss:// echo server on python3-websockets for sluice's WebSocket client (tests/tls/
ws_test.cpp): serves CERT/KEY on a free loopback port, prints the port, echoes every message,
and exits when stdin closes. Usage: wss_server.py CERT KEY"""
import asyncio
import ssl
import sys

import websockets


async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=ctx, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the test closes our stdin


asyncio.run(main())
