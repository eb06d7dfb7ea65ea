//! The extra certificate authorities in a step's trust store, for its run
//! only (what Dagger does for custom CAs, done on the overlay's upper dir).
//!
//! Before the step starts, pid 1 appends the certificates its image does
//! not trust yet to each trust store bundle the image has ([`BUNDLES`],
//! links followed inside the root), writing through the overlay, and puts
//! one file per certificate into [`LOCAL_DIR`] when the image has that
//! directory, so a step that runs `update-ca-certificates` (as installing
//! `ca-certificates` does) keeps trusting them. It tells the outer helper
//! what it changed ([`Installed`]) before the step starts.
//!
//! Once the step is gone, the outer helper takes it all out of the upper
//! dir ([`restore`]): a bundle the step left as tanto wrote it (the same
//! inode and change time) is removed from the upper dir, so the image's own shows again; one the step
//! rewrote keeps the step's text without the extra certificates (mtime
//! kept); the certificate files go, and so do the links
//! `update-ca-certificates` made to them. The committed result holds none
//! of it.
//!
//! Files, not a bind mount: a bundle bound over would make a step that
//! replaces it (`mv new ca-certificates.crt`, as update-ca-certificates
//! does) fail with EBUSY, and one that writes it lose its write.
//!
//! An image without any of these bundles gets nothing: no trust store is
//! made for it.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::failure::{describe, Failure};
use super::rootfs::{beneath, xattr_present, Root};
use crate::certificate::{blocks, without, Certificate};
use crate::overlay::OPAQUE_XATTR;

/// The trust store bundles tanto adds to, wherever an image has them; a
/// link among them (Alpine's `/etc/ssl/cert.pem`, Fedora's `ca-bundle.crt`)
/// is followed, and each file is changed once.
pub const BUNDLES: [&str; 5] = [
    // Debian, Ubuntu, Alpine, Arch, Gentoo.
    "/etc/ssl/certs/ca-certificates.crt",
    // RHEL, Fedora, CentOS, Amazon Linux (a link to the next one).
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    // Alpine, and OpenSSL's default file on others.
    "/etc/ssl/cert.pem",
    // openSUSE.
    "/etc/ssl/ca-bundle.pem",
];

/// Where `update-ca-certificates` looks for local certificates.
pub const LOCAL_DIR: &str = "/usr/local/share/ca-certificates";

/// Where `update-ca-certificates` links the certificates it bundles.
const LINK_DIR: &str = "etc/ssl/certs";

/// What pid 1 changed in the root file system, paths relative to the root
/// with links resolved.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// Every bundle the image has, changed or not (some may already
    /// trust every extra certificate).
    pub found: Vec<PathBuf>,
    pub bundles: Vec<ChangedBundle>,
    /// Certificate files created in [`LOCAL_DIR`].
    pub files: Vec<PathBuf>,
}

/// A bundle as tanto rewrote it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChangedBundle {
    pub path: PathBuf,
    /// sha256 of what tanto wrote: the image's text and the certificates.
    written: String,
    /// The upper dir's file once written: its inode and change time. Any
    /// change the step makes (a write, a chmod, a file renamed over it)
    /// gives another.
    inode: Option<(u64, i64, i64)>,
    /// The image's mtime of the bundle, for a step that changed only its
    /// mode or owner.
    modified: std::time::SystemTime,
    /// The request's certificates appended (their indexes).
    added: Vec<usize>,
}

/// What [`plan`] will write.
pub struct Plan {
    installed: Installed,
    bundles: Vec<Vec<u8>>,
    files: Vec<Vec<u8>>,
}

