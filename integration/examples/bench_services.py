# Timings for bench/services, through the Python SDK (see
# integration/examples/bench_services.rs): N uncached `true` steps without
# a binding, N bound to a running busybox httpd, and the service's start
# until healthy. Prints one `name: milliseconds` line each.
import sys
import time
import uuid

import anyio
import dagger
from dagger import dag


async def main(image: str, n: int) -> None:
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
        await www.stop()


anyio.run(main, sys.argv[1], int(sys.argv[2]))
