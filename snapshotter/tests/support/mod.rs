//! What the file-system tests share: layer chains built by hand (whiteouts
//! made with mknod, opaque directories with xattrs, without the crate's own
//! `overlay` module, so the tests check it rather than trust it), and the
//! calls that read them back.
#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use snapshotter::{ChainView, DirEntry, Filter};

pub fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// Reports a test that cannot run here. CI provides what tests need, so
/// there a skip is a failure.
#[allow(clippy::print_stderr)]
pub fn skip(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "cannot run in CI: {reason}"
    );
    eprintln!("skipped: {reason}");
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// A diff directory (one layer of a chain) being built by hand.
pub struct DiffDir(pub PathBuf);

impl DiffDir {
    pub fn new(base: &Path, name: &str) -> DiffDir {
        let path = base.join(name);
        std::fs::create_dir_all(&path).unwrap();
        DiffDir(path)
    }

    pub fn path(&self) -> PathBuf {
        self.0.clone()
    }

    pub fn at(&self, rel: &str) -> PathBuf {
        let path = self.0.join(rel.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        path
    }

    pub fn file(&self, rel: &str, data: &str) -> &Self {
        self.file_mode(rel, data, 0o644)
    }

    pub fn file_mode(&self, rel: &str, data: &str, mode: u32) -> &Self {
        let path = self.at(rel);
        std::fs::write(&path, data).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    pub fn dir(&self, rel: &str, mode: u32) -> &Self {
        let path = self.at(rel);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        std::os::unix::fs::symlink(target, self.at(rel)).unwrap();
        self
    }

    pub fn whiteout(&self, rel: &str) -> &Self {
        let path = self.at(rel);
        let ret = unsafe { libc::mknod(c(&path).as_ptr(), libc::S_IFCHR, 0) };
        assert_eq!(
            ret,
            0,
            "mknod whiteout: {}",
            std::io::Error::last_os_error()
        );
        self
    }

    pub fn opaque(&self, rel: &str) -> &Self {
        let path = self.at(rel);
        std::fs::create_dir_all(&path).unwrap();
        set_xattr(&path, "user.overlay.opaque", b"y");
        self
    }

    pub fn chown(&self, rel: &str, uid: u32, gid: u32) -> &Self {
        std::os::unix::fs::lchown(self.at(rel), Some(uid), Some(gid)).unwrap();
        self
    }
}

pub fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let name = CString::new(name).unwrap();
    let ret = unsafe {
        libc::lsetxattr(
            c(path).as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(ret, 0, "setxattr: {}", std::io::Error::last_os_error());
}

pub fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let name = CString::new(name).unwrap();
    let mut buf = vec![0u8; 64];
    let n = unsafe {
        libc::lgetxattr(
            c(path).as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

pub fn set_mtime(path: &Path, seconds: i64) {
    let t = libc::timespec {
        tv_sec: seconds,
        tv_nsec: 0,
    };
    let ret = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c(path).as_ptr(),
            [t, t].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(ret, 0);
}

pub fn names(entries: &[DirEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

pub fn read(view: &ChainView, path: &str) -> String {
    String::from_utf8(view.read_file(path, 1 << 20).unwrap()).unwrap()
}

pub fn filter(include: &[&str], exclude: &[&str]) -> Filter {
    let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Filter::new(&own(include), &own(exclude)).unwrap()
}

/// The merged view with the new layer on top of the target.
pub fn stacked(dest: &DiffDir, target: &ChainView) -> ChainView {
    let mut layers = vec![dest.path()];
    layers.extend(target.layers().iter().cloned());
    ChainView::new(layers)
}