/// Reads the image's bundles and works out what to add.
pub fn plan(root: &Root, certificates: &[Certificate]) -> Result<Plan, Failure> {
    let mut plan = Plan {
        installed: Installed::default(),
        bundles: Vec::new(),
        files: Vec::new(),
    };
    if certificates.is_empty() {
        return Ok(plan);
    }
    let mut untrusted = BTreeSet::new();
    for path in BUNDLES {
        let Some((mut file, real)) = root.open_regular(path) else {
            continue;
        };
        if plan.installed.found.contains(&real) {
            continue;
        }
        plan.installed.found.push(real.clone());
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(prepare(path))?;
        let meta = file.metadata().map_err(prepare(path))?;
        let present: Vec<Certificate> = blocks(&text)
            .into_iter()
            .filter_map(|b| b.certificate)
            .collect();
        let added: Vec<usize> = (0..certificates.len())
            .filter(|&i| !present.contains(&certificates[i]))
            .collect();
        if added.is_empty() {
            continue;
        }
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        for &i in &added {
            text.extend_from_slice(certificates[i].pem().as_bytes());
        }
        untrusted.extend(added.iter().copied());
        plan.installed.bundles.push(ChangedBundle {
            path: real,
            written: sha256_hex(&text),
            inode: None,
            modified: meta.modified().map_err(prepare(path))?,
            added,
        });
        plan.bundles.push(text);
    }
    if plan.installed.found.is_empty() {
        // No trust store: a step that installs one builds it from
        // LOCAL_DIR, so the certificates still go there.
        untrusted.extend(0..certificates.len());
    }
    if let Some(dir) = root.directory(LOCAL_DIR) {
        for i in untrusted {
            let certificate = &certificates[i];
            plan.installed
                .files
                .push(dir.join(file_name(certificate, "crt")));
            plan.files.push(certificate.pem().into_bytes());
        }
    }
    Ok(plan)
}

impl Plan {
    /// Writes what [`plan`] worked out, through the mounted root whose
    /// upper dir is `upper`; what it wrote, for [`restore`].
    pub fn apply(mut self, root: &Root, upper: &Path) -> Result<Installed, Failure> {
        for (bundle, text) in self.installed.bundles.iter_mut().zip(&self.bundles) {
            let what = bundle.path.display().to_string();
            root.rewrite(&bundle.path, text).map_err(prepare(&what))?;
            // Copied up by that write: the upper dir's own file.
            let meta = upper
                .join(&bundle.path)
                .symlink_metadata()
                .map_err(prepare(&what))?;
            bundle.inode = Some((meta.ino(), meta.ctime(), meta.ctime_nsec()));
        }
        for (path, text) in self.installed.files.iter().zip(&self.files) {
            let what = path.display().to_string();
            root.create_file(path, text, 0o644)
                .map_err(prepare(&what))?;
        }
        Ok(self.installed)
    }
}

/// The name of a certificate's file in [`LOCAL_DIR`]: from its DER, so
/// the same certificate gets the same name in every step.
fn file_name(certificate: &Certificate, extension: &str) -> String {
    format!("tanto-{}.{extension}", &sha256_hex(certificate.der())[..16])
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn prepare(path: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::Prepare {
        what: format!(
            "add the extra CA certificates to /{}",
            path.trim_start_matches('/')
        ),
        detail: describe(e),
    }
}

/// Takes what [`Plan::apply`] added out of `upper` once the step is gone
/// (none of its processes is left to race with). Returns the paths it
/// removed and the ones still to remove (the certificate files), for
/// `remove_mount_points` to remove with the parents overlay copied up.
/// Nothing here follows a link the step may have made.
pub fn restore(
    upper: &Path,
    how: Restore,
    installed: &Installed,
    certificates: &[Certificate],
) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for bundle in &installed.bundles {
        let ours: Vec<Certificate> = bundle
            .added
            .iter()
            .filter_map(|&i| certificates.get(i).cloned())
            .collect();
        if restore_bundle(upper, how, bundle, &ours) {
            removed.push(bundle.path.clone());
        }
    }
    if !installed.files.is_empty() {
        let names: Vec<String> = certificates
            .iter()
            .flat_map(|c| [file_name(c, "crt"), file_name(c, "pem")])
            .collect();
        remove_links_to(upper, &names);
        removed.extend(installed.files.iter().cloned());
    }
    removed
}

