//! The cgroup file system as the discovery and setup code see it: a trait,
//! so their decisions are tested against a fake tree (`fake.rs`) without a
//! delegated cgroup2 host, and [`Kernel`], the real one.

use std::io;
use std::path::{Path, PathBuf};

/// What is mounted at /sys/fs/cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// cgroup2 alone (the unified hierarchy).
    Unified,
    /// cgroup v1 controllers, and a cgroup2 hierarchy without controllers
    /// at /sys/fs/cgroup/unified.
    Hybrid,
    /// cgroup v1 only.
    Legacy,
    /// Nothing we can read.
    Missing,
}

/// Cgroups are named by their path in the hierarchy, `/` being its root, as
/// in /proc/self/cgroup.
pub trait Hierarchy {
    fn layout(&self) -> Layout;
    /// Whether we are root of the host (the initial user namespace), to
    /// whom every cgroup looks delegated.
    fn real_root(&self) -> bool;
    /// The text of /proc/self/cgroup.
    fn own_cgroups(&self) -> io::Result<String>;
    fn read(&self, cgroup: &Path, file: &str) -> io::Result<String>;
    fn write(&self, cgroup: &Path, file: &str, value: &str) -> io::Result<()>;
    /// Whether we may create children in `cgroup`, move processes into it
    /// and enable controllers below it: what a delegated cgroup allows.
    fn writable(&self, cgroup: &Path) -> bool;
    fn create(&self, cgroup: &Path) -> io::Result<()>;
    fn remove(&self, cgroup: &Path) -> io::Result<()>;
    /// Where `cgroup` is on the host, for messages.
    fn host_path(&self, cgroup: &Path) -> PathBuf;
}

/// The files a delegated cgroup's owner may write (systemd chowns these).
pub const DELEGATED_FILES: [&str; 2] = ["cgroup.procs", "cgroup.subtree_control"];

/// The running kernel's hierarchy at /sys/fs/cgroup.
pub struct Kernel;

const MOUNT: &str = "/sys/fs/cgroup";

fn is_cgroup2(path: &str) -> Option<bool> {
    nix::sys::statfs::statfs(path)
        .ok()
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

impl Hierarchy for Kernel {
    fn layout(&self) -> Layout {
        match is_cgroup2(MOUNT) {
            None => Layout::Missing,
            Some(true) => Layout::Unified,
            Some(false) if is_cgroup2("/sys/fs/cgroup/unified") == Some(true) => Layout::Hybrid,
            Some(false) => Layout::Legacy,
        }
    }

    fn real_root(&self) -> bool {
        // The initial user namespace maps every id to itself.
        nix::unistd::geteuid().is_root()
            && std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| {
                map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]
            })
    }

    fn own_cgroups(&self) -> io::Result<String> {
        std::fs::read_to_string("/proc/self/cgroup")
    }

    fn read(&self, cgroup: &Path, file: &str) -> io::Result<String> {
        std::fs::read_to_string(self.host_path(cgroup).join(file))
    }

    fn write(&self, cgroup: &Path, file: &str, value: &str) -> io::Result<()> {
        // One write(2) per value: cgroup files take one value per write.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(self.host_path(cgroup).join(file))?;
        io::Write::write_all(&mut f, value.as_bytes())
    }

    fn writable(&self, cgroup: &Path) -> bool {
        // access(2) answers for our ids: inside tanto's user namespace the
        // user's files are root's, and root there may write them.
        let dir = self.host_path(cgroup);
        std::iter::once(dir.clone())
            .chain(DELEGATED_FILES.iter().map(|f| dir.join(f)))
            .all(|p| nix::unistd::access(&p, nix::unistd::AccessFlags::W_OK).is_ok())
    }

    fn create(&self, cgroup: &Path) -> io::Result<()> {
        std::fs::create_dir(self.host_path(cgroup))
    }

    fn remove(&self, cgroup: &Path) -> io::Result<()> {
        std::fs::remove_dir(self.host_path(cgroup))
    }

    fn host_path(&self, cgroup: &Path) -> PathBuf {
        Path::new(MOUNT).join(cgroup.strip_prefix("/").unwrap_or(cgroup))
    }
}
