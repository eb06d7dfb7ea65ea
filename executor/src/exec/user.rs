//! Turning a step's `user` ("", "name", "uid", "name:group", "uid:gid") into
//! ids, the way Docker and runc read the image's /etc/passwd and /etc/group,
//! refusing ids that tanto's user namespace does not map: setuid(-1) is "no
//! change", so an unchecked 4294967295 would leave the step root. Only when
//! the user asked for it (single-id squash mode) does such a step run as
//! root, and the caller is told so it can say it.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::failure::Failure;

/// Who the step's process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: every /etc/group entry that lists the user.
    pub additional_gids: Vec<u32>,
    /// From /etc/passwd, for `HOME` when the step does not set it.
    pub home: String,
}

/// The ids a user namespace maps (`/proc/self/uid_map`): (first, count) of
/// each range, as seen inside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMap(Vec<(u32, u32)>);

impl IdMap {
    /// Parses `inside outside count` lines; ranges that touch inside
    /// (root, then the subordinate ids from 1) read as one.
    pub fn parse(text: &str) -> IdMap {
        let mut ranges: Vec<(u32, u32)> = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let first = fields.next()?.parse().ok()?;
                let _outside = fields.next()?;
                Some((first, fields.next()?.parse().ok()?))
            })
            .collect();
        ranges.sort();
        let mut merged: Vec<(u32, u32)> = Vec::new();
        for (first, count) in ranges {
            match merged.last_mut() {
                Some(last) if u64::from(last.0) + u64::from(last.1) == u64::from(first) => {
                    last.1 = last.1.saturating_add(count);
                }
                _ => merged.push((first, count)),
            }
        }
        IdMap(merged)
    }

    /// This process's map for `kind` ("uid" or "gid").
    pub fn own(kind: &str) -> IdMap {
        IdMap::parse(&std::fs::read_to_string(format!("/proc/self/{kind}_map")).unwrap_or_default())
    }

    fn contains(&self, id: u32) -> bool {
        self.0.iter().any(|&(first, count)| {
            id >= first && u64::from(id) < u64::from(first) + u64::from(count)
        })
    }

    /// `0-65536`, `0-0, 1000-1999`: inclusive ranges for messages.
    fn describe(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.0
            .iter()
            .map(|&(first, count)| format!("{first}-{}", u64::from(first) + u64::from(count) - 1))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The uid and gid maps a step's ids must fall in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub uids: IdMap,
    pub gids: IdMap,
}

impl Mapped {
    pub fn own() -> Mapped {
        Mapped {
            uids: IdMap::own("uid"),
            gids: IdMap::own("gid"),
        }
    }

    /// Fails unless `id` (as written, maybe beyond u32) is mapped.
    fn check(&self, spec: &str, kind: &str, id: &str) -> Result<u32, Failure> {
        let map = if kind == "uid" {
            &self.uids
        } else {
            &self.gids
        };
        match id.parse::<u32>() {
            Ok(n) if map.contains(n) => Ok(n),
            _ => Err(Failure::IdNotMapped {
                user: spec.to_owned(),
                kind: kind.to_owned(),
                id: id.to_owned(),
                mapped: map.describe(),
            }),
        }
    }
}

/// Digits only: a number, however large, never a name.
fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 6 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: fields[0],
            uid: fields[2].parse().ok()?,
            gid: fields[3].parse().ok()?,
            home: fields[5],
        })
    })
}

/// (name, gid, members) of each /etc/group line.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || line.starts_with('#') {
            return None;
        }
        let members = fields[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((fields[0], fields[2].parse().ok()?, members))
    })
}

/// What a step gets when its user's ids are not all mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmapped {
    /// Refused ([`Failure::IdNotMapped`]): never run as someone else unasked.
    Refuse,
    /// Root (0:0), because the user asked for it (the engine's
    /// `TANTO_SINGLE_ID=squash`): the namespace maps one id, which owns
    /// every file of the step's image.
    RunAsRoot,
}

