//! The README's first command: a Debian image built from Debian packages,
//! pushed to a real registry on loopback, pulled by tanto as an unprivileged
//! user — twice, to show the second pull does nothing.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use support::image::Image;
use support::registry::Registry;
use support::tanto::Tanto;

fn main() {
    println!("== building the Debian bookworm fixture (debootstrap, cached after the first run)");
    let debian = support::fixtures::debian();
    let registry = Registry::start();
    let reference = format!("{}/demo/debian:bookworm", registry.host());
    Image::new(vec![debian.layer.clone()]).push(&registry, "demo/debian", "bookworm");
    println!("== pushed {reference} to docker-registry");

    let tanto = Tanto::new();
    let user = support::tanto::run_as();
    println!(
        "== running tanto as uid {} (subordinate uids from {})",
        user.uid, user.subuid_start
    );
    for args in [
        vec!["doctor"],
        vec!["pull", reference.as_str()],
        vec!["pull", reference.as_str()],
    ] {
        println!("\n$ tanto {}", args.join(" "));
        let run = tanto.run(&args);
        print!("{}{}", run.stdout, run.stderr);
        assert!(run.success, "tanto {args:?} failed");
    }
    let store = tanto.store();
    println!(
        "\n== the image's root file system is now at {}/snapshots/",
        store.display()
    );
}
