import {
  CacheSharingMode,
  Container,
  dag,
  Directory,
  func,
  object,
  Secret,
} from "@dagger.io/dagger"

/**
 * Lint, build and test a small shell project
 *
 * A Dagger module, run unmodified by tanto (and by Dagger), the twin of
 * examples/modules/python:
 *
 *     tanto call -m examples/modules/typescript test --source=engine/examples/project --token=env:CI_TOKEN
 *     tanto call -m examples/modules/typescript build --source=engine/examples/project export --path=out
 *
 * `--image` (before the function) chooses the image the project is built in.
 */
@object()
export class CiTs {
  @func()
  image: string

  constructor(image: string = "debian:bookworm") {
    this.image = image
  }

  /**
   * Check the scripts' syntax
   */
  @func()
  async lint(source: Directory): Promise<string> {
    return this.base(source)
      .withExec(["sh", "-c", 'for f in bin/* test/*; do sh -n "$f" || exit 1; done; echo lint ok'])
      .stdout()
  }

  /**
   * Install the tool; its directory, to export
   */
  @func()
  build(source: Directory): Directory {
    return this.base(source)
      .withExec([
        "sh",
        "-c",
        "mkdir -p /out && install -m 755 bin/sum /out/sum && date >> /var/cache/builds/log",
      ])
      .directory("/out")
  }

  /**
   * Run the tests with the installed tool (TOKEN stands for a real credential)
   */
  @func()
  async test(source: Directory, token: Secret): Promise<string> {
    return this.base(source)
      .withDirectory("/usr/local/bin", this.build(source))
      .withSecretVariable("TOKEN", token)
      .withExec(["sh", "-c", 'test -n "$TOKEN" && sh test/run.sh'])
      .stdout()
  }

  // Not a function (no @func): the container every function starts from,
  // the builds' cache shared one writer at a time.
  private base(source: Directory): Container {
    return dag
      .container()
      .from(this.image)
      .withMountedCache("/var/cache/builds", dag.cacheVolume("ci-builds"), {
        sharing: CacheSharingMode.Locked,
      })
      .withDirectory("/project", source)
      .withWorkdir("/project")
  }
}
