# A real database as a service: Redis bound as `redis`, a key set by one
# step and read by the next, which share the one instance.
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        redis = (
            dag.container()
            .from_(image)
            .with_exposed_port(6379)
            .as_service(
                args=["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", ""]
            )
        )
        cli = dag.container().from_(image).with_service_binding("redis", redis)
        with anyio.fail_after(120):
            ping = await cli.with_exec(["redis-cli", "-h", "redis", "ping"]).stdout()
            print("ping:", ping.strip())
            await cli.with_exec(
                ["redis-cli", "-h", "redis", "set", "greeting", "hello from a step"]
            ).sync()
            got = await cli.with_exec(["redis-cli", "-h", "redis", "get", "greeting"]).stdout()
            print("get:", got.strip())


anyio.run(main, sys.argv[1])