/// A step's identity, and whether it replaces the one asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub identity: Identity,
    /// With [`Unmapped::RunAsRoot`]: the id the namespace could not map
    /// (`uid 1000`), when the step runs as root instead of its user.
    pub instead: Option<String>,
}

/// Resolves `spec` against the image's /etc/passwd and /etc/group contents
/// (empty when the image has none). Numeric ids need no entry; names do.
/// Every id, supplementary groups included, must be in `mapped`, else
/// `unmapped` says what happens.
pub fn resolve(
    spec: &str,
    passwd: &str,
    group: &str,
    mapped: &Mapped,
    unmapped: Unmapped,
) -> Result<Resolved, Failure> {
    let user = match (resolve_user(spec, passwd, group, mapped), unmapped) {
        (Ok(user), _) => user,
        (Err(Failure::IdNotMapped { kind, id, .. }), Unmapped::RunAsRoot) => {
            // The asked-for user's home still: the step's files expect it.
            return Ok(Resolved {
                identity: Identity {
                    uid: 0,
                    gid: 0,
                    additional_gids: Vec::new(),
                    home: asked_home(spec, passwd),
                },
                instead: Some(format!("{kind} {id}")),
            });
        }
        (Err(refused), _) => return Err(refused),
    };
    let additional_gids = match (unmapped, user.name) {
        // Only a namespace of one id squashes: that gid is the step's own
        // already, and where the map was written without privilege (tanto's
        // single-id fallback) setgroups is denied, so any supplementary
        // group would make the runtime fail.
        (Unmapped::RunAsRoot, _) | (_, None) => Vec::new(),
        (Unmapped::Refuse, Some(name)) => {
            let mut gids = Vec::new();
            for (_, group_gid, members) in group_entries(group) {
                if members.contains(&name) && !gids.contains(&group_gid) {
                    gids.push(mapped.check(spec, "gid", &group_gid.to_string())?);
                }
            }
            gids
        }
    };
    Ok(Resolved {
        identity: Identity {
            uid: user.uid,
            gid: user.gid,
            additional_gids,
            home: user.home.to_owned(),
        },
        instead: None,
    })
}

/// Says, once per user in this process, that steps asking for `user` run
/// as root: a run may have many such steps, and one line says it for all.
pub(super) fn warn_as_root_once(user: &str, id: &str, command: &str) {
    static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    if !WARNED.lock().unwrap().insert(user.to_owned()) {
        return;
    }
    tracing::warn!(
        "step `{command}` asked to run as user {user:?}, whose {id} tanto's single-id namespace \
         does not map: it runs as root (0:0) instead, as single-id squash mode \
         (TANTO_SINGLE_ID=squash) asks, and so will every step that asks for that user"
    );
}

/// A step's user and primary group, checked, with its passwd entry's name.
struct User<'a> {
    uid: u32,
    gid: u32,
    name: Option<&'a str>,
    home: &'a str,
}

fn resolve_user<'a>(
    spec: &str,
    passwd: &'a str,
    group: &str,
    mapped: &Mapped,
) -> Result<User<'a>, Failure> {
    let (user_part, group_part) = split_spec(spec);
    let entry = match is_number(user_part) {
        true => {
            let uid = mapped.check(spec, "uid", user_part)?;
            passwd_entries(passwd).find(|e| e.uid == uid)
        }
        false => Some(
            passwd_entries(passwd)
                .find(|e| e.name == user_part)
                .ok_or_else(|| Failure::UnknownUser {
                    user: user_part.to_owned(),
                })?,
        ),
    };
    let uid = match &entry {
        Some(e) => mapped.check(spec, "uid", &e.uid.to_string())?,
        None => mapped.check(spec, "uid", user_part)?,
    };
    let gid = match group_part {
        None | Some("") => entry.as_ref().map_or(0, |e| e.gid),
        Some(g) => match is_number(g) {
            true => mapped.check(spec, "gid", g)?,
            false => group_entries(group)
                .find(|(name, _, _)| *name == g)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| Failure::UnknownGroup {
                    group: g.to_owned(),
                })?,
        },
    };
    let gid = mapped.check(spec, "gid", &gid.to_string())?;
    Ok(User {
        uid,
        gid,
        name: entry.as_ref().map(|e| e.name),
        home: entry
            .map(|e| e.home)
            .filter(|h| !h.is_empty())
            .unwrap_or("/"),
    })
}

