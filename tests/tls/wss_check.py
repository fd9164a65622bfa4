#!/usr/bin/python3
"""wss:// against ws_echo --tls-cert/--tls-key with Debian's python3-websockets (10.x):
text and a 4 MiB binary message echoed, 20 messages pipelined, a ping answered, the close
echoed; a client without the test CA refuses the server, a plain ws:// client gets no
WebSocket. Usage: wss_check.py PORT CA_FILE"""
import asyncio
import ssl
import sys

import websockets

port, ca = int(sys.argv[1]), sys.argv[2]
url = f"wss://localhost:{port}/echo"


async def main():
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=ctx, max_size=None, compression=None) as ws:
        assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        await ws.send("hello over wss")
        assert await asyncio.wait_for(ws.recv(), 10) == "hello over wss"
        blob = bytes(range(256)) * (4 * 1024 * 4)  # 4 MiB
        await ws.send(blob)
        assert await asyncio.wait_for(ws.recv(), 30) == blob
        for i in range(20):
            await ws.send(f"m{i}")
        for i in range(20):
            assert await asyncio.wait_for(ws.recv(), 10) == f"m{i}"
        pong = await ws.ping()
        await asyncio.wait_for(pong, 10)
        await ws.close(1000, "bye")
        assert ws.close_code == 1000, ws.close_code
    print("wss: echo, 4 MiB, pipelined, ping, close: ok")

    refused = False
    try:
        async with websockets.connect(url, ssl=ssl.create_default_context(), open_timeout=10):
            pass
    except ssl.SSLCertVerificationError:
        refused = True
    assert refused, "a client without the test CA connected"
    print("wss: a client without the CA refuses the server: ok")

    plain = False
    try:
        async with websockets.connect(f"ws://localhost:{port}/echo", open_timeout=10):
            plain = True
    except Exception:
        pass
    assert not plain, "a plain ws:// client got a WebSocket from the TLS port"
    print("wss: plain ws:// on the TLS port gets nothing: ok")


asyncio.run(main())
