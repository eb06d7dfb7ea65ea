//! Acting on a [`Plan`]: making the delegated cgroup able to hold step
//! cgroups, then one cgroup per step with its pids limit.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::discover::{Plan, LEAF};
use super::hierarchy::Hierarchy;
use crate::Error;

fn failed(action: &'static str, path: PathBuf) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::StepCgroup {
        action,
        path,
        source,
    }
}

fn already_exists(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Processes can fork into the base between our reading its `cgroup.procs`
/// and enabling `+pids` (which then fails with EBUSY): move and retry.
const ENABLE_ATTEMPTS: usize = 5;

/// Makes `plan.base` ready for step cgroups: moves its processes into the
/// leaf, then enables the pids controller for its children.
pub fn prepare(hierarchy: &dyn Hierarchy, plan: &Plan) -> Result<PathBuf, Error> {
    if !plan.enable_pids {
        return Ok(plan.base.clone());
    }
    let leaf = plan.base.join(LEAF);
    let mut attempt = 0;
    loop {
        attempt += 1;
        if plan.move_processes {
            already_exists(hierarchy.create(&leaf))
                .map_err(failed("create", hierarchy.host_path(&leaf)))?;
            let procs = hierarchy
                .read(&plan.base, "cgroup.procs")
                .map_err(failed("read", plan.host_path.join("cgroup.procs")))?;
            for pid in procs.split_whitespace() {
                match hierarchy.write(&leaf, "cgroup.procs", pid) {
                    // Gone since we read the list.
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                    other => other.map_err(failed(
                        "move a process into",
                        hierarchy.host_path(&leaf).join("cgroup.procs"),
                    ))?,
                }
            }
        }
        match hierarchy.write(&plan.base, "cgroup.subtree_control", "+pids") {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < ENABLE_ATTEMPTS => {}
            other => {
                other.map_err(failed(
                    "enable +pids in",
                    plan.host_path.join("cgroup.subtree_control"),
                ))?;
                return Ok(plan.base.clone());
            }
        }
    }
}

/// The most processes (threads count) a step may have at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidsMax {
    Limit(u64),
    /// A cgroup of its own but no limit (`max`).
    Unlimited,
}

/// Podman's default is 2048; threads count too, and a build on a large CI
/// machine (rustc, a JVM, `make -j64`) can run a few thousand of them. A
/// fork bomb still hits 4096 in milliseconds.
pub const DEFAULT_PIDS_MAX: PidsMax = PidsMax::Limit(4096);

/// Overrides [`DEFAULT_PIDS_MAX`]: a positive number, or `max`.
pub const PIDS_MAX_ENV: &str = "TANTO_STEP_PIDS_MAX";

impl PidsMax {
    /// The setting for `value` of [`PIDS_MAX_ENV`]; `Err` with the default
    /// when it is not a positive number or `max`.
    pub fn parse(value: Option<&str>) -> Result<PidsMax, PidsMax> {
        match value.map(str::trim) {
            None | Some("") => Ok(DEFAULT_PIDS_MAX),
            Some("max") => Ok(PidsMax::Unlimited),
            Some(n) => match n.parse::<u64>() {
                Ok(n) if n > 0 => Ok(PidsMax::Limit(n)),
                _ => Err(DEFAULT_PIDS_MAX),
            },
        }
    }

    /// As written to `pids.max`.
    pub fn value(self) -> String {
        match self {
            PidsMax::Limit(n) => n.to_string(),
            PidsMax::Unlimited => "max".into(),
        }
    }
}

/// A step's own cgroup, removed (its processes killed first) on drop.
pub struct StepCgroup<'h> {
    hierarchy: &'h dyn Hierarchy,
    cgroup: PathBuf,
}

/// How long to wait for the kernel to empty a killed cgroup.
const REMOVE_ATTEMPTS: usize = 50;
const REMOVE_PAUSE: Duration = Duration::from_millis(10);

