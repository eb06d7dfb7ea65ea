//! Exports of a chain a registry cache holds, on a runner whose store has
//! none of it: written straight from the layer blobs as they stream in
//! (nothing unpacked into the store), the same tree, byte for byte and
//! mode for mode, as the runner that ran the steps exports; and where a
//! blob does not verify, the ordinary way (the entry refused, its step
//! run here), never the tampered content.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::{Run, Tanto};

/// Steps that leave every kind of change a layer can carry: a file of
/// the image deleted (a whiteout), a directory deleted and made again
/// (opaque), a read-only directory written into by a later step, a
/// set-uid file (which an export drops the bit of), a symlink, and a
/// large directory of the image deleted; after the second, a file
/// operation (`withNewFile`) adds a layer of its own.
const STEPS: [&str; 3] = [
    "mkdir -p /opt/x /ro && echo old > /opt/x/old && echo f > /ro/f && chmod 555 /ro && rm /etc/issue",
    "rm -rf /opt/x && mkdir /opt/x && echo new > /opt/x/new && chmod u+w /ro && echo g > /ro/g \
     && chmod 555 /ro && cp /bin/true /usr/local/bin/setuid && chmod 4755 /usr/local/bin/setuid \
     && ln -s /opt/x/new /opt/link",
    "rm -rf /usr/share/doc",
];

/// The chain on `image`, its root file system exported to `out` and its
/// `/opt` to `opt`, both at once.
fn document(image: &str) -> String {
    let mut chain = format!("{{ container {{ from(address: \"{image}\") {{ ");
    for (n, step) in STEPS.iter().enumerate() {
        chain.push_str(&format!("withExec(args: [\"sh\", \"-c\", \"{step}\"]) {{ "));
        if n == 1 {
            // A file operation's layer between them.
            chain.push_str("withNewFile(path: \"/opt/note\", contents: \"note\") { ");
        }
    }
    chain.push_str(
        "rootfs { export(path: \"out\") } opt: directory(path: \"/opt\") { export(path: \"opt\") }",
    );
    chain.push_str(&" }".repeat(STEPS.len() + 4));
    chain
}

fn query(tanto: &Tanto, flag: &str, image: &str) -> Run {
    let file = tanto.write_home_file("export.graphql", &document(image));
    tanto.ok(&[flag, "--progress", "plain", "query", file.to_str().unwrap()])
}

/// Every entry under `root`: its kind, permission bits, and content or
/// target; for files also their mtime in seconds if `mtimes`.
fn tree(root: &Path, mtimes: bool) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let described = if meta.is_symlink() {
                format!(
                    "symlink to {}",
                    std::fs::read_link(&path).unwrap().display()
                )
            } else if meta.is_dir() {
                pending.push(path.clone());
                format!("dir {mode:o}")
            } else {
                let content = std::fs::read(&path).unwrap();
                let mtime = if mtimes { meta.mtime() } else { 0 };
                format!(
                    "file {mode:o} {} bytes, fingerprint {:x}, mtime {mtime}",
                    content.len(),
                    fingerprint(&content),
                )
            };
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            found.insert(rel, described);
        }
    }
    found
}

/// Fails naming the entries that differ (the trees are large).
fn assert_same(found: &BTreeMap<String, String>, expected: &BTreeMap<String, String>, log: &str) {
    let differing: Vec<_> = expected
        .keys()
        .chain(found.keys())
        .filter(|path| found.get(*path) != expected.get(*path))
        .map(|path| format!("{path}: {:?} != {:?}", found.get(path), expected.get(path)))
        .take(20)
        .collect();
    assert!(differing.is_empty(), "{differing:#?}\n{log}");
}

/// A cheap content fingerprint (FNV-1a): enough to tell files apart.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3)
    })
}

/// How many withExec steps ran, as the plain progress says.
fn steps_ran(run: &Run) -> usize {
    run.stderr
        .lines()
        .filter(|l| l.contains(" withExec ") && !l.contains(" fetch ") && l.contains(" DONE "))
        .count()
}

#[test]
fn a_fresh_runner_exports_a_cached_chain_straight_from_the_registry() {
    let images = Registry::start();
    let image = fixtures::serve_debian(&images);
    let cache = Registry::start();
    let spec = format!("type=registry,ref={}/exports", cache.host());

    let a = Tanto::new();
    let ran = query(&a, &format!("--cache-to={spec}"), &image);
    assert_eq!(steps_ran(&ran), STEPS.len(), "{}", ran.stderr);
    let a_out = tree(&a.home().join("out"), true);
    assert_eq!(a_out.get("opt/x/new").map(|s| &s[..8]), Some("file 644"));
    assert!(!a_out.contains_key("opt/x/old") && !a_out.contains_key("etc/issue"));
    assert!(!a_out
        .keys()
        .any(|path| Path::new(path).starts_with("usr/share/doc")));
    assert_eq!(a_out["ro"], "dir 555");
    assert!(a_out["opt/note"].starts_with("file 644 4 bytes"));
    assert!(a_out["usr/local/bin/setuid"].starts_with("file 755 "));

    let b = Tanto::new();
    let streamed = query(&b, &format!("--cache-from={spec}"), &image);
    assert_same(&tree(&b.home().join("out"), true), &a_out, &streamed.stderr);
    assert_same(
        &tree(&b.home().join("opt"), true),
        &tree(&a.home().join("opt"), true),
        &streamed.stderr,
    );
    // Nothing ran, nothing was pulled or unpacked into B's store: both
    // exports were written from the blobs.
    assert_eq!(steps_ran(&streamed), 0, "{}", streamed.stderr);
    let from_registry = streamed
        .stderr
        .lines()
        .filter(|l| l.contains(" from the registry DONE "))
        .count();
    assert_eq!(from_registry, 2, "{}", streamed.stderr);
    assert!(!streamed.stderr.contains(" pull "), "{}", streamed.stderr);
    let snapshots: Vec<_> = std::fs::read_dir(b.store().join("snapshots"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != "tmp")
        .collect();
    assert_eq!(snapshots, Vec::<std::ffi::OsString>::new());

    // The steps' layers altered in the registry's storage (same size):
    // the export from the stream is refused, the entries too, the steps
    // run here, and the export is still the true one.
    let mut tampered = 0;
    for data in cache.blob_files() {
        let mut bytes = std::fs::read(&data).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) || bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            std::fs::write(&data, bytes).unwrap();
            tampered += 1;
        }
    }
    assert_eq!(
        tampered,
        STEPS.len() + 1,
        "the steps' layers and the new file's"
    );
    let c = Tanto::new();
    let refused = query(&c, &format!("--cache-from={spec}"), &image);
    assert!(
        refused.stderr.contains("exporting from the store instead"),
        "{}",
        refused.stderr
    );
    let run_here = refused
        .stderr
        .lines()
        .filter(|l| l.contains("cache entry") && l.ends_with("the step runs here instead"))
        .count();
    assert_eq!(run_here, STEPS.len() + 1, "{}", refused.stderr);
    // Run here, the steps' files are newer: all else is the same.
    assert_same(
        &tree(&c.home().join("out"), false),
        &tree(&a.home().join("out"), false),
        &refused.stderr,
    );
}