/// Where [`restore`] takes the certificates out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restore {
    /// The overlay's upper dir: a bundle the step left alone is removed
    /// from it, so the image's own shows again.
    InUpper,
    /// A copy of the whole root (the copying snapshotter): such a bundle
    /// gets the image's text and mtime back, which its changes then do not
    /// count as a change.
    InCopy,
}

/// Puts one bundle back; true when it was removed from the upper dir.
fn restore_bundle(
    upper: &Path,
    how: Restore,
    bundle: &ChangedBundle,
    ours: &[Certificate],
) -> bool {
    let Some(path) = beneath(upper, &bundle.path) else {
        return false;
    };
    // Deleted, replaced by a link or a directory: the step's own doing.
    let Ok(meta) = path.symlink_metadata() else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let Ok(text) = std::fs::read(&path) else {
        return false;
    };
    let unwritten = sha256_hex(&text) == bundle.written;
    let untouched = unwritten
        && bundle.inode == Some((meta.ino(), meta.ctime(), meta.ctime_nsec()))
        && !bundle
            .path
            .ancestors()
            .skip(1)
            .filter(|p| !p.as_os_str().is_empty())
            .any(|p| xattr_present(&upper.join(p), OPAQUE_XATTR));
    if untouched && how == Restore::InUpper {
        return std::fs::remove_file(&path).is_ok();
    }
    // The step wrote the bundle (update-ca-certificates regenerates it
    // from LOCAL_DIR, with the extra certificates): keep its text, theirs
    // out.
    let kept = without(&text, ours);
    if kept != text {
        // Its text as tanto left it (the step changed the mode, the owner
        // or the directory): the image's mtime, as without tanto.
        let modified = if unwritten {
            Some(bundle.modified)
        } else {
            meta.modified().ok()
        };
        let _ = rewrite_keeping_times(&path, &meta, &kept, modified);
    }
    false
}

fn rewrite_keeping_times(
    path: &Path,
    meta: &std::fs::Metadata,
    text: &[u8],
    modified: Option<std::time::SystemTime>,
) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    file.write_all(text)?;
    let mut times = std::fs::FileTimes::new().set_accessed(meta.accessed()?);
    if let Some(modified) = modified {
        times = times.set_modified(modified);
    }
    file.set_times(times)?;
    // Writing as root of the namespace keeps the owner; the mode too, but
    // say so.
    file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

