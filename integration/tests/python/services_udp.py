# The opt-in slirp4netns uplink (TANTO_NET_UPLINK=slirp4netns), through the
# real Python SDK: a step bound to a service fetches a file over TFTP (UDP)
# from a server on the host's address and prints it, and reaches a TCP
# server there.
# Prints what it saw, one line each.
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str, host: str, udp_port: str, tcp_port: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        www = (
            dag.container()
            .from_(image)
            .with_new_file("/www/index.html", "www\n")
            .with_exposed_port(80)
            .as_service(args=["busybox", "httpd", "-f", "-p", "80", "-h", "/www"])
        )
        client = dag.container().from_(image).with_service_binding("www", www)
        try:
            udp = await client.with_exec(
                [
                    "sh",
                    "-c",
                    f"cd /tmp && timeout 10 busybox tftp -g -r greeting -l got {host} {udp_port}"
                    " && cat got || echo failed",
                ]
            ).stdout()
            print("udp:", udp.strip())
            tcp = await client.with_exec(
                ["sh", "-c", f"timeout 10 busybox wget -q -O- http://{host}:{tcp_port}/ || echo failed"]
            ).stdout()
            print("tcp:", tcp.strip())
        except dagger.QueryError as e:
            print("error:", str(e).replace("\n", "|"))


anyio.run(main, *sys.argv[1:])
