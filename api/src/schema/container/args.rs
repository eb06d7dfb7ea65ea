//! Argument checks `Container`'s resolvers share: port numbers, and the
//! arguments tanto refuses by name rather than ignores (`expand`, `owner`,
//! nesting).

use async_graphql::Result;

pub(super) fn port_number(port: i32) -> Result<u16> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| async_graphql::Error::new(format!("{port} is not a port number (1–65535)")))
}

pub(super) fn refuse_expand(field: &str, expand: bool) -> Result<()> {
    if expand {
        return Err(async_graphql::Error::new(format!(
            "{field}: tanto does not support expand yet; give the path with its variables written out"
        )));
    }
    Ok(())
}

pub(super) fn refuse_owner(field: &str, owner: &str) -> Result<()> {
    if !owner.is_empty() {
        return Err(async_graphql::Error::new(format!(
            "{field}: tanto does not support owner here yet; leave it out and chown in a step"
        )));
    }
    Ok(())
}

/// Nesting and root capabilities, which rootless steps cannot have.
pub(crate) fn refuse_nesting(
    field: &str,
    experimental_privileged_nesting: bool,
    insecure_root_capabilities: bool,
) -> Result<()> {
    if experimental_privileged_nesting || insecure_root_capabilities {
        return Err(async_graphql::Error::new(format!(
            "{field}: experimentalPrivilegedNesting and insecureRootCapabilities are not supported: tanto's steps run rootless, without nesting"
        )));
    }
    Ok(())
}
