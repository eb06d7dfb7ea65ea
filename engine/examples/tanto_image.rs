//! The tanto image, built and published by tanto: a Debian base with
//! `uidmap` (newuidmap/newgidmap, with file capabilities) and CA
//! certificates, the static `tanto`
//! binary, and a non-root user `tanto` (uid 1000) with subordinate ids
//! 100000–165535, so the image runs pipelines as root or as that user in a
//! container or Kubernetes pod without privileges (README, "Kubernetes and
//! containers"). The store is `/var/lib/tanto/store`: mount a volume at
//! `/var/lib/tanto` (a pod's `emptyDir`), since overlay cannot be mounted
//! on the container's own root file system.
//!
//! Usage: `tanto_image BASE TANTO_BINARY ADDRESS` — prints the published
//! reference, pinned by digest. `scripts/build-image` builds the static
//! binary and runs this. Registries named in `TANTO_INSECURE_REGISTRIES`
//! (comma-separated `host:port`) are reached over plain HTTP.

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example program reports

use std::process::ExitCode;

use engine::{Engine, EngineConfig, ImageOptions};

/// Where a volume goes in the image, and the store in it: a directory of
/// tanto's own, since a volume's root may belong to someone else.
const VOLUME: &str = "/var/lib/tanto";
const STORE: &str = "/var/lib/tanto/store";

fn main() -> ExitCode {
    // Before any thread: tokio's runtime is started only afterwards.
    if let Err(error) = engine::bootstrap() {
        eprintln!("error: {}", engine::report(&error));
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().collect();
    let [_, base, binary, address] = args.as_slice() else {
        eprintln!("usage: tanto_image BASE TANTO_BINARY ADDRESS");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    match runtime.block_on(build(base, binary, address)) {
        Ok(published) => {
            println!("{published}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}", engine::report(&error));
            ExitCode::FAILURE
        }
    }
}

async fn build(base: &str, binary: &str, address: &str) -> Result<String, engine::Error> {
    let insecure_registries = std::env::var("TANTO_INSECURE_REGISTRIES")
        .unwrap_or_default()
        .split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    let engine = Engine::new(EngineConfig {
        store_root: engine::default_store_root().expect("HOME or TANTO_ROOT is set"),
        insecure_registries,
        ..Default::default()
    })?;
    let tanto = engine.host().file(binary);
    engine
        .container()
        .from(base)
        .with_exec([
            "sh",
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
             --no-install-recommends uidmap libcap2-bin ca-certificates >/dev/null \
             && rm -rf /var/lib/apt/lists/*",
        ])
        // Debian's newuidmap is setuid root, and root without CAP_SYS_ADMIN
        // (any container's) may not write another user's namespace maps.
        // With file capabilities instead it stays the calling user, the
        // namespace's owner, and holds just what it needs (as Fedora ships it).
        .with_exec([
            "sh",
            "-c",
            "chmod u-s /usr/bin/newuidmap /usr/bin/newgidmap \
             && setcap cap_setuid=ep /usr/bin/newuidmap && setcap cap_setgid=ep /usr/bin/newgidmap",
        ])
        // useradd gives a new user subordinate ids only where login.defs
        // asks for them: say them outright.
        .with_exec([
            "sh",
            "-c",
            &format!(
                "useradd --create-home --uid 1000 --shell /bin/sh tanto \
                 && echo tanto:100000:65536 > /etc/subuid && echo tanto:100000:65536 > /etc/subgid \
                 && mkdir -p {VOLUME} && chown tanto:tanto {VOLUME}"
            ),
        ])
        .with_file("/usr/local/bin/tanto", &tanto, Some(0o755))
        .with_env_variable("TANTO_ROOT", STORE, false)
        .with_user("tanto")
        .with_workdir("/home/tanto")
        .with_entrypoint(["tanto"], false)
        .with_default_args(["doctor"])
        .publish(address, ImageOptions::default())
        .await
}
