# Publishing, exporting and importing images through the real Python SDK:
# publish, asTarball + import, export, withRegistryAuth.
import sys

import anyio
import dagger
from dagger import dag


async def main(image: str, open_registry: str, auth_registry: str, password: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        built = (
            dag.container()
            .from_(image)
            .with_exec(["sh", "-c", "echo shipped > /shipped"])
            .with_env_variable("STAGE", "ship")
            .with_exposed_port(8080)
        )
        ref = await built.publish(f"{open_registry}/sdk/app:v1")
        print("published:", ref)
        pulled = await dag.container().from_(ref).with_exec(["cat", "/shipped"]).stdout()
        print("pulled:", pulled.strip())

        imported = dag.container().import_(built.as_tarball())
        shipped = await imported.with_exec(["cat", "/shipped"]).stdout()
        print("imported:", shipped.strip(), await imported.env_variable("STAGE"))
        print("exported:", await built.export("image.tar"))

        wrong = dag.set_secret("registry-password", "not-the-password")
        try:
            await built.with_registry_auth(auth_registry, "ci", wrong).publish(f"{auth_registry}/sdk/app:v1")
            print("wrong password accepted")
        except dagger.QueryError as e:
            print("refused:", str(e).splitlines()[0])
        right = dag.set_secret("registry-password", password)
        authorized = await built.with_registry_auth(auth_registry, "ci", right).publish(
            f"{auth_registry}/sdk/app:v1"
        )
        print("authorized:", authorized)


anyio.run(main, *sys.argv[1:5])
