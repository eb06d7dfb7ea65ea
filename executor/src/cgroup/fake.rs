//! A cgroup2 tree in a temp dir that keeps the kernel's rules that matter
//! here: children see their parent's `subtree_control` as controllers, a
//! non-root cgroup cannot both hold processes and enable controllers for
//! children, a process is in one cgroup at a time, and a populated cgroup
//! cannot be removed.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use super::hierarchy::{Hierarchy, Layout};

pub struct FakeTree {
    dir: tempfile::TempDir,
    layout: Layout,
    own: String,
    pub real_root: bool,
    read_only: RefCell<HashSet<PathBuf>>,
}

fn busy() -> io::Error {
    io::Error::from_raw_os_error(libc::EBUSY)
}

impl FakeTree {
    /// A tree where this process is in `own`.
    pub fn new(layout: Layout, own: &str) -> FakeTree {
        let tree = FakeTree {
            dir: tempfile::tempdir().unwrap(),
            layout,
            own: format!("0::{own}\n"),
            real_root: false,
            read_only: RefCell::default(),
        };
        tree.cgroup("/", &["memory", "pids"], &[], &[]);
        tree
    }

    /// Adds (or rewrites) a cgroup with these files.
    pub fn cgroup(&self, cgroup: &str, controllers: &[&str], subtree: &[&str], procs: &[u32]) {
        let dir = self.host_path(Path::new(cgroup));
        std::fs::create_dir_all(&dir).unwrap();
        let procs: String = procs.iter().map(|p| format!("{p}\n")).collect();
        for (file, text) in [
            ("cgroup.controllers", controllers.join(" ")),
            ("cgroup.subtree_control", subtree.join(" ")),
            ("cgroup.procs", procs),
        ] {
            std::fs::write(dir.join(file), text).unwrap();
        }
    }

    pub fn read_only(&self, cgroup: &str) {
        self.read_only.borrow_mut().insert(cgroup.into());
    }

    pub fn procs(&self, cgroup: &str) -> Vec<u32> {
        self.read(Path::new(cgroup), "cgroup.procs")
            .unwrap()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect()
    }

    pub fn exists(&self, cgroup: &str) -> bool {
        self.host_path(Path::new(cgroup)).exists()
    }

    fn all_cgroups(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
            into.push(dir.to_owned());
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                if entry.file_type().unwrap().is_dir() {
                    walk(&entry.path(), into);
                }
            }
        }
        let mut all = Vec::new();
        walk(self.dir.path(), &mut all);
        all
    }

    fn move_process(&self, cgroup: &Path, pid: &str) -> io::Result<()> {
        let not_root = cgroup != Path::new("/");
        if not_root
            && !self
                .read(cgroup, "cgroup.subtree_control")?
                .trim()
                .is_empty()
        {
            return Err(busy());
        }
        for dir in self.all_cgroups() {
            let file = dir.join("cgroup.procs");
            // Ancestors a test did not describe.
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let kept: String = text
                .lines()
                .filter(|l| *l != pid)
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(&file, kept)?;
        }
        let file = self.host_path(cgroup).join("cgroup.procs");
        let text = std::fs::read_to_string(&file)? + pid + "\n";
        std::fs::write(file, text)
    }

    fn enable(&self, cgroup: &Path, value: &str) -> io::Result<()> {
        let controller = value.trim_start_matches('+');
        let available = self.read(cgroup, "cgroup.controllers")?;
        if !available.split_whitespace().any(|c| c == controller) {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        if cgroup != Path::new("/") && !self.read(cgroup, "cgroup.procs")?.trim().is_empty() {
            return Err(busy());
        }
        let mut enabled: Vec<String> = self
            .read(cgroup, "cgroup.subtree_control")?
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !enabled.iter().any(|c| c == controller) {
            enabled.push(controller.to_owned());
        }
        std::fs::write(
            self.host_path(cgroup).join("cgroup.subtree_control"),
            enabled.join(" "),
        )
    }
}

impl Hierarchy for FakeTree {
    fn layout(&self) -> Layout {
        self.layout
    }

    fn real_root(&self) -> bool {
        self.real_root
    }

    fn own_cgroups(&self) -> io::Result<String> {
        Ok(self.own.clone())
    }

    fn read(&self, cgroup: &Path, file: &str) -> io::Result<String> {
        std::fs::read_to_string(self.host_path(cgroup).join(file))
    }

    fn write(&self, cgroup: &Path, file: &str, value: &str) -> io::Result<()> {
        if !self.writable(cgroup) {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        match file {
            "cgroup.procs" => self.move_process(cgroup, value),
            "cgroup.subtree_control" => self.enable(cgroup, value),
            _ => {
                let path = self.host_path(cgroup).join(file);
                if !path.exists() && file != "cgroup.kill" {
                    return Err(io::Error::from_raw_os_error(libc::ENOENT));
                }
                std::fs::write(path, value)
            }
        }
    }

    fn writable(&self, cgroup: &Path) -> bool {
        !self.read_only.borrow().contains(cgroup)
    }

    fn create(&self, cgroup: &Path) -> io::Result<()> {
        let parent = cgroup.parent().ok_or_else(busy)?;
        if !self.writable(parent) {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        let dir = self.host_path(cgroup);
        std::fs::create_dir(&dir)?;
        let controllers = self.read(parent, "cgroup.subtree_control")?;
        std::fs::write(dir.join("cgroup.controllers"), &controllers)?;
        std::fs::write(dir.join("cgroup.subtree_control"), "")?;
        std::fs::write(dir.join("cgroup.procs"), "")?;
        if controllers.split_whitespace().any(|c| c == "pids") {
            std::fs::write(dir.join("pids.max"), "max")?;
        }
        Ok(())
    }

    fn remove(&self, cgroup: &Path) -> io::Result<()> {
        let has_children = std::fs::read_dir(self.host_path(cgroup))?
            .flatten()
            .any(|e| e.file_type().is_ok_and(|t| t.is_dir()));
        if has_children || !self.read(cgroup, "cgroup.procs")?.trim().is_empty() {
            return Err(busy());
        }
        std::fs::remove_dir_all(self.host_path(cgroup))
    }

    fn host_path(&self, cgroup: &Path) -> PathBuf {
        self.dir
            .path()
            .join(cgroup.strip_prefix("/").unwrap_or(cgroup))
    }
}
