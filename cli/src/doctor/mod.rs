//! `tanto doctor`: each check says what it found, whether that is fine, and
//! what to do when it is not.

use std::path::Path;
use std::process::ExitCode;

use engine::isolation;
use nix::unistd::{geteuid, User};

use crate::output;

mod ids;
mod images;
mod limits;
mod namespaces;
mod store;

use ids::{id_map_tool, single_id, subordinate_ids};
use images::{platforms, registries};
use limits::{cgroups, seccomp, step_limits};
use namespaces::{network_namespaces, pid_namespaces, session_network, user_namespaces};
use store::{overlay, store};

#[derive(PartialEq)]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

struct Check {
    name: &'static str,
    verdict: Verdict,
    found: String,
    fix: Option<String>,
}

fn ok(name: &'static str, found: String) -> Check {
    Check {
        name,
        verdict: Verdict::Ok,
        found,
        fix: None,
    }
}

fn bad(name: &'static str, verdict: Verdict, found: String, fix: String) -> Check {
    Check {
        name,
        verdict,
        found,
        fix: Some(fix),
    }
}

pub fn run(root: &Path) -> anyhow::Result<ExitCode> {
    let uid = geteuid();
    let user = User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    let rootless = !uid.is_root();
    let host_root = !rootless && isolation::has_sys_admin();
    let mode = if rootless {
        ", rootless mode"
    } else if host_root {
        ", real root: no user namespace needed"
    } else {
        ", root without CAP_SYS_ADMIN (a container's root): steps run in a user namespace over this container's ids"
    };
    let mut checks = vec![ok("user", format!("{user} (uid {uid}){mode}"))];
    // Whether tanto's namespace will map one id alone.
    let single = if rootless {
        let (ids, has_ranges) = subordinate_ids(&user, uid.as_raw());
        checks.push(ids);
        checks.extend(["newuidmap", "newgidmap"].map(|tool| id_map_tool(tool, has_ranges)));
        Some(!has_ranges)
    } else if !host_root {
        // A container's root maps the container's own ids: one, in a
        // container that was given one.
        Some(isolation::maps_single_id())
    } else {
        None
    };
    if !host_root {
        checks.push(user_namespaces());
    }
    checks.extend(single.and_then(single_id));
    checks.push(overlay(root));
    let sandbox = namespaces::sandbox();
    checks.push(pid_namespaces(&sandbox));
    checks.push(network_namespaces(&sandbox));
    checks.push(session_network());
    checks.push(cgroups());
    checks.push(step_limits());
    checks.push(seccomp());
    checks.push(platforms());
    checks.push(registries());
    checks.push(store(root));

    let mut failed = false;
    for check in &checks {
        let mark = match check.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        failed |= check.verdict == Verdict::Fail;
        output::line(&format!("{mark} {:<22} {}", check.name, check.found));
        if let Some(fix) = &check.fix {
            output::line(&format!("     {:<22} fix: {fix}", ""));
        }
    }
    output::line(if failed {
        "tanto cannot run rootless here until the FAIL lines are fixed"
    } else {
        "tanto can run here"
    });
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
