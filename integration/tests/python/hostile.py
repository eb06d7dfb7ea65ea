# Long chains and large contents through the real Python SDK.
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str, mode: str, arg: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = dag.container().from_(image)
        if mode == "chain":
            chained = base
            for i in range(int(arg)):
                chained = chained.with_env_variable(f"V{i}", str(i))
            out = await chained.with_exec(["sh", "-c", "env | grep -c '^V[0-9]'"]).stdout()
            print(f"chain {arg}: {out.strip()} variables")
        elif mode == "big":
            # Multi-byte text, so characters straddle every chunk boundary.
            line = "é → 世界 🦀 \"q\" \\ \t tab\n"
            contents = line * (int(arg) * 1_000_000 // len(line.encode()))
            written = base.with_new_file("/big.txt", contents)
            back = await written.file("/big.txt").contents()
            print("file contents same:", back == contents, len(back))
            out = await written.with_exec(["cat", "/big.txt"]).stdout()
            print("stdout same:", out == contents, len(out))
            both = await written.with_exec(["sh", "-c", "cat /big.txt; echo tail >&2"]).combined_output()
            print("combined output same:", both == contents + "tail\n")


anyio.run(main, *sys.argv[1:])
