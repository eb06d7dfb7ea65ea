//! Turning a step's `user` ("", "name", "uid", "name:group", "uid:gid") into
//! ids, the way Docker and runc read the image's /etc/passwd and /etc/group.

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

/// Resolves `spec` against the image's /etc/passwd and /etc/group contents
/// (empty when the image has none). Numeric ids need no entry; names do.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity, Failure> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        Err(_) => Some(
            passwd_entries(passwd)
                .find(|e| e.name == user_part)
                .ok_or_else(|| Failure::UnknownUser {
                    user: user_part.to_owned(),
                })?,
        ),
    };
    let uid = match &entry {
        Some(e) => e.uid,
        None => user_part.parse().unwrap_or(0),
    };
    let gid = match group_part {
        None | Some("") => entry.as_ref().map_or(0, |e| e.gid),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group)
                .find(|(name, _, _)| *name == g)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| Failure::UnknownGroup {
                    group: g.to_owned(),
                })?,
        },
    };
    let mut additional_gids = Vec::new();
    if let Some(e) = &entry {
        for (_, group_gid, members) in group_entries(group) {
            if members.contains(&e.name) && !additional_gids.contains(&group_gid) {
                additional_gids.push(group_gid);
            }
        }
    }
    let home = entry
        .as_ref()
        .map(|e| e.home)
        .filter(|h| !h.is_empty())
        .unwrap_or("/")
        .to_owned();
    Ok(Identity {
        uid,
        gid,
        additional_gids,
        home,
    })
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
}
