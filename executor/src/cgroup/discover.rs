//! Deciding, without changing anything, whether steps can have cgroups of
//! their own and what tanto must do first: the part `tanto doctor` shows.

use std::fmt;
use std::path::{Path, PathBuf};

use super::hierarchy::{Hierarchy, Layout};

/// The leaf tanto moves the processes of its cgroup into, so that cgroup
/// may enable controllers for children (cgroup v2's no-internal-processes
/// rule), as podman's and crun's `init` sub-cgroup.
pub const LEAF: &str = "tanto-leaf";

/// What tanto will do with a delegated cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The delegated cgroup steps get children of.
    pub base: PathBuf,
    /// Its place on the host, for messages.
    pub host_path: PathBuf,
    /// `+pids` still has to be written to its `cgroup.subtree_control`.
    pub enable_pids: bool,
    /// It has processes of its own (tanto, the shell that started it), to
    /// be moved into [`LEAF`] before `+pids` can be enabled.
    pub move_processes: bool,
}

/// Why steps cannot have cgroups of their own here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unavailable {
    NotMounted,
    Legacy,
    Hybrid,
    /// /proc/self/cgroup has no `0::` line.
    NotInCgroup2,
    Unreadable {
        what: PathBuf,
        detail: String,
    },
    NotDelegated {
        cgroup: PathBuf,
    },
    /// Real root: every cgroup is writable, delegated or not, and
    /// libcontainer (not in rootless mode) moves the container into a
    /// cgroup of its own making.
    RealRoot,
    NoPidsController {
        cgroup: PathBuf,
    },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::NotMounted => write!(f, "nothing is mounted at /sys/fs/cgroup"),
            Unavailable::Legacy => write!(f, "the host uses cgroup v1 only"),
            Unavailable::Hybrid => write!(
                f,
                "the host uses cgroup v1 (hybrid: the cgroup2 hierarchy at /sys/fs/cgroup/unified has no controllers)"
            ),
            Unavailable::NotInCgroup2 => {
                write!(f, "/proc/self/cgroup names no cgroup2 cgroup (no `0::` line)")
            }
            Unavailable::Unreadable { what, detail } => {
                write!(f, "cannot read {}: {detail}", what.display())
            }
            Unavailable::NotDelegated { cgroup } => write!(
                f,
                "cgroup2 is not delegated to this user: tanto's cgroup {} is not writable",
                cgroup.display()
            ),
            Unavailable::RealRoot => write!(
                f,
                "tanto runs as real root, where libcontainer puts each step in a cgroup of its own, without a pids limit"
            ),
            Unavailable::NoPidsController { cgroup } => write!(
                f,
                "tanto's cgroup {} is delegated but the pids controller is not available in it",
                cgroup.display()
            ),
        }
    }
}

impl Unavailable {
    /// What the user can do about it.
    pub fn fix(&self) -> String {
        let delegate = "run tanto in a delegated cgroup: a systemd login delegates user@UID.service to you (Delegate=yes), so `systemd-run --user --scope -p Delegate=yes tanto …` works; in a Kubernetes pod, tanto's user needs the container's cgroup (cgroup2 mounted read-write in the pod's cgroup namespace)";
        match self {
            Unavailable::NotMounted | Unavailable::Legacy | Unavailable::Hybrid => format!(
                "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1), then {delegate}"
            ),
            Unavailable::NotInCgroup2 | Unavailable::Unreadable { .. } => {
                format!("mount cgroup2 at /sys/fs/cgroup, then {delegate}")
            }
            Unavailable::NotDelegated { .. } => delegate.to_owned(),
            Unavailable::RealRoot => format!("run tanto as an unprivileged user and {delegate}"),
            Unavailable::NoPidsController { cgroup } => format!(
                "enable pids for it in its parent (systemd does with Delegate=yes or Delegate=pids; as root: `echo +pids > {}/cgroup.subtree_control`)",
                cgroup.parent().unwrap_or(Path::new("/")).display()
            ),
        }
    }
}

/// The cgroup2 path in /proc/self/cgroup's `0::PATH` line.
fn own_cgroup(text: &str) -> Option<PathBuf> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(|path| PathBuf::from(path.trim_end()))
}

fn lists(text: &str, word: &str) -> bool {
    text.split_whitespace().any(|w| w == word)
}