/// ("user", Some("group")) of `user:group`; an empty user is root.
fn split_spec(spec: &str) -> (&str, Option<&str>) {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    (
        if user_part.is_empty() { "0" } else { user_part },
        group_part,
    )
}

/// The home of the user `spec` names, by name or uid, mapped or not.
fn asked_home(spec: &str, passwd: &str) -> String {
    let (user_part, _) = split_spec(spec);
    let numeric = is_number(user_part);
    passwd_entries(passwd)
        .find(|e| match numeric {
            true => user_part.parse() == Ok(e.uid),
            false => e.name == user_part,
        })
        .map(|e| e.home)
        .filter(|h| !h.is_empty())
        .unwrap_or("/")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        app:x:1000:1001::/home/app:/bin/sh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &str =
        "root:x:0:\nadm:x:4:app\nusers:x:100:app,daemon\napp:x:1001:\nnogroup:x:65534:\n";

    /// The same uid and gid map, as /proc/self/uid_map says it.
    fn mapped_as(text: &str) -> Mapped {
        let map = IdMap::parse(text);
        Mapped {
            uids: map.clone(),
            gids: map,
        }
    }

    /// tanto-test's namespace: itself as 0, 65536 subordinate ids from 1.
    fn mapped() -> Mapped {
        mapped_as("         0       1001          1\n         1     200000      65536\n")
    }

    fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity, Failure> {
        super::resolve(spec, passwd, group, &mapped(), Unmapped::Refuse).map(|r| r.identity)
    }

    fn ids(spec: &str) -> (u32, u32, Vec<u32>) {
        let id = resolve(spec, PASSWD, GROUP).unwrap();
        (id.uid, id.gid, id.additional_gids)
    }

    #[test]
    fn empty_means_root() {
        assert_eq!(ids(""), (0, 0, vec![]));
        assert_eq!(resolve("", PASSWD, GROUP).unwrap().home, "/root");
    }

    #[test]
    fn names_take_their_primary_and_supplementary_groups() {
        assert_eq!(ids("app"), (1000, 1001, vec![4, 100]));
        assert_eq!(ids("nobody"), (65534, 65534, vec![]));
        assert_eq!(resolve("app", PASSWD, GROUP).unwrap().home, "/home/app");
    }

    #[test]
    fn numeric_ids_need_no_entry() {
        assert_eq!(ids("1000"), (1000, 1001, vec![4, 100]));
        assert_eq!(ids("4242"), (4242, 0, vec![]));
        assert_eq!(ids("1000:1000"), (1000, 1000, vec![4, 100]));
        assert_eq!(ids("4242:4343"), (4242, 4343, vec![]));
        assert_eq!(resolve("4242", "", "").unwrap().home, "/");
    }

    #[test]
    fn groups_by_name() {
        assert_eq!(ids("app:users"), (1000, 100, vec![4, 100]));
        assert_eq!(ids("0:nogroup"), (0, 65534, vec![]));
    }

    #[test]
    fn unknown_names_are_errors_that_name_them() {
        let error = resolve("ghost", PASSWD, GROUP).unwrap_err();
        assert_eq!(
            error,
            Failure::UnknownUser {
                user: "ghost".into()
            }
        );
        assert!(crate::Error::from(error).to_string().contains("\"ghost\""));
        assert_eq!(
            resolve("app:ghosts", PASSWD, GROUP).unwrap_err(),
            Failure::UnknownGroup {
                group: "ghosts".into()
            }
        );
        assert!(matches!(
            resolve("app", "", "").unwrap_err(),
            Failure::UnknownUser { .. }
        ));
    }

    #[test]
    fn ids_outside_the_namespace_are_refused_never_skipped() {
        for (spec, kind, id) in [
            ("4294967295", "uid", "4294967295"),
            ("1000:4294967295", "gid", "4294967295"),
            ("65537", "uid", "65537"),
            ("99999999999", "uid", "99999999999"),
            ("app:70000", "gid", "70000"),
        ] {
            let error = resolve(spec, PASSWD, GROUP).unwrap_err();
            assert_eq!(
                error,
                Failure::IdNotMapped {
                    user: spec.into(),
                    kind: kind.into(),
                    id: id.into(),
                    mapped: "0-65536".into(),
                }
            );
            let message = crate::Error::from(error).to_string();
            assert!(
                message.contains(&format!("{kind} {id} ")) && message.contains("0-65536"),
                "{message}"
            );
            assert!(message.contains(&format!("/etc/sub{kind}")), "{message}");
        }
        assert_eq!(ids("65536:65536"), (65536, 65536, vec![]));
        // A name whose passwd entry or group is unmapped, too.
        let passwd = "far:x:70000:0::/:/bin/sh\nnear:x:5:5::/:/bin/sh\n";
        let group = "farg:x:80000:near\n";
        assert!(matches!(
            resolve("far", passwd, group),
            Err(Failure::IdNotMapped { .. })
        ));
        assert!(matches!(
            resolve("near", passwd, group),
            Err(Failure::IdNotMapped { ref id, .. }) if id == "80000"
        ));
    }

    /// Single-id mode: the user alone, as 0.
    fn single() -> Mapped {
        mapped_as("         0       1001          1\n")
    }

    fn squashed(spec: &str, passwd: &str, group: &str) -> Resolved {
        super::resolve(spec, passwd, group, &single(), Unmapped::RunAsRoot).unwrap()
    }

    #[test]
    fn squash_mode_runs_unmapped_users_as_root_and_says_which_id() {
        for (spec, instead, home) in [
            ("1000", "uid 1000", "/home/app"),
            ("app", "uid 1000", "/home/app"),
            ("0:100", "gid 100", "/root"),
            ("4294967295", "uid 4294967295", "/"),
            ("99999999999", "uid 99999999999", "/"),
        ] {
            let resolved = squashed(spec, PASSWD, GROUP);
            assert_eq!(
                resolved.identity,
                Identity {
                    uid: 0,
                    gid: 0,
                    additional_gids: vec![],
                    home: home.into(),
                },
                "{spec}"
            );
            assert_eq!(resolved.instead.as_deref(), Some(instead), "{spec}");
        }
    }

    #[test]
    fn squash_mode_leaves_root_alone_and_unknown_names_refused() {
        // root listed in other groups (Alpine's /etc/group): no groups, no
        // warning — the namespace denies setgroups.
        let group = "root:x:0:root\nbin:x:1:root,bin\n";
        for spec in ["", "root", "0", "0:0"] {
            let resolved = squashed(spec, PASSWD, group);
            assert_eq!(resolved.instead, None, "{spec}");
            assert_eq!(resolved.identity.additional_gids, Vec::<u32>::new());
            assert_eq!((resolved.identity.uid, resolved.identity.gid), (0, 0));
        }
        assert!(matches!(
            super::resolve("ghost", PASSWD, GROUP, &single(), Unmapped::RunAsRoot),
            Err(Failure::UnknownUser { .. })
        ));
        // Without squash, single-id mode refuses as before.
        assert!(matches!(
            super::resolve("1000", PASSWD, GROUP, &single(), Unmapped::Refuse),
            Err(Failure::IdNotMapped { .. })
        ));
    }
}