impl<'h> StepCgroup<'h> {
    /// Creates `base/name` with its pids limit.
    pub fn create(
        hierarchy: &'h dyn Hierarchy,
        base: &Path,
        name: &str,
        pids_max: PidsMax,
    ) -> Result<StepCgroup<'h>, Error> {
        let cgroup = base.join(name);
        hierarchy
            .create(&cgroup)
            .map_err(failed("create", hierarchy.host_path(&cgroup)))?;
        // From here on, drop removes it.
        let step = StepCgroup { hierarchy, cgroup };
        hierarchy
            .write(&step.cgroup, "pids.max", &pids_max.value())
            .map_err(failed("set", step.host_path().join("pids.max")))?;
        Ok(step)
    }

    /// Moves process `pid` (and so whatever it forks later) into the cgroup.
    pub fn enter(&self, pid: u32) -> Result<(), Error> {
        self.hierarchy
            .write(&self.cgroup, "cgroup.procs", &pid.to_string())
            .map_err(failed("move the step into", self.host_path()))
    }

    pub fn host_path(&self) -> PathBuf {
        self.hierarchy.host_path(&self.cgroup)
    }

    /// Kills what is left in it and removes it.
    pub fn remove(&self) -> Result<(), Error> {
        // Nothing should be left (the step's pid namespace died with its
        // pid 1); cgroup.kill (Linux 5.14) makes sure. Older kernels lack
        // the file, hence no error.
        let _ = self.hierarchy.write(&self.cgroup, "cgroup.kill", "1");
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.hierarchy.remove(&self.cgroup) {
                // Killed processes leave the cgroup a moment after.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < REMOVE_ATTEMPTS => {
                    std::thread::sleep(REMOVE_PAUSE)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                other => return other.map_err(failed("remove", self.host_path())),
            }
        }
    }
}

impl Drop for StepCgroup<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            super::warn_once(&e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::discover::plan;
    use super::super::fake::FakeTree;
    use super::super::hierarchy::Layout;
    use super::*;

    const SCOPE: &str = "/user.slice/user@1000.service/tanto.scope";

    #[test]
    fn moves_our_processes_into_a_leaf_then_enables_pids() {
        let tree = FakeTree::new(Layout::Unified, SCOPE);
        tree.cgroup(SCOPE, &["memory", "pids"], &[], &[7, 8]);
        let plan = plan(&tree).unwrap();
        let base = prepare(&tree, &plan).unwrap();
        assert_eq!(base, Path::new(SCOPE));
        assert_eq!(tree.procs(SCOPE), Vec::<u32>::new());
        assert_eq!(tree.procs(&format!("{SCOPE}/{LEAF}")), vec![7, 8]);
        assert_eq!(
            tree.read(Path::new(SCOPE), "cgroup.subtree_control")
                .unwrap(),
            "pids"
        );
        // Preparing again (a second tanto) changes nothing.
        assert_eq!(prepare(&tree, &plan).unwrap(), base);
    }

    #[test]
    fn a_step_gets_its_own_cgroup_and_limit_then_it_goes() {
        let tree = FakeTree::new(Layout::Unified, SCOPE);
        tree.cgroup(SCOPE, &["pids"], &[], &[7]);
        let base = prepare(&tree, &plan(&tree).unwrap()).unwrap();
        let step = StepCgroup::create(&tree, &base, "tanto-step-1", PidsMax::Limit(64)).unwrap();
        let path = format!("{SCOPE}/tanto-step-1");
        assert_eq!(
            tree.read(Path::new(&path), "pids.max").unwrap(),
            "64",
            "the limit is set"
        );
        step.enter(7).unwrap();
        assert_eq!(tree.procs(&path), vec![7]);
        assert_eq!(tree.procs(&format!("{SCOPE}/{LEAF}")), Vec::<u32>::new());
        // The fake cannot kill: the process leaves as a dead one would.
        tree.cgroup(&path, &["pids"], &[], &[]);
        drop(step);
        assert!(!tree.exists(&path));
    }

    #[test]
    fn a_step_cgroup_without_pids_is_refused_and_removed() {
        let tree = FakeTree::new(Layout::Unified, SCOPE);
        // Delegated but +pids never enabled: pids.max does not exist.
        tree.cgroup(SCOPE, &["pids"], &[], &[]);
        let error = StepCgroup::create(&tree, Path::new(SCOPE), "tanto-step-2", PidsMax::Limit(8))
            .err()
            .expect("no pids.max to write");
        assert!(error.to_string().contains("pids.max"), "{error}");
        assert!(!tree.exists(&format!("{SCOPE}/tanto-step-2")));
    }

    #[test]
    fn pids_max_setting() {
        assert_eq!(PidsMax::parse(None), Ok(DEFAULT_PIDS_MAX));
        assert_eq!(PidsMax::parse(Some("100")), Ok(PidsMax::Limit(100)));
        assert_eq!(PidsMax::parse(Some("max")), Ok(PidsMax::Unlimited));
        assert_eq!(PidsMax::parse(Some("0")), Err(DEFAULT_PIDS_MAX));
        assert_eq!(PidsMax::parse(Some("lots")), Err(DEFAULT_PIDS_MAX));
        assert_eq!(PidsMax::Unlimited.value(), "max");
    }
}
