# The session network's ways in and out, through the real Python SDK:
# outbound TCP from a bound step to a server on the host's own address,
# names the host resolves, a service found by its hostname through the
# session's DNS alone, the host's loopback out of reach except through
# Host.service. Prints what it saw, one line each.
#
# argv: image, the host's address, a port served there, a port served on
# the host's 127.0.0.1, a name the host resolves, a run id.
import sys

import anyio
import dagger
from dagger import dag


async def main(image, host_ip, outside_port, loopback_port, name, run_id) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        def httpd(text: str) -> dagger.Service:
            return (
                dag.container()
                .from_(image)
                .with_new_file("/www/index.html", text + "\n")
                .with_exposed_port(80)
                .as_service(args=["busybox", "httpd", "-f", "-p", "80", "-h", "/www"])
            )

        www = httpd("www")
        # Started, never bound: only the session's DNS knows its name.
        unbound = httpd("found by its name alone")
        await unbound.start()
        unbound_name = await unbound.hostname()

        client = (
            dag.container()
            .from_(image)
            .with_service_binding("www", www)
            .with_env_variable("RUN", run_id)
        )

        async def run(label: str, script: str) -> None:
            out = await client.with_exec(["sh", "-c", script]).stdout()
            print(f"{label}:", out.strip().replace("\n", "|"))

        await run(
            "outbound",
            f"timeout 10 busybox wget -q -O- http://{host_ip}:{outside_port}/ || echo failed",
        )
        await run(
            "own loopback",
            f"timeout 10 busybox wget -q -O- http://127.0.0.1:{loopback_port}/ 2>/dev/null || echo unreachable",
        )
        await run(
            "by dns",
            f"busybox grep -c {unbound_name} /etc/hosts; "
            f"timeout 10 busybox wget -q -O- http://{unbound_name}/ || echo failed",
        )
        await run(
            "resolved",
            f"busybox nslookup {name} | busybox awk '/^Address/ && !/:53$/ {{print $NF}}' | busybox head -n1",
        )
        await run("resolv.conf", "busybox grep ^nameserver /etc/resolv.conf")

        on_host = dag.host().service(
            [dagger.PortForward(backend=int(loopback_port), frontend=8080)]
        )
        answer = await (
            dag.container()
            .from_(image)
            .with_service_binding("host", on_host)
            .with_exec(["sh", "-c", "timeout 10 busybox wget -q -O- http://host:8080/ || echo failed"])
            .stdout()
        )
        print("host service:", answer.strip())


anyio.run(main, *sys.argv[1:])
