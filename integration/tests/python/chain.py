# from + withExec + stdout, env and exit codes through the real Python SDK.
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = dag.container().from_(image)
        out = await base.with_env_variable("A", "b").with_exec(["sh", "-c", "echo $A; id -un"]).stdout()
        print("stdout:", out.replace("\n", "|"))
        where = await base.with_workdir("/srv/app").with_user("nobody").with_exec(["sh", "-c", "pwd; id -un"]).stdout()
        print("workdir and user:", where.replace("\n", "|"))
        code = await base.with_exec(["sh", "-c", "exit 3"], expect=dagger.ReturnType.ANY).exit_code()
        print("exit code:", code)
        try:
            await base.with_exec(["sh", "-c", "echo out; echo err >&2; exit 5"]).stdout()
        except dagger.ExecError as e:
            print("exec error:", e.exit_code, e.command, e.stdout.strip(), e.stderr.strip())
        synced = await base.with_new_file("/hello.txt", "hi there").sync()
        print("synced file:", await synced.file("/hello.txt").contents())


anyio.run(main, sys.argv[1])
