//! tanto side by side with the alternatives (issue 7), run by `bench/compare`:
//! step overhead against `podman run --rm` and runc (crun refuses cgroup
//! v1-hybrid hosts like this one, in podman too, so podman runs runc); a fully cached
//! 20-step re-run; a cold pull of the Debian fixture against `podman pull`,
//! `skopeo copy` + `umoci unpack` and the floor (`curl | gzip -d | tar -x`);
//! host directory import; peak memory; the binary. Everything runs as the
//! unprivileged test user, release builds, the commands alternated within
//! each round; prints medians as a Markdown table.
#![allow(clippy::print_stdout, clippy::print_stderr)]

// bench_steps shares this module and uses other parts of it.
#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/end_to_end/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::image::{Codec, Image, Layer};
use support::registry::Registry;
use support::tanto::Tanto;

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
    let (tanto_bin, steps_bin) = bench::static_tanto_and_steps();
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
    for round in 0..bench::rounds(7) {
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
    let mut floor_sync = Vec::new();
    let mut tanto_rss = Vec::new();
    for round in 0..bench::rounds(7) {
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
        // tanto makes its snapshot durable (`syncfs`) before it is used:
        // the same floor, made durable too.
        let (took, _) = sh(
            &format!("mkdir {f}/floor-sync && curl -s {blob_url} | gzip -d | tar -x -C {f}/floor-sync 2>/dev/null; sync -f {f}/floor-sync"),
            true,
        );
        floor_sync.push(took);
        // Nothing is deleted until the end: ext4 skips inodes freed in the
        // last minute when it allocates new ones, which made every round
        // after a deletion slower than the one before.
    }

    // ---- host directory import: 100k files, about 1 GB ----
    let tree = home.join("tree");
    generate_tree(&tree, &user);
    let query = user.write_home_file(
        "import.graphql",
        "{ host { directory(path: \"tree\") { entries } } }",
    );
    let import = |store: &Path| {
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
    let mut copy_floor = Samples::default();
    for round in 0..bench::rounds(7).min(3) {
        let store = home.join(format!("import-{round}"));
        first_import.0.push(import(&store));
        re_import.0.push(import(&store));
        // The floor: the same files copied by `cp -a` and made durable, as
        // tanto's snapshot is.
        let copy = home.join(format!("copy-{round}"));
        let (took, _) = sh(
            &format!(
                "cp -a {} {c} && sync -f {c}",
                tree.display(),
                c = copy.display()
            ),
            true,
        );
        copy_floor.0.push(took);
    }

    // ---- peak memory while pulling a 1 GB image ----
    let big = big_layer();
    let big_size = big.blob.len();
    Image::new(vec![big]).push(&registry, "bench/big", "1g");
    let big_image = format!("{}/bench/big:1g", registry.host());
    let (mut big_pull, mut big_rss) = (Samples::default(), Samples::default());
    for round in 0..bench::rounds(7).min(3) {
        let (took, out) = sh(
            &format!(
                "/usr/bin/time -f 'maxrss %M' {} --root {}/big-{round} pull {big_image} 2>&1 >/dev/null | tail -1",
                tanto_bin.display(),
                home.display()
            ),
            true,
        );
        big_pull.0.push(took);
        big_rss.0.push(rss(&out));
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
    // hyperfine starts each run itself (no shell), so `setpriv` and the
    // harness are not in the time; `/bin/true` shows what starting any
    // process costs the same way.
    let version = hyperfine_median(
        &user,
        &[&format!("{} version", tanto_bin.display()), "/bin/true"],
    );

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
    let (podman_pull, skopeo_umoci) = (Samples(podman_pull), Samples(skopeo_umoci));
    println!(
        "| cold pull of the Debian fixture vs `podman pull` | {} | {} | {:.1}× | ≥ 3× |",
        ms(tanto_pull.median()),
        ms(podman_pull.median()),
        ratio(&tanto_pull, &podman_pull)
    );
    println!(
        "| … vs `skopeo copy` + `umoci unpack` | | {} | {:.1}× | |",
        ms(skopeo_umoci.median()),
        ratio(&tanto_pull, &skopeo_umoci)
    );
    println!(
        "| … vs the floor, `curl | gzip -d | tar -x` | | {} | tanto at {:.2}× the floor | ≤ 1.3× |",
        ms(floor.median()),
        tanto_pull.median().as_secs_f64() / floor.median().as_secs_f64()
    );
    let floor_sync = Samples(floor_sync);
    println!(
        "| … vs the floor made durable, `curl | gzip -d | tar -x` + `sync -f` | | {} | tanto at {:.2}× this floor | |",
        ms(floor_sync.median()),
        tanto_pull.median().as_secs_f64() / floor_sync.median().as_secs_f64()
    );
    println!(
        "| peak RSS of `tanto pull` (Debian fixture) | {:.1} MB | | | ≤ 100 MB (1 GB image) |",
        Samples(tanto_rss).median().as_secs_f64()
    );
    println!(
        "| host directory, 100k files (~1 GB): first import, whole `tanto query` vs the floor, `cp -a` + `sync -f` | {} | {} | {:.1}× | ≤ 3 s |",
        ms(first_import.median()),
        ms(copy_floor.median()),
        ratio(&first_import, &copy_floor)
    );
    println!(
        "| … unchanged re-import, whole `tanto query` | {} | | | ≤ 300 ms |",
        ms(re_import.median())
    );
    println!(
        "| peak RSS of `tanto pull`, 1 GB image ({:.0} MB compressed; pull time {}) | {:.1} MB | | | ≤ 100 MB |",
        big_size as f64 / 1e6,
        ms(big_pull.median()),
        big_rss.median().as_secs_f64()
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
        "| `tanto version` (hyperfine, as the test user) vs `/bin/true` | {} | {} | | ≤ 5 ms |",
        ms(version[0]),
        ms(version[1])
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

/// A 1 GB layer: 64 files of 16 MiB of pseudo-random bytes from a
/// 64-letter alphabet, so gzip has something to do (about 75% of the size).
fn big_layer() -> Layer {
    let mut builder = tar::Builder::new(Vec::new());
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..64 {
        let mut data = vec![0u8; 16 << 20];
        for byte in &mut data {
            // xorshift64: fast, and the same bytes every run.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = b'0' + (state >> 58) as u8;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("big/{i:02}"), &data[..])
            .unwrap();
    }
    Layer::new(&builder.into_inner().unwrap(), Codec::Gzip)
}

/// Medians of `hyperfine -N` runs of each command, as the test user.
fn hyperfine_median(user: &Tanto, commands: &[&str]) -> Vec<Duration> {
    let json = user.home().join("hyperfine.json");
    let mut args = vec!["-N", "--warmup", "5", "--runs", "51", "--export-json"];
    args.push(json.to_str().unwrap());
    args.extend_from_slice(commands);
    let out = user
        .command_for(Path::new("/usr/bin/hyperfine"), &args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hyperfine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Duration::from_secs_f64(r["median"].as_f64().unwrap()))
        .collect()
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
