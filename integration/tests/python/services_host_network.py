# Services on the host's network (TANTO_SERVICE_NETWORK=host, as where no
# network namespace can be made), through the real Python SDK: a busybox
# httpd reached by alias on a port of the host's; a second service on the
# same port refused naming both; a port the host holds refused. Prints
# what it saw, one line each.
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str, port: str, taken: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        def httpd(name: str, text: str, on: str) -> dagger.Service:
            return (
                dag.container()
                .from_(image)
                .with_new_file(f"/{name}/index.html", text + "\n")
                .with_exposed_port(int(on))
                .as_service(args=["busybox", "httpd", "-f", "-p", on, "-h", f"/{name}"])
            )

        www = httpd("www", "on the host's network", port)
        await www.start()
        got = await (
            dag.container()
            .from_(image)
            .with_service_binding("www", www)
            .with_exec(["sh", "-c", f"timeout 10 busybox wget -q -O- http://www:{port}/ || echo failed"])
            .stdout()
        )
        print("reached:", got.strip())

        for label, service in [
            ("same port", httpd("second", "second", port)),
            ("taken port", httpd("third", "third", taken)),
        ]:
            try:
                await dag.container().from_(image).with_service_binding(
                    "other", service
                ).with_exec(["true"]).sync()
                print(f"{label}: no error")
            except dagger.QueryError as e:
                print(f"{label}:", str(e).replace("\n", "|"))
        await www.stop()


anyio.run(main, *sys.argv[1:])
