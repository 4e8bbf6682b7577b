"""`python -m bench.cannedstore --port N [--cpu C]`: a stand-in DynamoDB that answers every request at once.

Each request (any operation) gets the same small success answer, as DynamoDB's JSON protocol sends it
(``x-amzn-RequestId``, ``x-amz-crc32``, a Content-Length), on a kept-alive connection. With it,
`python -m bench.storeclients --canned` measures a client's own CPU per call without the emulator's
cost and noise (the emulator spends ~5 ms per transaction; this answers in microseconds). Nothing is
stored and no condition is checked: the correctness checks need the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import zlib

BODY = b"{}"
ANSWER = (
    b"HTTP/1.1 200 OK\r\nServer: canned\r\nDate: Sun, 06 Dec 2026 00:00:00 GMT\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: CANNED0000000000000000000000000000000000000000"
    b"\r\nx-amz-crc32: " + str(zlib.crc32(BODY)).encode() + b"\r\nContent-Length: 2\r\n\r\n" + BODY
)


class _Answering(asyncio.Protocol):
    def __init__(self) -> None:
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while (end := self._buf.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self._buf[:end].split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self._buf) < end + 4 + length:
                return
            self._buf = self._buf[end + 4 + length :]
            assert self._transport is not None
            self._transport.write(ANSWER)


async def _serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Answering, "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cannedstore", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int)
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        import uvloop

        uvloop.run(_serve(args.port))
    except ImportError:  # pragma: no cover - uvloop is a dependency where the bench runs
        asyncio.run(_serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
