// from + withExec + stdout, exit codes, ExecError and concurrent branches
// through the real TypeScript SDK. Usage: node chain.mjs IMAGE
import { connection, dag, ReturnType } from "@dagger.io/dagger";

const image = process.argv[2];

await connection(async () => {
  const base = dag.container().from(image);
  const out = await base.withEnvVariable("A", "b").withExec(["sh", "-c", "echo $A"]).stdout();
  console.log("stdout:", out.trim());

  const code = await base.withExec(["sh", "-c", "exit 3"], { expect: ReturnType.Any }).exitCode();
  console.log("exit code:", code);

  try {
    await base.withExec(["sh", "-c", "echo out; exit 5"]).stdout();
  } catch (e) {
    console.log("exec error:", e.constructor.name, e.exitCode, e.stdout.trim());
  }

  const branch = (name) =>
    base.withExec(["sh", "-c", `date +%s.%N; sleep 1; date +%s.%N # ${name}`]).stdout();
  const [left, right] = await Promise.all([branch("left"), branch("right")]);
  console.log("branch left:", left.split("\n").slice(0, 2).join(" "));
  console.log("branch right:", right.split("\n").slice(0, 2).join(" "));

  const file = await base.withNewFile("/hello.txt", "hi").sync();
  console.log("synced file:", await file.file("/hello.txt").contents());
});
