"""Lint, build and test a small shell project

A Dagger module, run unmodified by tanto (and by Dagger):

    tanto call -m examples/modules/python test --source=engine/examples/project --token=env:CI_TOKEN
    tanto call -m examples/modules/python build --source=engine/examples/project export --path=out

`--image` (before the function) chooses the image the project is built in.
"""

import dagger
from dagger import dag, field, function, object_type


@object_type
class Ci:
    image: str = field(default="debian:bookworm")

    def _base(self, source: dagger.Directory) -> dagger.Container:
        return (
            dag.container()
            .from_(self.image)
            .with_mounted_cache(
                "/var/cache/builds",
                dag.cache_volume("ci-builds"),
                sharing=dagger.CacheSharingMode.LOCKED,
            )
            .with_directory("/project", source)
            .with_workdir("/project")
        )

    @function
    async def lint(self, source: dagger.Directory) -> str:
        """Check the scripts' syntax"""
        return await (
            self._base(source)
            .with_exec(["sh", "-c", "for f in bin/* test/*; do sh -n \"$f\" || exit 1; done; echo lint ok"])
            .stdout()
        )

    @function
    def build(self, source: dagger.Directory) -> dagger.Directory:
        """Install the tool; its directory, to export"""
        return (
            self._base(source)
            .with_exec(["sh", "-c", "mkdir -p /out && install -m 755 bin/sum /out/sum && date >> /var/cache/builds/log"])
            .directory("/out")
        )

    @function
    async def test(self, source: dagger.Directory, token: dagger.Secret) -> str:
        """Run the tests with the installed tool (TOKEN stands for a real credential)"""
        return await (
            self._base(source)
            .with_directory("/usr/local/bin", self.build(source))
            .with_secret_variable("TOKEN", token)
            .with_exec(["sh", "-c", "test -n \"$TOKEN\" && sh test/run.sh"])
            .stdout()
        )
