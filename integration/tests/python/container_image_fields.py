# Container fields of Dagger's core API (issue 17, point 1) that the image
# or the cache sees, through the real Python SDK: volatile variables,
# annotations, the Docker healthcheck, exportImage.
# Usage: container_image_fields.py IMAGE RUN_ID
import json
import sys
import urllib.request

import anyio
import dagger
from dagger import dag

RANDOM = "echo $RUN_ID; head -c 16 /dev/urandom | od -An -x"
# Another step than RANDOM's, so that its first run in a fresh store is
# the test's first run of the program.
ACROSS = "echo $RUN_ID; head -c 16 /dev/urandom | od -An -x; echo across runs"


def fetch(url: str, accept: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request) as answer:
        return answer.read()


async def main(image: str, run_id: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = dag.container().from_(image)

        # A volatile variable: steps see it, envVariables do not, and a new
        # value alone is a cache hit (the first value's output comes back).
        volatile = base.with_env_variable("PERSIST", "persist").with_volatile_variable("VOL", "volatile")
        out = await volatile.with_exec(["sh", "-c", 'printf "%s:%s" "$PERSIST" "$VOL"']).stdout()
        assert out == "persist:volatile", out
        assert await volatile.env_variable("VOL") is None
        names = [await v.name() for v in await volatile.env_variables()]
        assert "VOL" not in names and "PERSIST" in names, names
        first = await base.with_volatile_variable("RUN_ID", "one").with_exec(["sh", "-c", RANDOM]).stdout()
        second = await base.with_volatile_variable("RUN_ID", "two").with_exec(["sh", "-c", RANDOM]).stdout()
        assert first == second, (first, second)
        # This run's own value, for the test to run the program again with
        # another one and find the step cached across processes.
        print("cached across runs:", await base.with_volatile_variable("RUN_ID", run_id).with_exec(["sh", "-c", ACROSS]).stdout(), end="")
        marked = await (
            base.with_new_file("/marker", "b")
            .with_volatile_variable("RUN_ID", "two")
            .with_exec(["sh", "-c", 'printf "%s:%s" "$RUN_ID" "$(cat /marker)"'])
            .stdout()
        )
        assert marked == "two:b", marked
        over = base.with_env_variable("FOO", "persist").with_volatile_variable("FOO", "a").with_volatile_variable("FOO", "b")
        assert await over.with_exec(["sh", "-c", 'printf "$FOO"']).stdout() == "b"
        assert await over.without_volatile_variable("FOO").with_exec(["sh", "-c", 'printf "$FOO"']).stdout() == "persist"
        # It survives `from`, as Dagger's does.
        through = await dag.container().with_volatile_variable("V", "kept").from_(image).with_exec(["sh", "-c", 'printf "$V"']).stdout()
        assert through == "kept", through
        print("volatile variables: ok")

        # The healthcheck, read back as Dagger answers it.
        checked = base.with_docker_healthcheck(["curl", "-f", "localhost"], interval="90s", timeout="3s", retries=3)
        hc = checked.docker_healthcheck()
        assert await hc.args() == ["curl", "-f", "localhost"]
        assert await hc.shell() is False
        assert await hc.interval() == "1m30s"
        assert await hc.timeout() == "3s"
        assert await hc.start_period() == "0s"
        assert await hc.retries() == 3
        shell = base.with_docker_healthcheck(["curl -f localhost || exit 1"], shell=True).docker_healthcheck()
        assert await shell.shell() is True
        try:
            await base.with_docker_healthcheck(["a", "b"], shell=True).sync()
            raise AssertionError("two shell words were taken")
        except dagger.QueryError as e:
            assert "shell" in str(e), str(e)
        print("healthcheck: ok")

        # Annotations in the published manifest, the healthcheck in its
        # config (without the volatile variable), and read back from it.
        host = image.split("/", 1)[0]
        published = await (
            checked.with_volatile_variable("VOL", "volatile")
            .with_annotation("org.opencontainers.image.version", "v0.1.2")
            .with_annotation("org.example.gone", "x")
            .without_annotation("org.example.gone")
            .publish(f"{host}/team/annotated:1")
        )
        digest = published.split("@", 1)[1]
        manifest = json.loads(fetch(f"http://{host}/v2/team/annotated/manifests/{digest}", "application/vnd.oci.image.manifest.v1+json"))
        assert manifest["annotations"] == {"org.opencontainers.image.version": "v0.1.2"}, manifest
        config = json.loads(fetch(f"http://{host}/v2/team/annotated/blobs/{manifest['config']['digest']}", "*/*"))
        assert config["config"]["Healthcheck"] == {
            "Test": ["CMD", "curl", "-f", "localhost"],
            "Interval": 90_000_000_000,
            "Timeout": 3_000_000_000,
            "Retries": 3,
        }, config["config"]
        assert not any(e.startswith("VOL=") for e in config["config"]["Env"]), config["config"]["Env"]
        again = dag.container().from_(published)
        assert await again.docker_healthcheck().interval() == "1m30s"
        gone = await again.without_docker_healthcheck().publish(f"{host}/team/annotated:2")
        manifest = json.loads(fetch(f"http://{host}/v2/team/annotated/manifests/{gone.split('@', 1)[1]}", "application/vnd.oci.image.manifest.v1+json"))
        config = json.loads(fetch(f"http://{host}/v2/team/annotated/blobs/{manifest['config']['digest']}", "*/*"))
        assert "Healthcheck" not in config["config"], config["config"]
        assert "annotations" not in manifest, manifest
        print("annotations: ok")

        # exportImage: no image store to load into; the error says what to do.
        try:
            await base.export_image("app:latest")
            raise AssertionError("exportImage did not fail")
        except dagger.QueryError as e:
            assert "exportImage" in str(e) and "podman load" in str(e), str(e)
        print("exportImage: ok")


anyio.run(main, sys.argv[1], sys.argv[2])
