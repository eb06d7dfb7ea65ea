# Services through the real Python SDK: a busybox httpd bound as `www`,
# reached by alias and by hostname, shared by concurrent clients; one slow
# to listen, waited for; a service that exits before its port answers; one
# that exits while its client runs; one started and stopped (SIGTERM
# first). Prints what it saw, one line each.
import sys
import time

import anyio
import dagger
from dagger import dag


async def main(image: str, run_id: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        starts = dag.cache_volume("service-starts")
        www = (
            dag.container()
            .from_(image)
            .with_new_file("/www/index.html", "hello from the service\n")
            .with_mounted_cache("/state", starts)
            .with_exposed_port(80)
            # Never listened on: without the skip, the service is never up.
            .with_exposed_port(9999, experimental_skip_healthcheck=True)
            .as_service(
                args=["sh", "-c", "echo started >> /state/starts; exec busybox httpd -f -p 80 -h /www"]
            )
        )
        client = dag.container().from_(image).with_service_binding("www", www)

        async def fetch(n: int) -> None:
            got = await client.with_exec(
                ["sh", "-c", f"busybox wget -q -O- http://www/; echo client {n}"]
            ).stdout()
            print(f"client {n}:", got.replace("\n", "|"))

        # A service never up would wait for ever: fail instead.
        with anyio.fail_after(120):
            async with anyio.create_task_group() as both:
                both.start_soon(fetch, 1)
                both.start_soon(fetch, 2)

        inside = await client.with_exec(
            ["sh", "-c", "ls /sys/class/net; busybox grep -w www /etc/hosts"]
        ).stdout()
        print("inside:", inside.replace("\n", "|"))

        hostname = await www.hostname()
        print("endpoint:", (await www.endpoint(scheme="http")) == f"http://{hostname}:80")
        by_name = await client.with_exec(
            ["busybox", "wget", "-q", "-O-", f"http://{hostname}/"]
        ).stdout()
        print("by hostname:", by_name.strip())

        count = await (
            dag.container()
            .from_(image)
            .with_mounted_cache("/state", starts)
            .with_env_variable("RUN", run_id)
            .with_exec(["sh", "-c", "cat /state/starts 2>/dev/null | busybox wc -l"])
            .stdout()
        )
        print("starts:", count.strip())

        # Listening only after 3 s: its client waits for it.
        slow = (
            dag.container()
            .from_(image)
            .with_new_file("/www/index.html", "slow but there\n")
            .with_exposed_port(80)
            .as_service(args=["sh", "-c", "sleep 3; exec busybox httpd -f -p 80 -h /www"])
        )
        got = await (
            dag.container()
            .from_(image)
            .with_service_binding("slow", slow)
            .with_exec(["busybox", "wget", "-q", "-O-", "http://slow/"])
            .stdout()
        )
        print("slow:", got.strip())

        broken = (
            dag.container()
            .from_(image)
            .with_exposed_port(80)
            .as_service(args=["sh", "-c", "echo the service gives up >&2; exit 3"])
        )
        try:
            await dag.container().from_(image).with_service_binding(
                "broken", broken
            ).with_exec(["true"]).sync()
            print("broken: no error")
        except dagger.QueryError as e:
            print("broken:", str(e).replace("\n", "|"))


        stops = dag.cache_volume("service-stops")
        polite = (
            dag.container()
            .from_(image)
            .with_new_file("/www/index.html", "polite\n")
            .with_mounted_cache("/log", stops)
            .with_exposed_port(80)
            .as_service(
                args=[
                    "sh",
                    "-c",
                    "trap 'echo stopped by SIGTERM >> /log/stops; exit 0' TERM; "
                    "busybox httpd -f -p 80 -h /www & wait",
                ]
            )
        )
        await polite.start()
        began = time.monotonic()
        await polite.stop()
        # Not the kill 10 s after SIGTERM: it ended of the SIGTERM.
        print("stopped within 5 s:", time.monotonic() - began < 5)
        said = await (
            dag.container()
            .from_(image)
            .with_mounted_cache("/log", stops)
            .with_env_variable("RUN", run_id)
            .with_exec(["sh", "-c", "cat /log/stops 2>/dev/null; true"])
            .stdout()
        )
        print("stops:", said.replace("\n", "|"))

        dying = (
            dag.container()
            .from_(image)
            .with_new_file("/www/index.html", "soon gone\n")
            .with_exposed_port(80)
            .as_service(
                args=["sh", "-c", "busybox httpd -f -p 80 -h /www & sleep 2; echo leaving early; exit 4"]
            )
        )
        try:
            await dag.container().from_(image).with_service_binding(
                "dying", dying
            ).with_exec(["sh", "-c", "sleep 60; echo survived"]).sync()
            print("dying: no error")
        except dagger.QueryError as e:
            print("dying:", str(e).replace("\n", "|"))


anyio.run(main, sys.argv[1], sys.argv[2])
