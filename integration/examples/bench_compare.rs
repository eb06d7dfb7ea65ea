//! tanto side by side with the alternatives (issue 7), run by `bench/compare`:
//! step overhead against `podman run --rm` and runc (crun refuses cgroup
//! v1-hybrid hosts like this one, in podman too, so podman runs runc); a fully cached
//! 20-step re-run; a cold pull of the Debian fixture against `podman pull`,
//! `skopeo copy` + `umoci unpack` and the floor (`curl | gzip -d | tar -x`);
//! host directory import; peak memory; the binary. Everything runs as the
//! unprivileged test user, release builds, the commands alternated within
//! each round; prints medians as a Markdown table.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::image::Image;
use support::registry::Registry;
use support::tanto::Tanto;

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7)
}

/// Samples of one measurement.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn median(&self) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted[sorted.len() / 2]
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let debian = support::fixtures::debian();
    let registry = Registry::start();
    let image = format!("{}/bench/debian:bookworm", registry.host());
    Image::new(vec![debian.layer.clone()]).push(&registry, "bench/debian", "bookworm");
    let tanto_bin = bench::release_binary(&["-p", "cli"], "tanto");
    let steps_bin =
        bench::release_binary(&["-p", "engine", "--example", "steps"], "examples/steps");
    let user = Tanto::new();
    let home = user.home().to_owned();

    // Time one command run as the test user; `ok` insists on success.
    let timed = |program: &Path, args: &[&str], ok: bool| -> (Duration, Output) {
        let started = Instant::now();
        let out = user.command_for(program, args).output().unwrap();
        let took = started.elapsed();
        if ok && !out.status.success() {
            panic!(
                "{} {args:?} failed:\n{}\n{}",
                program.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        (took, out)
    };
    let sh = |script: &str, ok: bool| timed(Path::new("/bin/sh"), &["-c", script], ok);

    // ---- set the stage ----
    let podman = format!(
        "podman --root {h}/podman/root --runroot {h}/podman/run --storage-driver overlay \
         --cgroup-manager cgroupfs --events-backend file",
        h = home.display()
    );
    let podman_env = format!("XDG_RUNTIME_DIR={h}/podman/xdg", h = home.display());
    sh(
        &format!(
            "mkdir -p {h}/podman/xdg && {podman_env} {podman} pull -q --tls-verify=false {image}",
            h = home.display()
        ),
        true,
    );
    // A runtime bundle of the image for runc: umoci's rootless one.
    sh(
        &format!(
            "cd {h} && skopeo copy -q --src-tls-verify=false docker://{image} oci:layout:bench \
             && umoci unpack --rootless --image layout:bench bundle >/dev/null \
             && sed -i 's/\"terminal\": true/\"terminal\": false/' bundle/config.json",
            h = home.display()
        ),
        true,
    );
    set_bundle_args(&home.join("bundle/config.json"), &["true"]);
    // tanto: the image pulled and a cached 20-step chain committed.
    timed(&steps_bin, &[&image, "20", "cached"], true);

    // ---- step overhead and the cached re-run ----
    let mut tanto_step: Vec<Duration> = Vec::new();
    let mut podman_run = Vec::new();
    let mut runc_run = Vec::new();
    let mut cached = Vec::new();
    for round in 0..rounds() {
        let nonce = format!("fresh-{round}-{}", std::process::id());
        let (_, out) = timed(&steps_bin, &[&image, "10", &nonce], true);
        tanto_step.push(bench::per_step(&String::from_utf8_lossy(&out.stdout)));
        let (took, _) = sh(
            &format!("{podman_env} {podman} --runtime runc run --rm --network host {image} true"),
            true,
        );
        podman_run.push(took);
        let (took, _) = sh(
            &format!(
                "cd {} && runc --root {0}/runc-state run -b bundle bench-{round}",
                home.display()
            ),
            true,
        );
        runc_run.push(took);
        let (took, out) = timed(&steps_bin, &[&image, "20", "cached"], true);
        assert!(String::from_utf8_lossy(&out.stdout).contains("0 ran, 20 cached"));
        cached.push(took);
    }

    // ---- cold pull of the Debian fixture ----
    let blob_url = format!(
        "{}/v2/bench/debian/blobs/{}",
        registry.url(),
        debian.layer.digest
    );
    let mut tanto_pull = Vec::new();
    let mut podman_pull = Vec::new();
    let mut skopeo_umoci = Vec::new();
    let mut floor = Vec::new();
    let mut tanto_rss = Vec::new();
    for round in 0..rounds() {
        let fresh = home.join(format!("pull-{round}"));
        let f = fresh.display();
        sh(&format!("mkdir -p {f}/xdg"), true);
        let (took, out) = sh(
            &format!("/usr/bin/time -f 'maxrss %M' {} --root {f}/tanto pull {image} 2>&1 >/dev/null | tail -1", tanto_bin.display()),
            true,
        );
        tanto_pull.push(took);
        tanto_rss.push(rss(&out));
        let (took, _) = sh(
            &format!(
                "XDG_RUNTIME_DIR={f}/xdg podman --root {f}/podman --runroot {f}/run --storage-driver overlay \
                 --cgroup-manager cgroupfs --events-backend file pull -q --tls-verify=false {image}"
            ),
            true,
        );
        podman_pull.push(took);
        let (took, _) = sh(
            &format!(
                "cd {f} && skopeo copy -q --src-tls-verify=false docker://{image} oci:layout:x \
                 && umoci unpack --rootless --image layout:x bundle >/dev/null"
            ),
            true,
        );
        skopeo_umoci.push(took);
        // The floor: fetch and unpack, nothing else (device nodes fail to
        // unpack unprivileged; tar goes on).
        let (took, _) = sh(
            &format!("mkdir {f}/floor && curl -s {blob_url} | gzip -d | tar -x -C {f}/floor 2>/dev/null; true"),
            true,
        );
        floor.push(took);
        sh(&format!("rm -rf {f}"), false);
        // Stores made inside the user namespace belong to subordinate ids.
        let _ = Command::new("rm").arg("-rf").arg(&fresh).status();
    }

    // ---- host directory import: 100k files, about 1 GB ----
    let tree = home.join("tree");
    generate_tree(&tree, &user);
    let store = home.join("import-store");
    let query = user.write_home_file(
        "import.graphql",
        "{ host { directory(path: \"tree\") { entries } } }",
    );
    let import = |fresh: bool| {
        if fresh {
            let _ = Command::new("rm").arg("-rf").arg(&store).status();
        }
        timed(
            &tanto_bin,
            &[
                "--root",
                store.to_str().unwrap(),
                "query",
                query.to_str().unwrap(),
            ],
            true,
        )
        .0
    };
    let (mut first_import, mut re_import) = (Samples::default(), Samples::default());
    for _ in 0..rounds().min(3) {
        first_import.0.push(import(true));
        re_import.0.push(import(false));
    }

    // ---- the binary ----
    let size = std::fs::metadata(&tanto_bin).unwrap().len();
    let linkage = String::from_utf8_lossy(
        &Command::new("file")
            .arg(&tanto_bin)
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    let mut version = Samples::default();
    for _ in 0..rounds() * 3 {
        version.0.push(timed(&tanto_bin, &["version"], true).0);
    }

    let (tanto_step, podman_run) = (Samples(tanto_step), Samples(podman_run));
    let ratio = |a: &Samples, b: &Samples| b.median().as_secs_f64() / a.median().as_secs_f64();
    println!("| measurement | tanto | alternative | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| uncached `true` step (per step, chain of 10) vs `podman run --rm IMAGE true` | {} | {} | {:.1}× | ≤ 10 ms, ≥ 15× |",
        ms(tanto_step.median()),
        ms(podman_run.median()),
        ratio(&tanto_step, &podman_run)
    );
    let runc_run = Samples(runc_run);
    println!(
        "| … vs `runc run` of a prepared bundle | | {} | {:.1}× | |",
        ms(runc_run.median()),
        ratio(&tanto_step, &runc_run)
    );
    println!(
        "| fully cached 20-step pipeline, whole process | {} | | | ≤ 50 ms |",
        ms(Samples(cached).median())
    );
    let (tanto_pull, floor) = (Samples(tanto_pull), Samples(floor));
    println!(
        "| cold pull of the Debian fixture vs `podman pull` | {} | {} | {:.1}× | ≥ 3× |",
        ms(tanto_pull.median()),
        ms(Samples(podman_pull.clone()).median()),
        ratio(&tanto_pull, &Samples(podman_pull))
    );
    println!(
        "| … vs `skopeo copy` + `umoci unpack` | | {} | {:.1}× | |",
        ms(Samples(skopeo_umoci.clone()).median()),
        ratio(&tanto_pull, &Samples(skopeo_umoci))
    );
    println!(
        "| … vs the floor, `curl | gzip -d | tar -x` | | {} | tanto at {:.2}× the floor | ≤ 1.3× |",
        ms(floor.median()),
        tanto_pull.median().as_secs_f64() / floor.median().as_secs_f64()
    );
    println!(
        "| peak RSS of `tanto pull` (Debian fixture) | {:.1} MB | | | ≤ 100 MB (1 GB image) |",
        Samples(tanto_rss).median().as_secs_f64()
    );
    println!(
        "| host directory, 100k files (~1 GB): first import, whole `tanto query` | {} | | | ≤ 3 s |",
        ms(first_import.median())
    );
    println!(
        "| … unchanged re-import, whole `tanto query` | {} | | | ≤ 300 ms |",
        ms(re_import.median())
    );
    println!(
        "| release binary | {:.1} MB, {} | | | static, ≤ 20 MB |",
        size as f64 / 1e6,
        if linkage.contains("statically") {
            "static"
        } else {
            "dynamically linked"
        }
    );
    println!(
        "| `tanto version` | {} | | | ≤ 5 ms |",
        ms(version.median())
    );
}

/// Peak RSS as a Duration in "seconds = kB / 1000", so medians reuse Samples.
fn rss(out: &Output) -> Duration {
    let text = String::from_utf8_lossy(&out.stdout);
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("maxrss "))
        .unwrap_or_else(|| panic!("no maxrss in {text}"))
        .trim()
        .parse()
        .unwrap();
    Duration::from_millis(kb)
}

/// Replaces the process args of a runtime bundle's config.
fn set_bundle_args(config: &Path, args: &[&str]) {
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(args);
    spec["process"]["terminal"] = false.into();
    std::fs::write(config, serde_json::to_vec(&spec).unwrap()).unwrap();
}

/// 100 directories of 1000 files of 10 kB, owned by the test user.
fn generate_tree(tree: &Path, user: &Tanto) {
    for d in 0..100 {
        let dir = tree.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..1000 {
            let mut data = vec![0u8; 10_000];
            data[..8].copy_from_slice(&((d * 1000 + f) as u64).to_le_bytes());
            std::fs::write(dir.join(format!("f{f:04}")), data).unwrap();
        }
    }
    let owner = format!("{}:{}", user.run_as.uid, user.run_as.gid);
    assert!(Command::new("chown")
        .args(["-R", &owner])
        .arg(tree)
        .status()
        .unwrap()
        .success());
}
