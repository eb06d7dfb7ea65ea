//! Isolation as a program that runs pipelines needs it: serving the exec
//! helper, entering the user namespace where tanto is root over the caller's
//! subordinate ids (DESIGN.md's isolation model), and what `tanto doctor`
//! asks of the machine. The one road from the binary to the executor.

use std::path::Path;
use std::time::Duration;

use snapshotter::overlay;

use crate::error::Error;

pub use executor::cgroup::{
    availability as step_cgroup_availability, pids_max_setting, LEAF as CGROUP_LEAF, PIDS_MAX_ENV,
};
pub use executor::{network_namespace_available, sandbox, session_network, Sandbox};

/// Whether this process holds `CAP_SYS_ADMIN`: real root on a host does,
/// a container's root usually does not (and then enters a user namespace).
pub fn has_sys_admin() -> bool {
    let capabilities = executor::capabilities::effective();
    capabilities.has(executor::capabilities::SYS_ADMIN)
}
pub use executor::userns::{
    can_create_user_namespace, maps_single_id, subordinate_range, IdRange, Mapping,
};

/// Call first thing in `main`, before any thread starts: when this process
/// was started as an exec step's helper, it serves that and never returns.
pub fn serve_helper_if_asked() {
    executor::dispatch_helper();
}

/// Re-enters this program in a user namespace where it is root over the
/// caller's subordinate ids, unless it already is root there. Call before
/// any thread starts: the process may be re-executed. Everything that
/// touches the store runs inside; a user's own program (`tanto run`) stays
/// outside.
pub fn enter_namespace() -> Result<Mapping, Error> {
    executor::userns::enter().map_err(|source| Error::Isolation {
        source: Box::new(source),
    })
}

/// Whether overlay works in this namespace the way the store uses it:
/// mounted as steps are (`userxattr`), honouring the snapshotter's
/// whiteouts and opaque directories. Tried under `scratch`, which must not
/// exist; nothing is left behind. The error says what the kernel refused.
pub fn probe_overlay(scratch: &Path) -> Result<(), Error> {
    let created = std::fs::create_dir_all(scratch)
        .map_err(|source| probe_error(format!("cannot create {}", scratch.display()), source));
    let result = created.and_then(|()| probe_overlay_in(scratch));
    let _ = executor::unmount(&scratch.join("merged"));
    let _ = std::fs::remove_dir_all(scratch);
    result
}

/// [`probe_overlay`] in `store`'s own temp directory, as steps mount
/// overlay there; the reason it fails, causes and all.
/// Without `CAP_SYS_ADMIN` this process is not where steps run (outside
/// tanto's namespace, a library user who skipped `bootstrap`): it cannot
/// tell, and says yes rather than turn a store to copying for good.
pub(crate) fn probe_store(store: &snapshotter::Store) -> Result<(), String> {
    if !has_sys_admin() {
        return Ok(());
    }
    let scratch = store.throwaway("overlay-probe").map_err(|e| chain(&e))?;
    probe_overlay(&scratch.dir().join("probe")).map_err(|e| chain(&e))
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn probe_overlay_in(scratch: &Path) -> Result<(), Error> {
    let [lower, upper, work, merged] =
        ["lower", "upper", "work", "merged"].map(|d| scratch.join(d));
    for dir in [
        &lower,
        &upper,
        &work,
        &merged,
        &lower.join("dir"),
        &upper.join("dir"),
    ] {
        std::fs::create_dir_all(dir)
            .map_err(|source| probe_error(format!("cannot create {}", dir.display()), source))?;
    }
    for file in [lower.join("gone"), lower.join("dir/hidden")] {
        std::fs::write(&file, "x")
            .map_err(|source| probe_error(format!("cannot write {}", file.display()), source))?;
    }
    overlay::make_whiteout(&upper.join("gone"))
        .map_err(|source| probe_error("cannot create a whiteout (char 0/0)".into(), source))?;
    overlay::mark_opaque(&upper.join("dir")).map_err(|source| {
        probe_error(
            format!(
                "cannot set {} (does the file system support user xattrs?)",
                overlay::OPAQUE_XATTR
            ),
            source,
        )
    })?;
    executor::mount_overlay(&[lower], &upper, &work, &merged).map_err(|source| {
        Error::OverlayMount {
            source: Box::new(source),
        }
    })?;
    if merged.join("gone").symlink_metadata().is_ok() {
        return Err(Error::OverlayIgnored { what: "a whiteout" });
    }
    if merged.join("dir/hidden").exists() {
        return Err(Error::OverlayIgnored {
            what: overlay::OPAQUE_XATTR,
        });
    }
    Ok(())
}

fn probe_error(what: String, source: std::io::Error) -> Error {
    Error::OverlayProbe { what, source }
}

/// For tests and debugging (`tanto __run-step`): runs one exec step from a
/// JSON request as the executor takes it, cancelled after `cancel_after`
/// when given, and returns its outcome as JSON.
pub fn run_step_json(request: &str, cancel_after: Option<Duration>) -> Result<String, Error> {
    let request: executor::ExecRequest =
        serde_json::from_str(request).map_err(|source| Error::StepRequest { source })?;
    let cancel = executor::Cancel::default();
    if let Some(after) = cancel_after {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            cancel.cancel();
        });
    }
    let command = request.args.join(" ");
    let outcome = executor::run(&request, &cancel).map_err(|source| Error::Exec {
        step: command,
        source: Box::new(source),
    })?;
    Ok(serde_json::to_string(&outcome).expect("an outcome serializes"))
}
