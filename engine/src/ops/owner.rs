//! Owners as Dagger's `chown` and `owner:` arguments take them: `user` or
//! `user:group`, each an id or a name. Names are looked up in the tree's
//! own `/etc/passwd` and `/etc/group` (the chain's root, as Dagger reads
//! the snapshot's), `root` is 0 without a look-up, and a missing group is
//! the user's id, not the user's primary group: Dagger's rule, kept so a
//! pipeline owns its files alike under both.

use snapshotter::ChainView;

use crate::error::Error;

/// Most of `/etc/passwd` or `/etc/group` read to find a name.
const MAX_DATABASE: u64 = 16 << 20;

pub(super) fn resolve_owner(view: &ChainView, owner: &str) -> Result<(u32, u32), Error> {
    let (user, group) = match owner.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (owner, None),
    };
    let uid = id_or_name(view, owner, user, "/etc/passwd")?;
    let gid = match group {
        Some(group) => id_or_name(view, owner, group, "/etc/group")?,
        None => uid,
    };
    Ok((uid, gid))
}

fn id_or_name(
    view: &ChainView,
    owner: &str,
    name: &str,
    database: &'static str,
) -> Result<u32, Error> {
    if name == "root" {
        return Ok(0);
    }
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    let unknown = || Error::UnknownOwner {
        owner: owner.to_owned(),
        name: name.to_owned(),
        database,
    };
    if name.is_empty() {
        return Err(unknown());
    }
    let text = match view.read_file(database, MAX_DATABASE) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(snapshotter::Error::NotFound { .. }) => return Err(unknown()),
        Err(source) => {
            return Err(Error::FileOp {
                path: database.to_owned(),
                source: Box::new(source),
            })
        }
    };
    find_id(&text, name).ok_or_else(unknown)
}

/// The id (third field) of `name` in a passwd or group file.
fn find_id(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nauser:x:1234:4321::/home/auser:/bin/sh\n";

    #[test]
    fn ids_names_and_root_resolve_as_dagger_does() {
        let view = ChainView::new(Vec::new());
        assert_eq!(resolve_owner(&view, "555:556").unwrap(), (555, 556));
        // No group: the user's id, not a primary group.
        assert_eq!(resolve_owner(&view, "555").unwrap(), (555, 555));
        assert_eq!(resolve_owner(&view, "root").unwrap(), (0, 0));
        assert_eq!(find_id(PASSWD, "auser"), Some(1234));
        assert_eq!(find_id("agroup:x:4321:\n", "agroup"), Some(4321));
        assert_eq!(find_id(PASSWD, "nobody"), None);
    }

    #[test]
    fn an_unknown_name_says_where_it_was_looked_for() {
        let view = ChainView::new(Vec::new());
        let error = resolve_owner(&view, "auser:agroup")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("auser") && error.contains("/etc/passwd"),
            "{error}"
        );
    }
}
