#!/usr/bin/python3
"""An echo server on python websockets (permessage-deflate on, its default), for
testing sluice's WebSocket *client* against a real peer (test_ws_deflate).

Usage: /usr/bin/python3 python_server.py

Listens on a free loopback port and prints it on the first line. Echoes every
message; the text message "?extensions" is answered instead with the offer the
client sent and the server's answer, as "offer|answer" (Sec-WebSocket-Extensions
of the request and of the response). Serves one connection, then exits: 0 when
it ended with a normal close (1000), 1 otherwise; gives up after 120 s.
"""

import asyncio
import sys

import websockets


async def main():
    done = asyncio.get_running_loop().create_future()

    async def handler(ws, path=None):
        code = None
        try:
            async for m in ws:
                if m == "?extensions":
                    await ws.send(f"{ws.request_headers.get('Sec-WebSocket-Extensions', '')}|"
                                  f"{ws.response_headers.get('Sec-WebSocket-Extensions', '')}")
                else:
                    await ws.send(m)
        finally:
            # close_code is None until the TCP connection is closed too.
            await ws.wait_closed()
            code = ws.close_code
            if not done.done():
                done.set_result(code)

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=64 * 1024 * 1024) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        try:
            code = await asyncio.wait_for(done, 120)
        except asyncio.TimeoutError:
            print("python_server: no connection ended within 120 s", flush=True)
            return 1
    print(f"python_server: connection closed with {code}", flush=True)
    return 0 if code == 1000 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
