# Three steps, each noting in a cache volume that it ran: the first on the
# image alone, the next two on a host directory. A registry cache that
# serves a step leaves no note of it. With a fourth argument, one more
# step reads a secret.
#
#   cached_steps.py IMAGE SRC_DIR [SECRET]
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str, src: str, secret: str | None) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = (
            dag.container()
            .from_(image)
            .with_mounted_cache("/runs", dag.cache_volume("runs"))
        )
        one = base.with_exec(["sh", "-c", "echo one >> /runs/log; echo one > /one"])
        two = one.with_directory("/src", dag.host().directory(src)).with_exec(
            ["sh", "-c", "echo two >> /runs/log; cat /src/a > /two"]
        )
        three = two.with_exec(["sh", "-c", "echo three >> /runs/log; cat /one /two"])
        print(await three.stdout(), end="")
        if secret is not None:
            secret_step = three.with_secret_variable(
                "TOKEN", dag.set_secret("token", secret)
            ).with_exec(["sh", "-c", "echo secret >> /runs/log; test -n \"$TOKEN\""])
            await secret_step.sync()


anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
