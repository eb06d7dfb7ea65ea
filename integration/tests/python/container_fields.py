# Container fields of Dagger's core API (issue 17, point 1) through the real
# Python SDK, each checked for the behaviour Dagger documents.
# Usage: container_fields.py IMAGE
import sys

import anyio
import dagger
from dagger import ExistsType, NetworkProtocol, dag


async def main(image: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = dag.container().from_(image)

        # withoutDirectory, withoutFile, withoutFiles: gone from the rootfs;
        # a missing path is not an error; `*` removes what it matches.
        tree = (
            base.with_new_file("/work/a/one", "1")
            .with_new_file("/work/b.txt", "b")
            .with_new_file("/work/c.txt", "c")
            .with_new_file("/work/keep", "k")
        )
        left = await (
            tree.without_directory("/work/a")
            .without_directory("/not/there")
            .without_file("/work/b.txt")
            .without_file("/nope")
            .with_exec(["ls", "/work"])
            .stdout()
        )
        assert left == "c.txt\nkeep\n", left
        left = await tree.without_files(["/work/*.txt", "/missing"]).with_exec(["ls", "/work"]).stdout()
        assert left == "a\nkeep\n", left
        print("without files: ok")

        # withFiles keeps names; withSymlink makes a real link.
        one = dag.directory().with_new_file("x/first", "1").file("x/first")
        two = dag.file("second", "2")
        listed = await base.with_files("/dest", [one, two]).with_exec(["ls", "/dest"]).stdout()
        assert listed == "first\nsecond\n", listed
        link = await base.with_symlink("/etc/hostname", "/tmp/l").with_exec(["readlink", "/tmp/l"]).stdout()
        assert link == "/etc/hostname\n", link
        print("withFiles, withSymlink: ok")

        # without* of the config: back to nothing.
        configured = (
            base.with_entrypoint(["sh", "-c"])
            .with_default_args(["echo hi"])
            .with_user("nobody")
            .with_workdir("/tmp")
        )
        assert await configured.without_entrypoint().entrypoint() == []
        assert await configured.without_entrypoint().default_args() == []
        assert await configured.without_entrypoint(keep_default_args=True).default_args() == ["echo hi"]
        assert await configured.without_default_args().default_args() == []
        assert await configured.without_user().user() == ""
        assert await configured.without_workdir().workdir() == ""
        pwd = await configured.without_workdir().without_user().without_entrypoint().with_exec(["pwd"]).stdout()
        assert pwd == "/\n", pwd
        print("without config: ok")

        # mounts and withoutMount; withoutSecretVariable.
        mounted = base.with_mounted_directory("/m", dag.directory()).with_mounted_temp("/t")
        assert await mounted.mounts() == ["/m", "/t"]
        assert await mounted.without_mount("/m").mounts() == ["/t"]
        secret = dag.set_secret("s", "value-not-shown")
        with_secret = base.with_secret_variable("S", secret)
        out = await with_secret.without_secret_variable("S").with_exec(["sh", "-c", 'echo "[${S:-unset}]"']).stdout()
        assert out == "[unset]\n", out
        print("mounts: ok")

        # withEnvFileVariables: every variable, expanded.
        env = dag.env_file().with_variable("A", "1").with_variable("B", "${A}2")
        with_env = base.with_env_file_variables(env)
        assert await with_env.env_variable("A") == "1"
        assert await with_env.env_variable("B") == "12"
        print("withEnvFileVariables: ok")

        # label, labels, exposedPorts.
        labelled = base.with_label("org.x", "1").with_label("org.y", "2")
        assert await labelled.label("org.x") == "1"
        assert await labelled.label("missing") is None
        names = [await l.name() for l in await labelled.labels()]
        assert "org.x" in names and "org.y" in names, names
        ports = await base.with_exposed_port(8080).with_exposed_port(53, protocol=NetworkProtocol.UDP).exposed_ports()
        seen = sorted([(await p.port(), await p.protocol()) for p in ports])
        assert seen == [(53, NetworkProtocol.UDP), (8080, NetworkProtocol.TCP)], seen
        print("labels, exposedPorts: ok")

        # exists and stat, in the rootfs and in mounts, relative to workdir.
        files = base.with_new_file("/srv/f", "abc").with_workdir("/srv")
        assert await files.exists("f")
        assert await files.exists("/srv", expected_type=ExistsType.DIRECTORY_TYPE)
        assert not await files.exists("g")
        assert await files.with_mounted_directory("/mnt", dag.directory().with_new_file("in", "x")).exists("/mnt/in")
        stat = files.stat("f")
        assert await stat.size() == 3
        assert await stat.name() == "f"
        print("exists, stat: ok")

        # withError: an empty message passes the container on.
        assert await base.with_error("").with_exec(["true"]).exit_code() == 0
        try:
            await base.with_error("it broke").sync()
            raise AssertionError("withError did not fail")
        except dagger.QueryError as e:
            assert "it broke" in str(e), str(e)
        print("withError: ok")


anyio.run(main, sys.argv[1])
