//! Isolation as a program that runs pipelines needs it: serving the exec
//! helper, entering the user namespace where tanto is root over the caller's
//! subordinate ids (DESIGN.md's isolation model), and what `tanto doctor`
//! asks of the machine. The one road from the binary to the executor.

use std::path::Path;
use std::time::Duration;

use crate::error::Error;

pub use executor::cgroup::{
    availability as step_cgroup_availability, pids_max_setting, LEAF as CGROUP_LEAF, PIDS_MAX_ENV,
};
pub use executor::userns::{can_create_user_namespace, subordinate_range, IdRange, Mapping};

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

/// Whether overlay works in this namespace the way the store uses it
/// (`userxattr`, whiteouts, opaque directories): tried under `scratch`,
/// which must not exist; nothing is left behind. The error says what the
/// kernel refused.
pub fn probe_overlay(scratch: &Path) -> Result<(), Error> {
    executor::overlay::probe(scratch).map_err(|reason| Error::OverlayUnusable {
        reason: reason.to_string(),
    })
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
