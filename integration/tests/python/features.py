# Host directories, cache volumes, secrets and concurrent branches through
# the real Python SDK. Usage: features.py IMAGE RUN SECRET
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str, run: str, secret_value: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = dag.container().from_(image)

        # A host directory, mounted, changed by a step, exported back.
        src = dag.host().directory("src")
        built = (
            base.with_mounted_directory("/src", src)
            .with_workdir("/src")
            .with_exec(["sh", "-c", "tr a-z A-Z < in.txt > out.txt"])
        )
        written = await built.directory("/src").export("exported")
        print("exported to:", written)

        # A cache volume outlives the run (the run number keeps the step new).
        cache = dag.cache_volume("runs")
        count = await (
            base.with_mounted_cache("/cache", cache)
            .with_exec(["sh", "-c", f"echo {run} >> /cache/runs; wc -l < /cache/runs"])
            .stdout()
        )
        print("cache runs:", count.strip())

        # A secret as an env var and as a file: the step sees it, nothing else.
        secret = dag.set_secret("token", secret_value)
        seen = await (
            base.with_secret_variable("TOKEN", secret)
            .with_mounted_secret("/run/token", secret)
            .with_exec(["sh", "-c", 'test "$TOKEN" = "$(cat /run/token)" && echo ${#TOKEN}'])
            .stdout()
        )
        print("secret length:", seen.strip())

        # Two branches at once: each reports when it ran.
        async def branch(name: str) -> str:
            return await base.with_exec(
                ["sh", "-c", f"date +%s.%N; sleep 1; date +%s.%N # {name} {run}"]
            ).stdout()

        async with anyio.create_task_group() as group:
            results = {}

            async def keep(name: str) -> None:
                results[name] = await branch(name)

            group.start_soon(keep, "left")
            group.start_soon(keep, "right")
        for name, out in sorted(results.items()):
            start, end = out.split()
            print(f"branch {name}: {start} {end}")


anyio.run(main, *sys.argv[1:4])
