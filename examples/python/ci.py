# A CI pipeline with the official Dagger Python SDK, run by tanto:
#
#   tanto run -- python examples/python/ci.py debian:bookworm engine/examples/project out
#
# Lints, builds and tests the small shell project in IMAGE, keeps a build log
# in a cache volume, and exports the built tool to OUT_DIR.
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str, project: str, out: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        source = dag.host().directory(project, exclude=["*.tmp"])
        built = (
            dag.container()
            .from_(image)
            .with_mounted_cache(
                "/var/cache/builds",
                dag.cache_volume("sum-builds"),
                sharing=dagger.CacheSharingMode.LOCKED,
            )
            .with_directory("/project", source)
            .with_workdir("/project")
            .with_exec(["sh", "-n", "bin/sum"])
            .with_exec(["sh", "-c", "install -m 755 bin/sum /usr/local/bin/sum && date >> /var/cache/builds/log"])
        )
        tested = built.with_exec(["sh", "test/run.sh"])
        print(await tested.stdout(), end="")
        exported = await tested.file("/usr/local/bin/sum").export(f"{out}/sum")
        print(f"exported {exported}")


anyio.run(main, *sys.argv[1:4])
