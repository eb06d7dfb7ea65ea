# A step on the side (a build whose file the final step copies) and the
# final step, each noting in a cache volume that it ran. The run answers
# with the final step's output only: `mode=min` exports what that answer
# stands on, and leaves the side step out.
#
#   side_steps.py IMAGE
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = (
            dag.container()
            .from_(image)
            .with_mounted_cache("/runs", dag.cache_volume("runs"))
        )
        side = base.with_exec(["sh", "-c", "echo side >> /runs/log; echo built > /out"])
        final = base.with_file("/in", side.file("/out")).with_exec(
            ["sh", "-c", "echo final >> /runs/log; cat /in"]
        )
        print(await final.stdout(), end="")


anyio.run(main, sys.argv[1])
