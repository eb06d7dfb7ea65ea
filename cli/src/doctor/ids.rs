//! The user's ids: subordinate ranges, the tools that map them, single-id mode.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use engine::isolation;
use engine::single_id::{Mode, SingleId, SINGLE_ID_ENV};

use super::{bad, ok, Check, Verdict};

/// The check, and whether the user has both ranges (else tanto runs in
/// single-id mode).
pub(super) fn subordinate_ids(user: &str, uid: u32) -> (Check, bool) {
    let name = "subordinate ids";
    let uids = isolation::subordinate_range(Path::new("/etc/subuid"), user, uid);
    let gids = isolation::subordinate_range(Path::new("/etc/subgid"), user, uid);
    let fix = format!(
        "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user} (as root); without them tanto maps only your own id and images that own files by other ids fail to unpack (unless squashed: see single-id mode)"
    );
    let has_ranges = uids.is_some() && gids.is_some();
    let check = match (uids, gids) {
        (Some(u), Some(g)) if u.count >= 65536 && g.count >= 65536 => ok(
            name,
            format!("uids {}+{}, gids {}+{}", u.start, u.count, g.start, g.count),
        ),
        (Some(u), Some(g)) => bad(
            name,
            Verdict::Warn,
            format!(
                "uids {}+{}, gids {}+{}: fewer than 65536",
                u.start, u.count, g.start, g.count
            ),
            fix,
        ),
        _ => bad(
            name,
            Verdict::Warn,
            format!("none for {user} in /etc/subuid and /etc/subgid"),
            fix,
        ),
    };
    (check, has_ranges)
}

/// Without subordinate ids tanto writes its one-id map itself: a missing
/// or broken tool is then no failure, only what adding ids will need.
pub(super) fn id_map_tool(tool: &'static str, needed: bool) -> Check {
    let mut check = id_map_tool_found(tool);
    if !needed && check.verdict == Verdict::Fail {
        check.verdict = Verdict::Warn;
        check
            .found
            .push_str("; not used without subordinate ids, needed once you add them");
    }
    check
}

fn id_map_tool_found(tool: &'static str) -> Check {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file());
    let fix =
        "apt-get install uidmap (or your distribution's shadow-utils/uidmap package)".to_owned();
    match found {
        None => bad(tool, Verdict::Fail, "not found on PATH".into(), fix),
        Some(path) => {
            let setuid = std::fs::metadata(&path)
                .is_ok_and(|m| m.permissions().mode() & 0o4000 != 0 && m.uid() == 0);
            let file_caps = has_xattr(&path, "security.capability");
            if setuid || file_caps {
                ok(
                    tool,
                    format!(
                        "{} ({})",
                        path.display(),
                        if setuid {
                            "setuid root"
                        } else {
                            "file capabilities"
                        }
                    ),
                )
            } else {
                bad(
                    tool,
                    Verdict::Fail,
                    format!(
                        "{} is neither setuid root nor has file capabilities",
                        path.display()
                    ),
                    "reinstall the uidmap package".into(),
                )
            }
        }
    }
}

fn has_xattr(path: &Path, name: &str) -> bool {
    let (Ok(path), Ok(name)) = (
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()),
        std::ffi::CString::new(name),
    ) else {
        return false;
    };
    // SAFETY: valid C strings; a null buffer with size 0 asks for the size.
    unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) >= 0 }
}

/// What tanto does with images and users when its namespace maps one id
/// (`single`): said then, and when a setting for it is ignored.
pub(super) fn single_id(single: bool) -> Option<Check> {
    let name = "single-id mode";
    let setting = match SingleId::load() {
        Ok(setting) => setting,
        Err(error) => {
            return Some(bad(
                name,
                Verdict::Fail,
                engine::report(&error),
                format!("correct the setting named above ({SINGLE_ID_ENV} or [single-id] in the config file), or remove it"),
            ))
        }
    };
    match (single, setting.mode) {
        (false, Mode::Off) => None,
        (false, Mode::Squash) => Some(ok(
            name,
            format!(
                "not used: tanto's namespace maps more than one id, so {} = squash is ignored",
                setting.origin
            ),
        )),
        (true, Mode::Squash) => Some(ok(
            name,
            format!(
                "squash ({}): every file of every image is owned by your user (root inside), \
                 setuid and setgid bits of files that belonged to another user or group are \
                 dropped, and steps that ask for another user run as root",
                setting.origin
            ),
        )),
        (true, Mode::Off) => Some(bad(
            name,
            Verdict::Warn,
            "tanto maps one id, and squash is off: images that own files by other ids (most \
             distributions' images) fail to unpack, and steps that ask for another user fail"
                .into(),
            format!(
                "set {SINGLE_ID_ENV}=squash (or mode = \"squash\" under [single-id] in \
                 ~/.config/tanto/config.toml) to unpack every file as owned by your user and run \
                 such steps as root, so images pull and steps run; what steps see differently is \
                 said in a warning. A full id range (subordinate ids) runs images as they are"
            ),
        )),
    }
}
