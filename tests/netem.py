"""Network conditions for a test host, without the kernel's netem (not available here): every UDP packet the
host sends goes through an NFQUEUE to this process, which drops a share of them at random and delays the
rest by a base delay plus a random jitter (so packets also arrive out of order).

Run inside the host's network namespace: `python -m tests.netem QUEUE`. It reads commands on stdin, one a
line: `loss P`, `delay SECONDS`, `jitter SECONDS`; answers `ok` to each (and `ready` once bound).
"""

from __future__ import annotations

import asyncio
import random
import sys

from netfilterqueue import NetfilterQueue, Packet

MAX_QUEUED = 65536  # packets the kernel keeps for us while they wait


class Conditions:
    def __init__(self) -> None:
        self.loss = 0.0
        self.delay = 0.0
        self.jitter = 0.0
        self.rng = random.Random(1)


def main() -> None:
    queue = int(sys.argv[1])
    conditions = Conditions()
    loop = asyncio.new_event_loop()
    nfq = NetfilterQueue()

    def on_packet(packet: Packet) -> None:
        if conditions.rng.random() < conditions.loss:
            packet.drop()
            return
        wait = conditions.delay + conditions.rng.uniform(0.0, conditions.jitter)
        if wait <= 0:
            packet.accept()
            return
        packet.retain()
        loop.call_later(wait, packet.accept)

    def on_command() -> None:
        line = sys.stdin.readline()
        if not line:
            loop.stop()
            return
        name, value = line.split()
        setattr(conditions, name, float(value))
        print("ok", flush=True)

    nfq.bind(queue, on_packet, max_len=MAX_QUEUED)
    loop.add_reader(nfq.get_fd(), lambda: nfq.run(block=False))
    loop.add_reader(sys.stdin.fileno(), on_command)
    print("ready", flush=True)
    try:
        loop.run_forever()
    finally:
        nfq.unbind()


if __name__ == "__main__":
    main()
