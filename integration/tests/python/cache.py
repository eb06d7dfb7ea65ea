# Dagger's cache API through the real Python SDK, as `dagger core engine
# local-cache` and SDK programs that prune use it.
import sys

import anyio
import dagger
from dagger import dag


async def descriptions(cache: dagger.EngineCache) -> list[str]:
    return [await e.description() for e in await cache.entry_set().entries()]


async def main(image: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        held = dag.container().from_(image).with_exec(["sh", "-c", "echo held > /held"])
        await held.sync()
        cache = dag.engine().local_cache()
        listed = await descriptions(cache)
        print("entries:", len(listed) == await cache.entry_set().entry_count())
        print("listed old:", any("echo old" in d for d in listed))
        print("listed held:", any("echo held" in d for d in listed))
        print("bounded:", await cache.max_used_space() > 0)
        try:
            await cache.prune(max_used_space="lots")
            print("bad size accepted")
        except dagger.QueryError as e:
            print("refused:", str(e).splitlines()[0])
        await cache.prune(use_default_policy=True)
        await cache.prune()
        left = await descriptions(cache)
        print("kept old:", any("echo old" in d for d in left))
        print("kept held:", any("echo held" in d for d in left))
        print("held still runs:", (await held.with_exec(["cat", "/held"]).stdout()).strip())


anyio.run(main, *sys.argv[1:2])