/// Removes the links in [`LINK_DIR`] of `upper` that point to one of
/// `names` (`update-ca-certificates` links `tanto-….pem` to our `.crt`
/// and `openssl rehash` links `<hash>.0` to that).
fn remove_links_to(upper: &Path, names: &[String]) {
    let Some(dir) = beneath(upper, Path::new(LINK_DIR)) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(target) = std::fs::read_link(&path) else {
            continue;
        };
        let points_to_ours = target
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| names.iter().any(|ours| ours == n));
        if points_to_ours {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::tests::fake;

    struct Dirs {
        _temp: tempfile::TempDir,
        root: PathBuf,
    }

    /// A root file system laid out like Debian's with ca-certificates.
    fn debian_like(bundle: &str) -> Dirs {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("root");
        std::fs::create_dir_all(root.join("etc/ssl/certs")).unwrap();
        std::fs::create_dir_all(root.join("usr/local/share/ca-certificates")).unwrap();
        std::fs::write(root.join("etc/ssl/certs/ca-certificates.crt"), bundle).unwrap();
        // Alpine's link: the same file, changed once.
        std::os::unix::fs::symlink("certs/ca-certificates.crt", root.join("etc/ssl/cert.pem"))
            .unwrap();
        Dirs { _temp: temp, root }
    }

    #[test]
    fn the_bundle_gets_what_it_lacks_once_and_the_local_dir_a_file_each() {
        let (image_ca, extra) = (fake(1), fake(2));
        let dirs = debian_like(&format!("# image\n{}", image_ca.pem()));
        let root = Root::open(&dirs.root).unwrap();
        let plan = plan(&root, &[image_ca.clone(), extra.clone()]).unwrap();
        let installed = plan.apply(&root, &dirs.root).unwrap();
        assert_eq!(
            installed.found,
            [PathBuf::from("etc/ssl/certs/ca-certificates.crt")]
        );
        assert_eq!(installed.bundles.len(), 1);
        assert_eq!(installed.bundles[0].added, [1]);
        assert_eq!(installed.files.len(), 1);
        let bundle = std::fs::read(dirs.root.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
        assert_eq!(
            Certificate::all_in(&bundle).unwrap(),
            [image_ca.clone(), extra.clone()]
        );
        let file = dirs.root.join(&installed.files[0]);
        assert!(file.starts_with(dirs.root.join("usr/local/share/ca-certificates")));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), extra.pem());
        assert_eq!(file.metadata().unwrap().mode() & 0o777, 0o644);
    }

    #[test]
    fn an_image_without_a_trust_store_gets_none() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("etc/ssl")).unwrap();
        let root = Root::open(temp.path()).unwrap();
        let plan = plan(&root, &[fake(1)]).unwrap();
        assert_eq!(
            plan.apply(&root, temp.path()).unwrap(),
            Installed::default()
        );
        assert!(!temp.path().join("etc/ssl/certs").exists());
    }

    #[test]
    fn no_certificates_touch_nothing() {
        let dirs = debian_like("");
        let root = Root::open(&dirs.root).unwrap();
        assert_eq!(plan(&root, &[]).unwrap().installed, Installed::default());
    }

    /// As the upper dir is after a step that left the bundle alone, after
    /// one that ran update-ca-certificates, and after one that deleted it.
    #[test]
    fn restore_removes_an_untouched_bundle_and_strips_a_rewritten_one() {
        let (image_ca, extra) = (fake(1), fake(2));
        let certificates = [extra.clone()];
        for case in ["untouched", "rewritten", "deleted", "chmod"] {
            let dirs = debian_like(&image_ca.pem());
            let image_mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000);
            std::fs::File::options()
                .write(true)
                .open(dirs.root.join("etc/ssl/certs/ca-certificates.crt"))
                .unwrap()
                .set_modified(image_mtime)
                .unwrap();
            let root = Root::open(&dirs.root).unwrap();
            let plan = plan(&root, &certificates).unwrap();
            let installed = plan.apply(&root, &dirs.root).unwrap();
            // The root stands in for the upper dir here.
            let upper = &dirs.root;
            let bundle = upper.join("etc/ssl/certs/ca-certificates.crt");
            let link = upper.join("etc/ssl/certs/tanto.pem");
            let hash_link = upper.join("etc/ssl/certs/0a1b2c3d.0");
            match case {
                "rewritten" => {
                    let local = std::fs::read(upper.join(&installed.files[0])).unwrap();
                    // Another order than tanto's: the text differs.
                    let regenerated = [&local, image_ca.pem().as_bytes()].concat();
                    std::fs::write(&bundle, regenerated).unwrap();
                    let name = installed.files[0].file_name().unwrap().to_str().unwrap();
                    let pem_name = name.replace(".crt", ".pem");
                    std::os::unix::fs::symlink(
                        Path::new("/").join(&installed.files[0]),
                        upper.join("etc/ssl/certs").join(&pem_name),
                    )
                    .unwrap();
                    std::os::unix::fs::symlink(&pem_name, &hash_link).unwrap();
                    std::os::unix::fs::symlink("other.crt", &link).unwrap();
                }
                "deleted" => std::fs::remove_file(&bundle).unwrap(),
                "chmod" => {
                    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o600))
                        .unwrap();
                }
                _ => {}
            }
            let before = bundle.symlink_metadata().ok();
            let removed = restore(upper, Restore::InUpper, &installed, &certificates);
            match case {
                "untouched" => {
                    assert!(!bundle.exists(), "{case}");
                    assert!(removed.contains(&PathBuf::from("etc/ssl/certs/ca-certificates.crt")));
                }
                "rewritten" => {
                    assert_eq!(std::fs::read_to_string(&bundle).unwrap(), image_ca.pem());
                    let after = bundle.metadata().unwrap();
                    assert_eq!(
                        after.modified().unwrap(),
                        before.unwrap().modified().unwrap()
                    );
                    assert!(!hash_link.is_symlink(), "the hash link to ours stays");
                    assert!(link.is_symlink(), "a link to another certificate went");
                    let certs = std::fs::read_dir(upper.join("etc/ssl/certs")).unwrap();
                    let names: Vec<_> = certs.flatten().map(|e| e.file_name()).collect();
                    assert_eq!(names.len(), 2, "{names:?}");
                }
                "deleted" => assert!(!bundle.exists()),
                "chmod" => {
                    assert_eq!(std::fs::read_to_string(&bundle).unwrap(), image_ca.pem());
                    let after = bundle.metadata().unwrap();
                    assert_eq!(after.mode() & 0o777, 0o600);
                    assert_eq!(after.modified().unwrap(), image_mtime);
                }
                _ => unreachable!(),
            }
            // The files go through remove_mount_points.
            assert!(removed.contains(&installed.files[0]), "{case}");
        }
    }

    /// In a copy of the whole root, a bundle the step left alone gets the
    /// image's text and mtime back: nothing the changes would count.
    #[test]
    fn restore_in_a_copy_puts_the_images_bundle_back() {
        let (image_ca, extra) = (fake(1), fake(2));
        let dirs = debian_like(&image_ca.pem());
        let bundle = dirs.root.join("etc/ssl/certs/ca-certificates.crt");
        let image_mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        std::fs::File::options()
            .write(true)
            .open(&bundle)
            .unwrap()
            .set_modified(image_mtime)
            .unwrap();
        let root = Root::open(&dirs.root).unwrap();
        let installed = plan(&root, std::slice::from_ref(&extra))
            .unwrap()
            .apply(&root, &dirs.root)
            .unwrap();
        assert_ne!(std::fs::read_to_string(&bundle).unwrap(), image_ca.pem());
        let removed = restore(&dirs.root, Restore::InCopy, &installed, &[extra]);
        assert_eq!(std::fs::read_to_string(&bundle).unwrap(), image_ca.pem());
        assert_eq!(bundle.metadata().unwrap().modified().unwrap(), image_mtime);
        assert!(!removed.contains(&PathBuf::from("etc/ssl/certs/ca-certificates.crt")));
        assert!(removed.contains(&installed.files[0]));
    }

    #[test]
    fn restore_follows_no_link_the_step_made() {
        let extra = fake(2);
        let dirs = debian_like("");
        let root = Root::open(&dirs.root).unwrap();
        let plan = plan(&root, std::slice::from_ref(&extra)).unwrap();
        let installed = plan.apply(&root, &dirs.root).unwrap();
        // The step swaps /etc/ssl for a link to a directory elsewhere.
        let elsewhere = dirs.root.parent().unwrap().join("elsewhere");
        std::fs::rename(dirs.root.join("etc/ssl"), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dirs.root.join("etc/ssl")).unwrap();
        let text = std::fs::read(elsewhere.join("certs/ca-certificates.crt")).unwrap();
        restore(&dirs.root, Restore::InUpper, &installed, &[extra]);
        assert_eq!(
            std::fs::read(elsewhere.join("certs/ca-certificates.crt")).unwrap(),
            text
        );
    }
}
