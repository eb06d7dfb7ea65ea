//! Images no honest registry serves, pulled end to end: hostile tar
//! entries, corrupt, truncated and oversized blobs, unknown references and
//! media types. Each is refused with an error that names it, and nothing is
//! left in the store that a later run would trust.

use crate::support;

use support::image::{push_blob, push_manifest, tar_directory, tiny_layer, Codec, Image, Layer};
use support::registry::Registry;
use support::tanto::Tanto;

/// A layer whose tar says things no honest layer says, pushed to the registry.
fn push_raw_layer(
    registry: &Registry,
    repository: &str,
    entries: &[(&str, tar::EntryType, &str)],
) -> String {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, link) in entries {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let data: &[u8] = if *kind == tar::EntryType::Regular {
            b"pwned"
        } else {
            b""
        };
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    let layer = Layer::new(&builder.into_inner().unwrap(), Codec::Gzip);
    let digest = layer.digest.clone();
    Image::new(vec![layer]).push(registry, repository, "evil");
    digest
}

#[test]
fn hostile_layers_are_refused_and_nothing_escapes() {
    let registry = Registry::start();
    let tanto = Tanto::new();
    let target = tanto.home().join("escaped");
    let climb = "../".repeat(12) + target.strip_prefix("/").unwrap().to_str().unwrap();
    type Entry<'a> = (&'a str, tar::EntryType, &'a str);
    let cases: Vec<(&str, Vec<Entry>, &str)> = vec![
        (
            "dotdot",
            vec![(&climb, tar::EntryType::Regular, "")],
            "paths with ..",
        ),
        (
            "absolute",
            vec![(target.to_str().unwrap(), tar::EntryType::Regular, "")],
            "absolute paths",
        ),
        (
            "symlink-parent",
            vec![
                (
                    "out",
                    tar::EntryType::Symlink,
                    tanto.home().to_str().unwrap(),
                ),
                ("out/escaped", tar::EntryType::Regular, ""),
            ],
            "outside the layer",
        ),
        (
            "hardlink-out",
            vec![(
                "h",
                tar::EntryType::Link,
                "../../../../../../../../etc/passwd",
            )],
            "leaves the layer",
        ),
        (
            "whiteout-up",
            vec![("dir/.wh...", tar::EntryType::Regular, "")],
            "whiteout",
        ),
    ];
    for (name, entries, reason) in cases {
        let layer = push_raw_layer(&registry, &format!("evil/{name}"), &entries);
        let reference = format!("{}/evil/{name}:evil", registry.host());
        let run = tanto.fails(&["pull", &reference]);
        assert!(run.stderr.contains(reason), "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(&reference),
            "{name}: the error must name the image: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&layer),
            "{name}: the error must name the layer: {}",
            run.stderr
        );
        assert!(!target.exists(), "{name}: a file escaped the store");
        tanto.assert_no_temp_leftovers();
        let snapshots: Vec<_> = std::fs::read_dir(tanto.store().join("snapshots"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() != "tmp")
            .collect();
        assert!(
            snapshots.is_empty(),
            "{name}: a snapshot was committed: {snapshots:?}"
        );
    }
}

/// Corrupts a blob inside the registry's storage, which serves it unchecked.
fn corrupt_blob(registry: &Registry, digest: &str, change: impl FnOnce(&mut Vec<u8>)) {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let path = registry
        .data_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&path).unwrap();
    change(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn corrupted_truncated_and_oversized_blobs_are_refused() {
    let registry = Registry::start();
    let tanto = Tanto::new();

    let layer = tiny_layer("f", &"payload ".repeat(1000));
    Image::new(vec![layer.clone()]).push(&registry, "bad/corrupt", "v1");
    corrupt_blob(&registry, &layer.digest, |b| {
        let n = b.len();
        b[n - 10] ^= 0xff
    });
    let run = tanto.fails(&["pull", &format!("{}/bad/corrupt:v1", registry.host())]);
    assert!(
        run.stderr.contains(&layer.digest) && run.stderr.contains("arrived with digest"),
        "{}",
        run.stderr
    );
    assert!(!tanto
        .store()
        .join("content/blobs/sha256")
        .join(&layer.digest[7..])
        .exists());
    tanto.assert_no_temp_leftovers();

    let layer = tiny_layer("g", &"other payload ".repeat(1000));
    Image::new(vec![layer.clone()]).push(&registry, "bad/truncated", "v1");
    corrupt_blob(&registry, &layer.digest, |b| b.truncate(b.len() / 2));
    let run = tanto.fails(&["pull", &format!("{}/bad/truncated:v1", registry.host())]);
    assert!(run.stderr.contains(&layer.digest), "{}", run.stderr);
    tanto.assert_no_temp_leftovers();

    let zeros = tempfile::tempdir().unwrap();
    std::fs::write(zeros.path().join("zeros"), vec![0u8; 64 << 20]).unwrap();
    let bomb = Layer::new(&tar_directory(zeros.path()), Codec::Gzip);
    Image::new(vec![bomb]).push(&registry, "bad/bomb", "v1");
    let mut bounded = Tanto::new();
    bounded.env("TANTO_MAX_LAYER_BYTES", &(16 << 20).to_string());
    let run = bounded.fails(&["pull", &format!("{}/bad/bomb:v1", registry.host())]);
    assert!(
        run.stderr.contains("decompression bomb") && run.stderr.contains("TANTO_MAX_LAYER_BYTES"),
        "{}",
        run.stderr
    );
    bounded.assert_no_temp_leftovers();
}

#[test]
fn unknown_images_and_odd_layers_get_clear_errors() {
    let registry = Registry::start();
    let tanto = Tanto::new();
    let missing = tanto.fails(&["pull", &format!("{}/no/such:image", registry.host())]);
    assert!(
        missing.stderr.contains("not found") && missing.stderr.contains("no/such:image"),
        "{}",
        missing.stderr
    );

    let invalid = tanto.fails(&["pull", "UPPER/case"]);
    assert!(
        invalid.stderr.contains("must be lowercase"),
        "{}",
        invalid.stderr
    );

    // A layer media type tanto cannot unpack.
    let blob = b"not a layer".to_vec();
    push_blob(&registry, "odd/layer", &blob);
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
    push_blob(&registry, "odd/layer", config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": support::image::sha256(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.example.layer.v1.tar+bzip2", "digest": support::image::sha256(&blob), "size": blob.len()}],
    });
    push_manifest(
        &registry,
        "odd/layer",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let odd = tanto.fails(&["pull", &format!("{}/odd/layer:v1", registry.host())]);
    assert!(
        odd.stderr
            .contains("application/vnd.example.layer.v1.tar+bzip2"),
        "{}",
        odd.stderr
    );
}