/// Where steps' cgroups can go, or why they cannot.
pub fn plan(hierarchy: &dyn Hierarchy) -> Result<Plan, Unavailable> {
    match hierarchy.layout() {
        Layout::Unified => {}
        Layout::Hybrid => return Err(Unavailable::Hybrid),
        Layout::Legacy => return Err(Unavailable::Legacy),
        Layout::Missing => return Err(Unavailable::NotMounted),
    }
    if hierarchy.real_root() {
        // Its cgroup would look delegated (root may write anything) though
        // it belongs to systemd, and the container would leave it anyway.
        return Err(Unavailable::RealRoot);
    }
    let text = hierarchy
        .own_cgroups()
        .map_err(|e| Unavailable::Unreadable {
            what: "/proc/self/cgroup".into(),
            detail: e.to_string(),
        })?;
    let own = own_cgroup(&text).ok_or(Unavailable::NotInCgroup2)?;
    // Started from a leaf an earlier tanto made: its parent is the
    // delegated cgroup, already set up.
    let base = match (own.file_name(), own.parent()) {
        (Some(name), Some(parent)) if name == LEAF => parent.to_owned(),
        _ => own,
    };
    let host_path = hierarchy.host_path(&base);
    if !hierarchy.writable(&base) {
        return Err(Unavailable::NotDelegated { cgroup: host_path });
    }
    let read = |file: &str| {
        hierarchy
            .read(&base, file)
            .map_err(|e| Unavailable::Unreadable {
                what: host_path.join(file),
                detail: e.to_string(),
            })
    };
    if !lists(&read("cgroup.controllers")?, "pids") {
        return Err(Unavailable::NoPidsController { cgroup: host_path });
    }
    let enable_pids = !lists(&read("cgroup.subtree_control")?, "pids");
    let has_processes = !read("cgroup.procs")?.trim().is_empty();
    Ok(Plan {
        // The root cgroup is exempt from the rule, and emptying it would
        // move every process of the machine.
        move_processes: enable_pids && has_processes && base != Path::new("/"),
        base,
        host_path,
        enable_pids,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeTree;
    use super::*;

    #[test]
    fn v1_and_hybrid_hosts_have_no_step_cgroups() {
        let tree = FakeTree::new(Layout::Legacy, "/user.slice");
        assert_eq!(plan(&tree), Err(Unavailable::Legacy));
        let tree = FakeTree::new(Layout::Hybrid, "/user.slice");
        assert_eq!(plan(&tree), Err(Unavailable::Hybrid));
        assert!(Unavailable::Hybrid.to_string().contains("cgroup v1"));
        assert!(Unavailable::Hybrid
            .fix()
            .contains("unified_cgroup_hierarchy=1"));
    }

    #[test]
    fn finds_the_cgroup2_line_among_v1_lines() {
        let text = "12:pids:/user.slice/x\n1:name=systemd:/user.slice/x\n0::/user.slice/x\n";
        assert_eq!(own_cgroup(text), Some(PathBuf::from("/user.slice/x")));
        assert_eq!(own_cgroup("12:pids:/a\n"), None);
    }

    #[test]
    fn a_cgroup_we_cannot_write_is_not_delegated() {
        let tree = FakeTree::new(
            Layout::Unified,
            "/user.slice/user-1000.slice/session-3.scope",
        );
        tree.cgroup(
            "/user.slice/user-1000.slice/session-3.scope",
            &["pids"],
            &[],
            &[7],
        );
        tree.read_only("/user.slice/user-1000.slice/session-3.scope");
        let why = plan(&tree).unwrap_err();
        assert!(matches!(why, Unavailable::NotDelegated { .. }), "{why:?}");
        assert!(why.fix().contains("Delegate=yes"));
    }

    #[test]
    fn real_root_leaves_systemds_cgroups_alone() {
        let mut tree = FakeTree::new(Layout::Unified, "/user.slice/user-0.slice/session-1.scope");
        tree.cgroup(
            "/user.slice/user-0.slice/session-1.scope",
            &["pids"],
            &[],
            &[7],
        );
        tree.real_root = true;
        assert_eq!(plan(&tree), Err(Unavailable::RealRoot));
    }

    #[test]
    fn a_delegated_cgroup_without_pids_says_so() {
        let tree = FakeTree::new(Layout::Unified, "/delegated");
        tree.cgroup("/delegated", &["memory"], &[], &[7]);
        let why = plan(&tree).unwrap_err();
        assert!(
            matches!(why, Unavailable::NoPidsController { .. }),
            "{why:?}"
        );
        assert!(why.fix().contains("+pids"));
    }

    #[test]
    fn a_delegated_cgroup_with_processes_needs_a_leaf_first() {
        let tree = FakeTree::new(Layout::Unified, "/user.slice/user@1000.service/tanto.scope");
        tree.cgroup(
            "/user.slice/user@1000.service/tanto.scope",
            &["memory", "pids"],
            &[],
            &[7, 8],
        );
        let plan = plan(&tree).unwrap();
        assert_eq!(
            plan.base,
            Path::new("/user.slice/user@1000.service/tanto.scope")
        );
        assert!(plan.enable_pids && plan.move_processes);
    }

    #[test]
    fn a_delegated_cgroup_already_set_up_is_used_as_it_is() {
        // A second tanto, started by a shell the first moved into the leaf.
        let tree = FakeTree::new(Layout::Unified, "/delegated/tanto-leaf");
        tree.cgroup("/delegated", &["pids"], &["pids"], &[]);
        tree.cgroup("/delegated/tanto-leaf", &["pids"], &[], &[7]);
        let plan = plan(&tree).unwrap();
        assert_eq!(plan.base, Path::new("/delegated"));
        assert!(!plan.enable_pids && !plan.move_processes);
    }

    #[test]
    fn the_root_cgroup_is_never_emptied() {
        // tanto in the root of a cgroup namespace, or real root in the root.
        let tree = FakeTree::new(Layout::Unified, "/");
        tree.cgroup("/", &["pids"], &[], &[1, 7]);
        let plan = plan(&tree).unwrap();
        assert!(plan.enable_pids && !plan.move_processes);
    }

    #[test]
    fn an_empty_delegated_cgroup_only_needs_pids_enabled() {
        let tree = FakeTree::new(Layout::Unified, "/delegated");
        tree.cgroup("/delegated", &["pids"], &[], &[]);
        let plan = plan(&tree).unwrap();
        assert!(plan.enable_pids && !plan.move_processes);
    }
}
