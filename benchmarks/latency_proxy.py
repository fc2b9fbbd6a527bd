"""A loopback TCP proxy that adds a fixed delay to every request: latency, as a real store has.

Listens on 127.0.0.1 and forwards each connection to a port of 127.0.0.1, never to another
address. Whenever the client starts speaking after the server has spoken (or first, on a new
connection), the bytes wait ``--delay-ms`` before they are forwarded: one delay per HTTP request
on a kept-alive connection, and one more for a body sent after ``100 Continue``, which costs a
round trip on a real network too. Bytes that follow within the same turn, and every byte of the
answers, pass at once: the delay models latency, not bandwidth. With ``--rate-mib`` each
connection also carries at most that many MiB/s each way, as one connection to S3 does (tens of
MiB/s), which is what parallel parts and ranges are for.

Bounded: at most ``--max-connections`` at once (others are refused), and the proxy exits by
itself after ``--lifetime`` seconds. It prints its port on the first line of stdout once it
listens.

Usage: ``python latency_proxy.py TARGET_PORT --delay-ms 50`` (``--port 0``: any free port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

LOOPBACK = "127.0.0.1"
"""The only address the proxy listens on and connects to."""
PIECE = 256 * 1024


class Pace:
    """Holds one direction of one connection to ``rate`` bytes per second (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.sent = 0
        self.started = 0.0

    async def passed(self, n: int) -> None:
        if not self.rate:
            return
        now = asyncio.get_running_loop().time()
        if not self.sent:
            self.started = now
        self.sent += n
        due = self.started + self.sent / self.rate
        if due > now:
            await asyncio.sleep(due - now)


class Turn:
    """Who spoke last on one connection: a client chunk after the server's is a new request."""

    def __init__(self) -> None:
        self.server_spoke = True


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    turn: Turn,
    from_client: bool,
    delay: float,
    pace: Pace,
) -> None:
    try:
        while data := await reader.read(PIECE):
            if from_client:
                if turn.server_spoke and delay:
                    await asyncio.sleep(delay)
                turn.server_spoke = False
            else:
                turn.server_spoke = True
            writer.write(data)
            await writer.drain()
            await pace.passed(len(data))
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class Proxy:
    def __init__(
        self, target_port: int, delay_ms: float, rate_mib: float, max_connections: int
    ) -> None:
        self.target_port = target_port
        self.delay = delay_ms / 1000
        self.rate = rate_mib * (1 << 20)
        self.slots = max_connections
        self.open = 0

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.open >= self.slots:
            client_w.close()
            return
        self.open += 1
        try:
            server_r, server_w = await asyncio.open_connection(LOOPBACK, self.target_port)
            turn = Turn()
            await asyncio.gather(
                _pipe(client_r, server_w, turn, True, self.delay, Pace(self.rate)),
                _pipe(server_r, client_w, turn, False, self.delay, Pace(self.rate)),
            )
        except (ConnectionError, OSError):
            client_w.close()
        finally:
            self.open -= 1


async def serve(args: argparse.Namespace) -> None:
    proxy = Proxy(args.target_port, args.delay_ms, args.rate_mib, args.max_connections)
    server = await asyncio.start_server(proxy.handle, LOOPBACK, args.port)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.serve_forever(), args.lifetime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target_port", type=int, help="the port of 127.0.0.1 to forward to")
    parser.add_argument("--port", type=int, default=0, help="where to listen (0: a free port)")
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--rate-mib", type=float, default=0.0, help="MiB/s per connection")
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--lifetime", type=float, default=3600.0, help="seconds, then exit")
    args = parser.parse_args(argv)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
