//! The step's root file system once mounted (`overlay_mount.rs` mounts it):
//! safe path work inside it (symlinks resolve inside the root, never out of
//! it), and removing the mount points tanto had to create from the upper dir
//! afterwards.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::failure::{describe, Failure};
use crate::overlay::OPAQUE_XATTR;

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// A directory file descriptor that paths are resolved in as if it were `/`.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    pub fn open(path: &Path) -> Result<Root, Failure> {
        let file = File::open(path).map_err(|e| Failure::Prepare {
            what: format!("open {}", path.display()),
            detail: describe(e),
        })?;
        Ok(Root {
            fd: file.into(),
            path: path.to_owned(),
        })
    }

    /// Opens `path` (absolute in the container) with symlinks resolved
    /// inside the root.
    fn open_in(&self, path: &str, flags: i32) -> std::io::Result<OwnedFd> {
        let relative = path.trim_start_matches('/');
        let relative = if relative.is_empty() { "." } else { relative };
        let c_path = CString::new(relative)?;
        let how = OpenHow {
            flags: (flags | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: valid fd, C string and open_how of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.fd.as_raw_fd(),
                c_path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this fd.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// A small text file of the image (/etc/passwd), empty if missing.
    pub fn read_text(&self, path: &str) -> String {
        use std::io::Read;
        let mut text = String::new();
        if let Ok(fd) = self.open_in(path, libc::O_RDONLY) {
            let _ = File::from(fd).read_to_string(&mut text);
        }
        text
    }

    /// The path of an open fd relative to the root, as the overlay stores it.
    fn relative_path(&self, fd: &OwnedFd) -> Option<PathBuf> {
        let real = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        real.strip_prefix(&self.path).ok().map(Path::to_owned)
    }

    /// A regular file of the image, opened for reading with links resolved
    /// inside the root, and its path relative to the root; `None` when it
    /// is missing or not a regular file.
    pub fn open_regular(&self, path: &str) -> Option<(File, PathBuf)> {
        // O_NONBLOCK: a FIFO in its place must not block the open.
        let fd = self
            .open_in(path, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)
            .ok()?;
        let real = self.relative_path(&fd)?;
        let file = File::from(fd);
        file.metadata().ok()?.is_file().then_some((file, real))
    }

    /// A directory of the image, as a path relative to the root with links
    /// resolved inside it.
    pub fn directory(&self, path: &str) -> Option<PathBuf> {
        let fd = self.open_in(path, libc::O_PATH | libc::O_DIRECTORY).ok()?;
        self.relative_path(&fd)
    }

    /// Replaces the contents of an existing file (`relative` has no links:
    /// it came from [`Root::open_regular`]).
    pub fn rewrite(&self, relative: &Path, contents: &[u8]) -> std::io::Result<()> {
        let path = relative.to_str().ok_or(std::io::ErrorKind::InvalidInput)?;
        let fd = self.open_in(path, libc::O_WRONLY | libc::O_TRUNC | libc::O_NOFOLLOW)?;
        std::io::Write::write_all(&mut File::from(fd), contents)
    }

    /// Creates a new file (never replacing one) with `contents` and `mode`,
    /// owned by the helper (root of tanto's namespace).
    pub fn create_file(&self, relative: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        let (Some(parent), Some(name)) = (
            relative.parent().and_then(Path::to_str),
            relative.file_name(),
        ) else {
            return Err(std::io::ErrorKind::InvalidInput.into());
        };
        let parent = self.open_in(parent, libc::O_PATH | libc::O_DIRECTORY)?;
        let name = CString::new(name.as_bytes())?;
        // SAFETY: valid fd and C string.
        let fd = unsafe {
            libc::openat(
                parent.as_raw_fd(),
                name.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this fd.
        let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // Whatever the umask took away.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        std::io::Write::write_all(&mut file, contents)
    }

    /// Makes sure `target` exists in the root as a directory (or a file when
    /// `directory` is false), creating what is missing. Returns what it
    /// created, as paths relative to the root, parents first.
    ///
    /// A symlink on the way that dangles is followed as Docker does: its
    /// target is resolved inside the root (an absolute or `..` link never
    /// leaves it) and what is missing there is created.
    pub fn ensure(&self, target: &str, directory: bool) -> Result<Vec<PathBuf>, Failure> {
        let mut created = Vec::new();
        let mut path = target.to_owned();
        // Linux's own bound on links followed in one lookup.
        for _ in 0..=40 {
            match self.ensure_until_link(&path, target, directory, &mut created)? {
                None => return Ok(created),
                Some(next) => path = next,
            }
        }
        Err(prepare_error(
            target,
            std::io::Error::from_raw_os_error(libc::ELOOP),
        ))
    }

    /// One pass of [`Root::ensure`] over `path`; stops at a dangling symlink
    /// and returns the path to go on with, through the link's target.
    fn ensure_until_link(
        &self,
        path: &str,
        target: &str,
        directory: bool,
        created: &mut Vec<PathBuf>,
    ) -> Result<Option<String>, Failure> {
        let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let mut prefix = String::new();
        for (i, component) in components.iter().enumerate() {
            let last = i + 1 == components.len();
            let parent = if prefix.is_empty() {
                "/".to_owned()
            } else {
                prefix.clone()
            };
            prefix = format!("{prefix}/{component}");
            let want_dir = !last || directory;
            match self.open_in(&prefix, libc::O_PATH) {
                Ok(fd) => {
                    let is_dir = File::from(fd)
                        .metadata()
                        .map(|m| m.is_dir())
                        .unwrap_or(false);
                    if want_dir && !is_dir {
                        return Err(Failure::MountTargetNotDirectory {
                            target: if last { target.to_owned() } else { prefix },
                        });
                    }
                    if !want_dir && is_dir {
                        return Err(Failure::MountTargetIsDirectory {
                            target: target.to_owned(),
                        });
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let parent_fd = self
                        .open_in(&parent, libc::O_PATH | libc::O_DIRECTORY)
                        .map_err(|e| prepare_error(&parent, e))?;
                    let name = CString::new(*component).map_err(|e| prepare_error(&prefix, e))?;
                    if let Some(link) = read_link_at(&parent_fd, &name) {
                        // Where the kernel found the parent, not the path's
                        // text: a `..` in the link starts from there.
                        let parent_real = self
                            .relative_path(&parent_fd)
                            .ok_or_else(|| prepare_error(&parent, "outside the root"))?;
                        let base = if link.starts_with('/') {
                            String::new()
                        } else {
                            format!("/{}", parent_real.display())
                        };
                        let rest = components[i + 1..].join("/");
                        return Ok(Some(format!("{base}/{link}/{rest}")));
                    }
                    // SAFETY: valid fd and C string.
                    let ret = unsafe {
                        if want_dir {
                            libc::mkdirat(parent_fd.as_raw_fd(), name.as_ptr(), 0o755)
                        } else {
                            let fd = libc::openat(
                                parent_fd.as_raw_fd(),
                                name.as_ptr(),
                                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                                0o644,
                            );
                            if fd >= 0 {
                                libc::close(fd);
                            }
                            fd.min(0)
                        }
                    };
                    if ret < 0 {
                        return Err(prepare_error(&prefix, std::io::Error::last_os_error()));
                    }
                    let fd = self
                        .open_in(&prefix, libc::O_PATH)
                        .map_err(|e| prepare_error(&prefix, e))?;
                    if let Some(relative) = self.relative_path(&fd) {
                        created.push(relative);
                    }
                }
                Err(e) => return Err(prepare_error(&prefix, e)),
            }
        }
        Ok(None)
    }
}

/// The target of `name` in `dir` if it is a symlink.
fn read_link_at(dir: &OwnedFd, name: &CString) -> Option<String> {
    let mut buffer = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: valid fd, C string and buffer of the length passed.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buffer.truncate(n as usize);
    String::from_utf8(buffer).ok()
}

fn prepare_error(path: &str, error: impl std::fmt::Display) -> Failure {
    Failure::Prepare {
        what: format!("create {path}"),
        detail: describe(error),
    }
}

/// Removes from `upper` what the helper created only to mount on (files and
/// directories that no lower layer had), and the parents overlay copied up on
/// the way when nothing else changed in them. A created directory the step
/// wrote into is not empty and stays; so does a copied-up parent whose owner
/// or mode the step changed. Runs after the overlay is gone.
pub fn remove_mount_points(upper: &Path, lowers: &[PathBuf], created: &[PathBuf]) {
    for relative in created.iter().rev() {
        // A parent the step replaced by a link leads out of the upper dir.
        let Some(path) = beneath(upper, relative) else {
            continue;
        };
        match path.symlink_metadata() {
            Ok(meta) if meta.is_dir() => {
                let _ = std::fs::remove_dir(&path);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(_) => {}
        }
    }
    let mut parents: Vec<&Path> = created
        .iter()
        .flat_map(|p| p.ancestors().skip(1))
        .filter(|p| !p.as_os_str().is_empty() && !created.iter().any(|c| c == p))
        .collect();
    // Deepest first, so a parent is empty once its children are gone.
    parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    parents.dedup();
    for relative in parents {
        let Some(path) = beneath(upper, relative) else {
            continue;
        };
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        let empty = std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none());
        // The step replaced the directory: what the lowers have there stays hidden.
        let opaque = xattr_present(&path, OPAQUE_XATTR);
        let unchanged = lowers
            .iter()
            .find_map(|l| l.join(relative).symlink_metadata().ok())
            .is_some_and(|lower| {
                lower.is_dir()
                    && lower.mode() == meta.mode()
                    && lower.uid() == meta.uid()
                    && lower.gid() == meta.gid()
            });
        if meta.is_dir() && empty && !opaque && unchanged {
            let _ = std::fs::remove_dir(&path);
        }
    }
}

/// `upper` joined with `relative` when every directory on the way is a
/// directory, not a link: what the outer helper may touch once the step is
/// gone (a link would lead it outside the upper dir, as root of tanto's
/// namespace).
pub fn beneath(upper: &Path, relative: &Path) -> Option<PathBuf> {
    let mut path = upper.to_owned();
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        let std::path::Component::Normal(name) = component else {
            return None;
        };
        path.push(name);
        if components.peek().is_some() && !path.symlink_metadata().ok()?.is_dir() {
            return None;
        }
    }
    Some(path)
}

pub fn xattr_present(path: &Path, name: &str) -> bool {
    let (Ok(path), Ok(name)) = (
        CString::new(path.as_os_str().as_bytes()),
        CString::new(name),
    ) else {
        return false;
    };
    // SAFETY: valid C strings; a zero-size query writes nothing.
    unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) >= 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_created_inside_the_root_and_removed_from_upper() {
        let dir = tempfile_dir();
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        // An absolute symlink resolves inside the root, not on the host.
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let r = Root::open(&root).unwrap();
        assert!(r.read_text("/link/passwd").starts_with("root:"));
        let created = r.ensure("/link/hosts", false).unwrap();
        assert_eq!(created, [PathBuf::from("etc/hosts")]);
        assert!(root.join("etc/hosts").is_file());
        let created = r.ensure("/cache/a", true).unwrap();
        assert_eq!(created, [PathBuf::from("cache"), PathBuf::from("cache/a")]);
        assert!(matches!(
            r.ensure("/etc/passwd", true),
            Err(Failure::MountTargetNotDirectory { .. })
        ));
        assert!(matches!(
            r.ensure("/etc", false),
            Err(Failure::MountTargetIsDirectory { .. })
        ));
        // Root acts as the upper dir here; nothing is below it.
        std::fs::write(root.join("cache/kept"), "").unwrap();
        remove_mount_points(
            &root,
            &[],
            &[
                PathBuf::from("etc/hosts"),
                PathBuf::from("cache"),
                PathBuf::from("cache/a"),
            ],
        );
        assert!(!root.join("etc/hosts").exists());
        assert!(!root.join("cache/a").exists());
        assert!(root.join("cache/kept").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A copied-up parent carries overlay's bookkeeping (`user.overlay.origin`,
    /// written on every copy-up) and goes like any other; one the step made
    /// opaque stays, or the lowers' contents would show through again.
    #[test]
    fn opaque_parents_stay_and_copied_up_ones_go() {
        let dir = tempfile_dir();
        let (upper, lower) = (dir.join("upper"), dir.join("lower"));
        for d in ["etc", "opt", "srv"] {
            std::fs::create_dir_all(upper.join(d)).unwrap();
            std::fs::create_dir_all(lower.join(d)).unwrap();
        }
        // Like the store, the temp dir's file system must have user xattrs.
        crate::overlay::xattr_set(&upper.join("opt"), OPAQUE_XATTR, b"y").unwrap();
        crate::overlay::xattr_set(&upper.join("etc"), "user.overlay.origin", b"").unwrap();
        for file in ["etc/hosts", "opt/mnt", "srv/mnt"] {
            std::fs::write(upper.join(file), "").unwrap();
        }
        remove_mount_points(
            &upper,
            &[lower],
            &[
                PathBuf::from("etc/hosts"),
                PathBuf::from("opt/mnt"),
                PathBuf::from("srv/mnt"),
            ],
        );
        assert!(!upper.join("etc").exists(), "copied-up parent kept");
        assert!(!upper.join("srv").exists(), "copied-up parent kept");
        assert!(upper.join("opt").is_dir(), "opaque parent removed");
        assert!(!upper.join("opt/mnt").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dangling_links_are_followed_inside_the_root() {
        let dir = tempfile_dir();
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("opt")).unwrap();
        // As images have them: absolute, relative, and climbing out with `..`.
        std::os::unix::fs::symlink("/data/work", root.join("work")).unwrap();
        std::os::unix::fs::symlink("../srv/app", root.join("opt/app")).unwrap();
        std::os::unix::fs::symlink("../../../../escape", root.join("opt/out")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        let r = Root::open(&root).unwrap();
        let created = r.ensure("/work/src", true).unwrap();
        assert_eq!(
            created,
            [
                PathBuf::from("data"),
                PathBuf::from("data/work"),
                PathBuf::from("data/work/src")
            ]
        );
        assert!(root.join("data/work/src").is_dir());
        assert!(root.join("work").is_symlink());
        r.ensure("/opt/app/x", true).unwrap();
        assert!(root.join("srv/app/x").is_dir());
        r.ensure("/opt/out/file", false).unwrap();
        assert!(root.join("escape/file").is_file());
        assert!(!dir.join("escape").exists());
        assert!(r.ensure("/loop/x", true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tanto-rootfs-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
