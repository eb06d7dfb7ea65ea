//! skopeo, the reference client that reads what tanto publishes.

use std::process::Command;

/// skopeo's output for `args`; panics with its stderr when it fails.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo (Debian package skopeo) must be installed");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
