//! A multi-platform busybox image: an index with a linux/amd64 variant (the
//! host's busybox-static, as `fixtures::served_busybox`) and a linux/arm64
//! one, whose busybox is Debian's arm64 `busybox-static` package fetched
//! from the Debian mirror and checked all the way down from the archive's
//! signed `InRelease` (its key is Debian's keyring, which apt has): the
//! Packages index against InRelease, the package against the index. Cached
//! under the fixtures directory like the debootstrapped images.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fixtures::{busybox_tree, busybox_tree_of, made_once, MIRROR};
use super::image::{index_of, push_index, sha256, tar_directory, Codec, Image, Layer};
use super::registry::Registry;

const SUITE: &str = "bookworm";
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Fails the test unless qemu-aarch64 is registered with binfmt_misc with
/// the F flag, as arm64 steps need (CI registers it: `scripts/install-deps`).
pub fn assert_emulator_registered() {
    let registered = std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64")
        .unwrap_or_else(|_| {
            panic!("no qemu-aarch64 binfmt_misc registration: run scripts/install-deps as root")
        });
    assert!(
        registered
            .lines()
            .any(|l| l.starts_with("flags:") && l.contains('F')),
        "qemu-aarch64 is registered without the F flag: run scripts/install-deps as root"
    );
}

/// The arm64 busybox binary, downloaded and checked once per machine.
pub fn arm64_busybox() -> PathBuf {
    made_once(
        "busybox-arm64-v1",
        "busybox-arm64-v1.lock",
        download_busybox,
    )
    .join("busybox")
}

fn get(url: &str) -> Vec<u8> {
    let response = ureq::get(url).call().unwrap_or_else(|e| {
        panic!("downloading {url} (the Debian mirror of /etc/apt/sources.list.d): {e}")
    });
    let mut bytes = Vec::new();
    response.into_reader().read_to_end(&mut bytes).unwrap();
    bytes
}

fn check_sha256(what: &str, bytes: &[u8], want: &str) {
    let got = sha256(bytes);
    assert_eq!(
        got.trim_start_matches("sha256:"),
        want,
        "{what} does not have the SHA256 its index gives"
    );
}

fn download_busybox(dir: &Path) {
    let in_release = dir.join("InRelease");
    std::fs::write(
        &in_release,
        get(&format!("{MIRROR}/dists/{SUITE}/InRelease")),
    )
    .unwrap();
    let verified = dir.join("Release");
    let gpgv = Command::new("gpgv")
        .args(["--keyring", KEYRING, "--output"])
        .arg(&verified)
        .arg(&in_release)
        .output()
        .expect("gpgv (Debian package gpgv) must be installed");
    assert!(
        gpgv.status.success(),
        "{SUITE}'s InRelease does not verify against {KEYRING}: {}",
        String::from_utf8_lossy(&gpgv.stderr)
    );
    let release = std::fs::read_to_string(&verified).unwrap();
    let packages_path = "main/binary-arm64/Packages.xz";
    let packages_sha = sha256_section(&release)
        .find_map(|(hash, path)| (path == packages_path).then_some(hash))
        .unwrap_or_else(|| panic!("{SUITE}'s Release lists no {packages_path}"));
    let packages_xz = get(&format!("{MIRROR}/dists/{SUITE}/{packages_path}"));
    check_sha256(packages_path, &packages_xz, &packages_sha);
    let packages = unxz(&packages_xz, dir);

    let stanza = packages
        .split("\n\n")
        .find(|s| s.lines().any(|l| l == "Package: busybox-static"))
        .expect("arm64 Packages has busybox-static");
    let field = |name: &str| {
        stanza
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("busybox-static's stanza has no {name}"))
            .to_owned()
    };
    let deb = get(&format!("{MIRROR}/{}", field("Filename")));
    check_sha256("busybox-static_arm64.deb", &deb, &field("SHA256"));
    let deb_path = dir.join("busybox-static.deb");
    std::fs::write(&deb_path, &deb).unwrap();
    let extracted = dir.join("extracted");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb_path)
        .arg(&extracted)
        .status()
        .expect("dpkg-deb must be installed");
    assert!(status.success(), "dpkg-deb -x busybox-static.deb failed");
    std::fs::copy(extracted.join("bin/busybox"), dir.join("busybox")).unwrap();
    for done in ["extracted", "busybox-static.deb", "InRelease"] {
        let path = dir.join(done);
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
}

/// `(sha256, path)` of each file the Release's SHA256 section lists.
fn sha256_section(release: &str) -> impl Iterator<Item = (String, &str)> {
    release
        .lines()
        .skip_while(|l| *l != "SHA256:")
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let hash = words.next()?.to_owned();
            let _size = words.next()?;
            Some((hash, words.next()?))
        })
}

fn unxz(bytes: &[u8], dir: &Path) -> String {
    let packed = dir.join("Packages.xz");
    std::fs::write(&packed, bytes).unwrap();
    let out = Command::new("xz")
        .arg("-dc")
        .arg(&packed)
        .output()
        .expect("xz (Debian package xz-utils) must be installed");
    assert!(out.status.success(), "xz -dc Packages.xz failed");
    std::fs::remove_file(&packed).unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn busybox_layer(tree: impl FnOnce(&Path)) -> Layer {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    Layer::new(&tar_directory(dir.path()), Codec::Gzip)
}

/// One registry serving `fixtures/busybox-multi:latest`, an index of a
/// linux/amd64 and a linux/arm64 busybox image, for the whole run; its
/// reference.
pub fn served_multi_platform_busybox() -> &'static (Registry, String) {
    static SERVED: std::sync::OnceLock<(Registry, String)> = std::sync::OnceLock::new();
    SERVED.get_or_init(|| {
        let registry = Registry::start();
        push_index(&registry, "fixtures/busybox-multi", "latest", &images());
        let image = format!("{}/fixtures/busybox-multi:latest", registry.host());
        (registry, image)
    })
}

/// The linux/amd64 and linux/arm64 busybox images.
fn images() -> [Image; 2] {
    [
        Image::for_architecture(vec![busybox_layer(busybox_tree)], "amd64"),
        Image::for_architecture(
            vec![busybox_layer(|dir| busybox_tree_of(dir, &arm64_busybox()))],
            "arm64",
        ),
    ]
}

/// The same index as an OCI layout directory `dir` (what `skopeo copy
/// --all` writes), its index tagged `tag`.
pub fn write_layout(dir: &Path, tag: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
        (digest, bytes.len())
    };
    let images = images();
    for image in &images {
        for layer in &image.layers {
            put(&layer.blob);
        }
        put(&image.config);
        put(&image.manifest());
    }
    let (digest, size) = put(&index_of(&images));
    let layout_index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), layout_index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}
