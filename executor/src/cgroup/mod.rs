//! Step cgroups: where the host delegates a cgroup2 subtree to the user,
//! each step runs in a cgroup of its own with a pids limit, so a fork bomb
//! stops at the limit and whatever a step leaves behind can be killed as a
//! group.
//!
//! ```text
//! <delegated cgroup>            the cgroup tanto was started in, ours
//! ├── tanto-leaf                its former processes (tanto, the shell…)
//! ├── tanto-step-<pid>-<n>      one step: the exec helper, the step's pid 1
//! └── tanto-step-<pid>-<n>      and all they fork; pids.max
//! ```
//!
//! cgroup v2 lets a cgroup hand controllers to its children only when it
//! holds no processes itself, so on first use the engine moves the
//! delegated cgroup's processes into `tanto-leaf` (as podman and crun move
//! theirs into `init`) and enables `+pids`. This happens in the engine,
//! which runs in tanto's user namespace: there the user's cgroup files are
//! root's, and root there may write them. The engine creates each step's
//! cgroup and moves the exec helper into it before sending its request,
//! so the step's pid 1 and the container start inside it; libcontainer,
//! told no cgroup path, cannot create one of its own in the root cgroup
//! and leaves them there. The engine removes it after the helper is gone.
//!
//! Where there is no delegated cgroup2 (cgroup v1 and hybrid hosts, a
//! cgroup the user does not own), steps run as before without a pids
//! limit, and `tanto doctor` says why and what to do.

mod discover;
#[cfg(test)]
mod fake;
mod hierarchy;
mod setup;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

pub use discover::{plan, Plan, Unavailable, LEAF};
pub use hierarchy::{Hierarchy, Kernel, Layout};
pub use setup::{prepare, PidsMax, StepCgroup, DEFAULT_PIDS_MAX, PIDS_MAX_ENV};

use crate::Error;

static KERNEL: Kernel = Kernel;

/// Whether steps can have cgroups here, as [`for_step`] would find; changes
/// nothing (for `tanto doctor`).
pub fn availability() -> Result<Plan, Unavailable> {
    plan(&KERNEL)
}

/// The pids limit [`PIDS_MAX_ENV`] asks for; `Err` holding the default when
/// it is not understood.
pub fn pids_max_setting() -> Result<PidsMax, PidsMax> {
    PidsMax::parse(std::env::var(PIDS_MAX_ENV).ok().as_deref())
}

fn pids_max() -> PidsMax {
    static SETTING: OnceLock<PidsMax> = OnceLock::new();
    *SETTING.get_or_init(|| {
        pids_max_setting().unwrap_or_else(|default| {
            tracing::warn!(
                "{PIDS_MAX_ENV} must be a positive number or `max`; using {}",
                default.value()
            );
            default
        })
    })
}

/// A cgroup for the next step, or `None` where there is none to be had (a
/// failure on a host that looked delegated is warned about, once).
pub(crate) fn for_step() -> Option<StepCgroup<'static>> {
    static BASE: OnceLock<Option<PathBuf>> = OnceLock::new();
    static STEPS: AtomicU64 = AtomicU64::new(0);
    let base = BASE
        .get_or_init(|| match plan(&KERNEL) {
            Err(why) => {
                tracing::debug!("steps run without a pids limit: {why}");
                None
            }
            Ok(plan) => match prepare(&KERNEL, &plan) {
                Ok(base) => {
                    tracing::debug!("steps get cgroups under {}", plan.host_path.display());
                    Some(base)
                }
                Err(e) => {
                    warn_once(&e);
                    None
                }
            },
        })
        .as_ref()?;
    let name = format!(
        "tanto-step-{}-{}",
        std::process::id(),
        STEPS.fetch_add(1, Ordering::Relaxed)
    );
    StepCgroup::create(&KERNEL, base, &name, pids_max())
        .map_err(|e| warn_once(&e))
        .ok()
}

/// Says, the first time only, that steps lost their cgroups and why.
pub(crate) fn warn_once(error: &Error) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    let cause = std::error::Error::source(error)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    tracing::warn!(
        "{error}{cause}; steps run without a pids limit of their own (`tanto doctor` checks step limits)"
    );
}
