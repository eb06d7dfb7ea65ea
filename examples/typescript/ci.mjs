// A CI pipeline with the official Dagger TypeScript SDK, run by tanto:
//
//   tanto run -- node examples/typescript/ci.mjs debian:bookworm engine/examples/project out
//
// Lints, builds and tests the small shell project in IMAGE, keeps a build log
// in a cache volume, and exports the built tool to OUT_DIR.
import { connection, dag, CacheSharingMode } from "@dagger.io/dagger";

const [image, project, out] = process.argv.slice(2);

await connection(async () => {
  const source = dag.host().directory(project, { exclude: ["*.tmp"] });
  const built = dag
    .container()
    .from(image)
    .withMountedCache("/var/cache/builds", dag.cacheVolume("sum-builds"), {
      sharing: CacheSharingMode.Locked,
    })
    .withDirectory("/project", source)
    .withWorkdir("/project")
    .withExec(["sh", "-n", "bin/sum"])
    .withExec(["sh", "-c", "install -m 755 bin/sum /usr/local/bin/sum && date >> /var/cache/builds/log"]);
  const tested = built.withExec(["sh", "test/run.sh"]);
  process.stdout.write(await tested.stdout());
  const exported = await tested.file("/usr/local/bin/sum").export(`${out}/sum`);
  console.log(`exported ${exported}`);
});
