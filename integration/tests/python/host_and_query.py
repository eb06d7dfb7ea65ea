# Host and Query fields of Dagger's core API through the real Python SDK,
# each checked for the behaviour Dagger documents. The program serves its
# own HTTP files and Unix socket, on 127.0.0.1 and in its working directory.
# Usage: host_and_query.py IMAGE
# The caller sets TANTO_TEST_TOKEN and leaves TANTO_TEST_UNSET unset, and
# writes token.txt and marker.toml into the working directory.
import asyncio
import os
import platform
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import dagger
from dagger import dag

TOKEN = os.environ["TANTO_TEST_TOKEN"]
AUTH = "Bearer hdr-5b0c7e2a"
HELLO = b"hello from http\n"
hits = {}


class Files(BaseHTTPRequestHandler):
    def do_GET(self):
        hits[self.path] = hits.get(self.path, 0) + 1
        if self.path in ("/hello.txt", "/same-bytes.txt"):
            body = HELLO
        elif self.path == "/private.txt":
            if self.headers.get("Authorization") != AUTH:
                self.send_response(401)
                self.end_headers()
                return
            body = b"private\n"
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


async def fails_with(call, *words):
    """`call` fails with a message holding every word; the message."""
    try:
        await call
    except dagger.QueryError as e:
        message = str(e)
        for word in words:
            assert word in message, f"{word!r} not in {message!r}"
        return message
    raise AssertionError(f"no error, expected one naming {words}")


async def answer_on_socket(reader, writer):
    writer.write(b"hello from the host socket\n")
    await writer.drain()
    writer.close()


