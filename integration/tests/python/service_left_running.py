# A service and a client that keeps it in use for a minute: for killing
# tanto while the service runs.
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        www = (
            dag.container()
            .from_(image)
            .with_new_file("/srv/left-running/index.html", "up\n")
            .with_exposed_port(80)
            .as_service(args=["busybox", "httpd", "-f", "-p", "80", "-h", "/srv/left-running"])
        )
        await (
            dag.container()
            .from_(image)
            .with_service_binding("www", www)
            .with_exec(["sh", "-c", "busybox wget -q -O- http://www/ && sleep 60"])
            .sync()
        )


anyio.run(main, sys.argv[1])
