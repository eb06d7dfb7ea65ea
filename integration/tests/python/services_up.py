# Service.up through the real Python SDK: a busybox httpd's port 80 on the
# host's 127.0.0.1:PORT, fetched from this program (on the host) while up
# runs, then given up. Then Host.tunnel to the same service: started, its
# endpoint fetched, stopped.
import sys
import time
import urllib.request

import anyio
import dagger
from dagger import dag


def fetch(port: int) -> str:
    return fetch_url(f"http://127.0.0.1:{port}/")


def fetch_url(url: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def main(image: str, port: str, second_port: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        www = (
            dag.container()
            .from_(image)
            .with_new_file("/www/index.html", "hello through up\n")
            .with_exposed_port(80)
            .as_service(args=["busybox", "httpd", "-f", "-p", "80", "-h", "/www"])
        )
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: www.up(ports=[dagger.PortForward(backend=80, frontend=int(port))])
            )
            body = await anyio.to_thread.run_sync(fetch, int(port))
            print("up:", body.strip())
            group.cancel_scope.cancel()

        # Container.up: asService and up in one call, on a free port
        # that progress names; this program finds it there.
        site = (
            dag.container()
            .from_(image)
            .with_new_file("/www/index.html", "hello through Container.up\n")
            .with_exposed_port(80)
        )
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: site.up(
                    ports=[dagger.PortForward(backend=80, frontend=int(second_port))],
                    args=["busybox", "httpd", "-f", "-p", "80", "-h", "/www"],
                )
            )
            body = await anyio.to_thread.run_sync(fetch, int(second_port))
            print("container up:", body.strip())
            group.cancel_scope.cancel()

        tunnel = dag.host().tunnel(www)
        await tunnel.start()
        endpoint = await tunnel.endpoint(scheme="http")
        print("tunnel endpoint on loopback:", endpoint.startswith("http://127.0.0.1:"))
        body = await anyio.to_thread.run_sync(fetch_url, endpoint + "/")
        print("tunnel:", body.strip())
        await tunnel.stop()
        try:
            urllib.request.urlopen(endpoint + "/", timeout=5)
            print("after stop: still open")
        except OSError:
            print("after stop: closed")


anyio.run(main, *sys.argv[1:])