#[test]
fn pipelines_honour_the_layer_bound_as_pull_does() {
    let registry = Registry::start();
    let zeros = tempfile::tempdir().unwrap();
    std::fs::write(zeros.path().join("zeros"), vec![0u8; 64 << 20]).unwrap();
    let layer = Layer::new(&tar_directory(zeros.path()), Codec::Gzip);
    Image::new(vec![layer]).push(&registry, "big/zeros", "v1");
    let document = format!(
        r#"{{ container {{ from(address: "{}/big/zeros:v1") {{ file(path: "/zeros") {{ size }} }} }} }}"#,
        registry.host()
    );

    // The bound the bomb error names is the one `from` obeys.
    let mut bounded = Tanto::new();
    bounded.env("TANTO_MAX_LAYER_BYTES", &(16 << 20).to_string());
    let (ok, answer) = bounded.query(&document);
    let said = answer.to_string();
    assert!(!ok, "{answer:#}");
    assert!(
        said.contains("decompression bomb") && said.contains("TANTO_MAX_LAYER_BYTES"),
        "{answer:#}"
    );
    bounded.assert_no_temp_leftovers();

    // Raised, the same pipeline passes.
    bounded.env("TANTO_MAX_LAYER_BYTES", &(128 << 20).to_string());
    let (ok, answer) = bounded.query(&document);
    assert!(ok, "{answer:#}");
    assert_eq!(
        answer["data"]["container"]["from"]["file"]["size"],
        64 << 20,
        "{answer:#}"
    );

    // A value that is not a number is named, not ignored.
    let mut careless = Tanto::new();
    careless.env("TANTO_MAX_LAYER_BYTES", "16M");
    let run = careless.fails(&["query", "-"]);
    assert!(
        run.stderr.contains("TANTO_MAX_LAYER_BYTES=\"16M\"")
            && run.stderr.contains("a number of bytes"),
        "{}",
        run.stderr
    );
}