async def main(image: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    socket_path = os.path.join(os.getcwd(), "agent.sock")
    unix = await asyncio.start_unix_server(answer_on_socket, path=socket_path)

    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = dag.container().from_(image)

        # defaultPlatform: this machine's, as os/arch.
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine())
        assert await dag.default_platform() == f"linux/{arch}"
        print("defaultPlatform: ok")

        # secret: env://, file://, cmd://, usable in steps, masked there.
        from_env = dag.secret("env://TANTO_TEST_TOKEN")
        assert await from_env.plaintext() == TOKEN
        assert await from_env.uri() == "env://TANTO_TEST_TOKEN"
        echoed = await (
            base.with_secret_variable("T", from_env)
            .with_exec(["sh", "-c", 'echo "token=$T"; echo "${#T}"'])
            .stdout()
        )
        assert echoed == f"token=***\n{len(TOKEN)}\n", echoed
        from_file = dag.secret("file://token.txt")
        assert await from_file.plaintext() == "from a file\n"
        # Masked without its line break too, as a step rarely prints it.
        shown = await (
            base.with_secret_variable("F", from_file)
            .with_exec(["sh", "-c", 'F=$(printf %s "$F"); echo "[$F]"'])
            .stdout()
        )
        assert shown == "[***]\n", shown
        assert await dag.secret("cmd://echo from-cmd").plaintext() == "from-cmd\n"
        print("secret: ok")

        # secret: an unset variable is named; other schemes refused by name.
        await fails_with(dag.secret("env://TANTO_TEST_UNSET").plaintext(), "TANTO_TEST_UNSET")
        await fails_with(
            dag.secret("vault://kv/token").plaintext(), "vault://", "env://", "file://", "cmd://"
        )
        print("secret errors: ok")

        # http: a File named after the URL, downloaded once per session.
        hello = dag.http(f"{url}/hello.txt")
        assert await hello.contents() == HELLO.decode()
        assert await hello.name() == "hello.txt"
        assert await hello.contents() == HELLO.decode()
        assert hits["/hello.txt"] == 1, hits
        named = dag.http(f"{url}/hello.txt", name="renamed.txt", permissions=0o755)
        mode = await base.with_file("/x/renamed.txt", named).with_exec(
            ["stat", "-c", "%a %n", "/x/renamed.txt"]
        ).stdout()
        assert mode == "755 /x/renamed.txt\n", mode
        # Memoized by content: the same bytes from another URL, one digest.
        same = dag.http(f"{url}/same-bytes.txt")
        assert await same.digest() == await dag.http(f"{url}/hello.txt", name="same-bytes.txt").digest()
        print("http: ok")

        # http: the auth header from a secret; failures name URL and status.
        auth = dag.set_secret("auth", AUTH)
        private = dag.http(f"{url}/private.txt", auth_header=auth)
        assert await private.contents() == "private\n"
        await fails_with(dag.http(f"{url}/private.txt").contents(), f"{url}/private.txt", "401")
        await fails_with(dag.http(f"{url}/missing.txt").contents(), f"{url}/missing.txt", "404")
        print("http errors: ok")

        # Host.findUp: relative to the working directory; null when absent.
        assert await dag.host().find_up("marker.toml") == "marker.toml"
        assert await dag.host().find_up("tanto-no-such-file-anywhere") is None
        print("findUp: ok")

        # id: the host and the root have IDs of their own; the host's loads
        # back as the host, and node() gives either back.
        host_id = await dag.host().id()
        assert await dag.load_host_from_id(dagger.HostID(host_id)).find_up("marker.toml") == "marker.toml"
        root_id = await dag.id()
        assert root_id and root_id != host_id
        print("ids: ok")

        # unixSocket and withUnixSocket: the step talks to the host's server.
        talk = (
            "use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => '/tmp/agent.sock')"
            " or die \"connect: $!\"; print <$s>;"
        )
        socket = dag.host().unix_socket(socket_path)
        with_socket = base.with_unix_socket("/tmp/agent.sock", socket)
        heard = await with_socket.with_exec(["perl", "-e", talk]).stdout()
        assert heard == "hello from the host socket\n", heard
        gone = await (
            with_socket.without_unix_socket("/tmp/agent.sock")
            .with_exec(["sh", "-c", "test -S /tmp/agent.sock && echo there || echo gone"])
            .stdout()
        )
        assert gone == "gone\n", gone
        print("unixSocket: ok")

        # address: one string, loaded as the type asked for.
        assert await dag.address(image).container().with_exec(["echo", "hi"]).stdout() == "hi\n"
        assert "marker.toml" in await dag.address(".").directory(include=["*.toml"]).entries()
        assert await dag.address("file://token.txt").file().contents() == "from a file\n"
        assert await dag.address("TANTO_TEST_TOKEN").secret().plaintext() == TOKEN
        assert await dag.address("env:TANTO_TEST_TOKEN").secret().plaintext() == TOKEN
        via_address = dag.address(f"unix://{socket_path}").socket()
        heard = await base.with_unix_socket("/tmp/a.sock", via_address).with_exec(
            ["perl", "-e", talk.replace("agent.sock", "a.sock")]
        ).stdout()
        assert heard == "hello from the host socket\n", heard
        assert await dag.address("some-value").value() == "some-value"
        print("address: ok")

        # json, envFile and error: empty values to build on.
        assert await dag.json().contents() == "null"
        built = dag.json().with_field(["a", "b"], dag.json().new_integer(1))
        assert await built.contents() == '{"a":{"b":1}}'
        env = dag.env_file().with_variable("A", "1").with_variable("B", "${A}2")
        assert await env.get("B") == "12"
        error = dag.error("it broke").with_value("code", dagger.JSON("42"))
        assert await error.message() == "it broke"
        print("json, envFile, error: ok")

        # expand may not read a volatile or a secret variable, in Dagger's words.
        await fails_with(
            base.with_volatile_variable("RUN_ID", "123")
            .with_env_variable("COPY", "$RUN_ID", expand=True)
            .sync(),
            'expand cannot be used with volatile env variable "RUN_ID"',
        )
        await fails_with(
            base.with_secret_variable("T", from_env)
            .with_env_variable("COPY", "${T}", expand=True)
            .sync(),
            'expand cannot be used with secret env variable "T"',
        )
        expanded = await (
            base.with_env_variable("A", "one")
            .with_volatile_variable("RUN_ID", "123")
            .without_volatile_variable("RUN_ID")
            .with_env_variable("B", "$A-${RUN_ID}", expand=True)
            .env_variable("B")
        )
        assert expanded == "one-", expanded
        print("expand: ok")

        # A failing step still never shows the token.
        await fails_with(
            base.with_secret_variable("T", from_env)
            .with_exec(["sh", "-c", 'echo "$T" >&2; exit 3'])
            .sync(),
            "exit code: 3",
        )
        print("masked in errors: ok")
    unix.close()
    server.shutdown()


anyio.run(main, sys.argv[1])
