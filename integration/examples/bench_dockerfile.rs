//! Dockerfile builds (issue 20), run by `bench/dockerfile`: a 20-instruction
//! Dockerfile built by `tanto build` and by `podman build` (buildah) as the
//! unprivileged test user, whole processes, medians: cold (a fresh store,
//! the base image pulled from the local registry) and again with nothing
//! changed; then with nothing changed in a context of 100 000 files.
//! tanto is the static release build, or `BENCH_TANTO=PATH`.
#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/end_to_end/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::tanto::Tanto;

const DOCKERFILE: &str = r#"ARG BASE
FROM ${BASE}
ARG VERSION=1.0
ENV APP_HOME=/app
ENV MODE=release
ENV PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /app
COPY src/ ./src/
COPY bin/ ./bin/
COPY config.txt /etc/app/
COPY notes.txt ./
RUN mkdir -p out && cp src/* out/
RUN echo "version $VERSION" > version
RUN sh bin/build.sh > out/built
RUN ls -la out > out/listing
RUN chmod 755 bin/build.sh
RUN sha256sum out/* > out/sums
LABEL org.example.name=bench
EXPOSE 8080
ENTRYPOINT ["/bin/sh"]
CMD ["bin/build.sh"]
"#;

fn main() {
    let rounds = bench::rounds(3);
    let tanto_binary = match std::env::var_os("BENCH_TANTO") {
        Some(path) => bench::readable_copy(Path::new(&path)),
        None => bench::static_tanto_and_steps().0,
    };
    let registry = support::registry::Registry::start();
    // With a history: buildah refuses a base image without one.
    support::image::Image::new(vec![support::fixtures::debian().layer.clone()])
        .with_history()
        .push(&registry, "fixtures/debian", "bookworm");
    let base = format!("BASE={}/fixtures/debian:bookworm", registry.host());

    let mut timings: [Vec<Duration>; 4] = Default::default();
    for _ in 0..rounds {
        // A fresh home: an empty store, an empty podman storage.
        let tanto = runner();
        timings[0].push(timed(
            &tanto,
            &tanto_binary,
            &["build", "--build-arg", &base, "ctx"],
        ));
        timings[1].push(timed(
            &tanto,
            &tanto_binary,
            &["build", "--build-arg", &base, "ctx"],
        ));
        let podman = runner();
        // Overlay storage, not the vfs podman falls back to in a fresh home
        // here (a full copy of the root per layer): its best on this machine.
        podman.write_home_file(
            ".config/containers/storage.conf",
            "[storage]\ndriver = \"overlay\"\n",
        );
        let args = support::podman::command_line(
            &["build"],
            &[
                "--format",
                "docker",
                "--tls-verify=false",
                "--build-arg",
                &base,
                "-t",
                "bench",
                "ctx",
            ],
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        timings[2].push(timed(&podman, Path::new("podman"), &args));
        timings[3].push(timed(&podman, Path::new("podman"), &args));
    }
    let [tanto_cold, tanto_again, podman_cold, podman_again] = timings.map(bench::median);
    println!("| 20-instruction Dockerfile, whole process (median of {rounds}) | tanto | podman build | target (issue 20) |");
    println!("|---|---|---|---|");
    println!(
        "| no change since the last build | {:.0} ms | {:.0} ms ({:.0}×) | ≤ 100 ms, ≥ 10× faster |",
        ms(tanto_again),
        ms(podman_again),
        podman_again.as_secs_f64() / tanto_again.as_secs_f64()
    );
    println!(
        "| cold: empty store, base image pulled | {:.2} s | {:.2} s | ≤ podman's |",
        tanto_cold.as_secs_f64(),
        podman_cold.as_secs_f64()
    );

    // The same Dockerfile in a context of 100 000 more files (100 bytes
    // each, in 100 directories): an unchanged context is re-hashed from the
    // host import's stat cache.
    let tanto = runner();
    let made = tanto
        .command_for(
            Path::new("sh"),
            &[
                "-c",
                "cd ctx && for d in $(seq 100); do mkdir -p vendor/$d; \
                 for f in $(seq 1000); do printf '%100s' $f > vendor/$d/$f; done; done",
            ],
        )
        .status()
        .unwrap();
    assert!(made.success());
    let build = ["build", "--build-arg", &base, "ctx"];
    let first = timed(&tanto, &tanto_binary, &build);
    let again: Vec<Duration> = (0..rounds)
        .map(|_| timed(&tanto, &tanto_binary, &build))
        .collect();
    println!(
        "| no change, 100k-file context (first build {:.2} s) | {:.0} ms | | ≤ 300 ms to re-hash |",
        first.as_secs_f64(),
        ms(bench::median(again))
    );
}

/// A test user's home with the build context.
fn runner() -> Tanto {
    let tanto = Tanto::new();
    tanto.write_home_file("ctx/Dockerfile", DOCKERFILE);
    for n in 0..8 {
        tanto.write_home_file(&format!("ctx/src/part{n}.txt"), &format!("part {n}\n"));
    }
    tanto.write_home_file(
        "ctx/bin/build.sh",
        "echo built from $(ls src | wc -l) parts\n",
    );
    tanto.write_home_file("ctx/config.txt", "key=value\n");
    tanto.write_home_file("ctx/notes.txt", "notes\n");
    tanto
}

fn timed(tanto: &Tanto, program: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = tanto.command_for(program, args).output().unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
