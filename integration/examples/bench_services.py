# Timings for bench/services, through the Python SDK (see
# integration/examples/bench_services.rs): N uncached `true` steps without
# a binding, N bound to a running busybox httpd, and the service's start
# until healthy; then a stream of SIZE MiB read from a server on the host's
# address, by a step on the host's network (direct) and by one bound to
# the service (through tanto's relay). Prints one `name: milliseconds`
# line each.
import sys
import time
import uuid

import anyio
import dagger
from dagger import dag


READ = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
buffer, total = bytearray(1 << 20), 0
while (n := s.recv_into(buffer)):
    total += n
print(total)
"""


async def main(image: str, python: str, n: int, host: str, port: str, size_mib: int) -> None:
    nonce = uuid.uuid4().hex
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = dag.container().from_(image)
        www = (
            base.with_new_file("/www/index.html", "up\n")
            .with_env_variable("NONCE", nonce)
            .with_exposed_port(80)
            .as_service(args=["busybox", "httpd", "-f", "-p", "80", "-h", "/www"])
        )
        await base.with_new_file("/www/index.html", "up\n").sync()
        began = time.monotonic()
        await www.start()
        print(f"start until healthy: {(time.monotonic() - began) * 1000:.1f}")
        bound = base.with_service_binding("www", www)
        for kind, container in [("unbound step", base), ("bound step", bound)]:
            began = time.monotonic()
            for i in range(n):
                await container.with_env_variable("RUN", f"{nonce}-{i}").with_exec(["true"]).sync()
            print(f"{kind}: {(time.monotonic() - began) * 1000 / n:.1f}")
        read = ["python3", "-c", READ, host, port]
        reader = dag.container().from_(python)
        await reader.sync()
        for kind, container in [
            ("direct stream", reader),
            ("relayed stream", reader.with_service_binding("www", www)),
        ]:
            began = time.monotonic()
            got = await container.with_env_variable("RUN", f"{nonce}-{kind}").with_exec(read).stdout()
            assert int(got) == size_mib << 20, got
            print(f"{kind}: {(time.monotonic() - began) * 1000:.1f}")
        await www.stop()


image, python, n, host, port, size = sys.argv[1:]
anyio.run(main, image, python, int(n), host, port, int(size))
