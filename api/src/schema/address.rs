//! `Address` in Dagger's schema (`dag.address("alpine:3.20").container()`):
//! one string read as whichever type is asked for, as Dagger's engine
//! reads it. An image reference for `container`; a host path (`file://`
//! stripped) for `directory` and `file`; a secret URI for `secret` (a bare
//! `NAME` is `env://NAME`, `env:NAME` is `env://NAME`, and `?cacheKey=` is
//! the secret's cache key); a host socket (`unix://` stripped) for
//! `socket`. Git addresses, services and volumes are not read yet: those
//! fields are refused as unsupported.

use async_graphql::{Context, Object, Result, ID};

use super::host::SocketObj;
use super::{fail, state, strs, ContainerObj, DirectoryObj, FileObj, SecretObj};
use crate::ids::Object as Value;

pub(crate) struct AddressObj(pub String);

impl AddressObj {
    pub(crate) fn new(value: String) -> Result<AddressObj> {
        if value.is_empty() {
            return Err(async_graphql::Error::new(
                "address: the address is empty; give an image reference, a path or a secret URI",
            ));
        }
        Ok(AddressObj(value))
    }

    /// The host path a `directory` or `file` address names, refusing git
    /// addresses (which Dagger clones).
    fn host_path(&self, field: &str) -> Result<&str> {
        let value = self.0.as_str();
        if let Some(path) = value.strip_prefix("file://") {
            return Ok(path);
        }
        if is_git(value) {
            return Err(async_graphql::Error::new(format!(
                "Address.{field}: {value:?} is a git address, and tanto does not read git repositories yet; clone it and give the local path"
            )));
        }
        Ok(value)
    }
}

/// Whether Dagger would read `value` as a git remote: a URL with a scheme,
/// or scp-like `user@host:path`.
fn is_git(value: &str) -> bool {
    if value.contains("://") {
        return true;
    }
    match value.split_once(':') {
        Some((before, _)) => {
            before.contains('@') && !before.contains('/') && !before.starts_with('@')
        }
        None => false,
    }
}

/// The secret URI and cache key a `secret` address names.
fn secret_uri(value: &str) -> (String, Option<String>) {
    let uri = if !value.contains(':') {
        format!("env://{value}")
    } else {
        match value.split_once(':') {
            Some((scheme, rest)) if !rest.starts_with("//") => format!("{scheme}://{rest}"),
            _ => value.to_owned(),
        }
    };
    let Some((base, query)) = uri.split_once('?') else {
        return (uri, None);
    };
    let mut cache_key = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("cacheKey=") {
            Some(key) if !key.is_empty() => {
                cache_key = Some(key.to_owned());
                false
            }
            _ => !pair.is_empty(),
        })
        .collect();
    let uri = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (uri, cache_key)
}

#[Object(name = "Address")]
impl AddressObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Address(self.0.clone())))
    }

    async fn value(&self) -> &str {
        &self.0
    }

    /// The image the address names, as `container().from(address)`.
    async fn container(&self, ctx: &Context<'_>) -> ContainerObj {
        ContainerObj::new(state(ctx).engine.container().from(&self.0))
    }

    async fn directory(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] exclude: Vec<String>,
        #[graphql(default)] include: Vec<String>,
        #[graphql(default = false)] gitignore: bool,
        #[graphql(default = false)] no_cache: bool,
    ) -> Result<DirectoryObj> {
        let _ = no_cache;
        refuse_gitignore(gitignore, "directory")?;
        let path = self.host_path("directory")?;
        Ok(DirectoryObj(state(ctx).engine.host().directory(
            path,
            &strs(&include),
            &strs(&exclude),
        )))
    }

    /// The host file the address names; `include` and `exclude` filter
    /// nothing out of one file, as in Dagger.
    async fn file(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] exclude: Vec<String>,
        #[graphql(default)] include: Vec<String>,
        #[graphql(default = false)] gitignore: bool,
        #[graphql(default = false)] no_cache: bool,
    ) -> Result<FileObj> {
        let _ = (exclude, include, no_cache);
        refuse_gitignore(gitignore, "file")?;
        let path = self.host_path("file")?;
        Ok(FileObj(state(ctx).engine.host().file(path)))
    }

    async fn secret(&self, ctx: &Context<'_>) -> Result<SecretObj> {
        let (uri, cache_key) = secret_uri(&self.0);
        let secret = state(ctx).engine.secret(&uri, cache_key.as_deref()).await;
        Ok(SecretObj(secret.map_err(fail)?))
    }

    async fn socket(&self, ctx: &Context<'_>) -> SocketObj {
        let path = self.0.strip_prefix("unix://").unwrap_or(&self.0);
        SocketObj(state(ctx).engine.host().unix_socket(path))
    }
}

fn refuse_gitignore(gitignore: bool, field: &str) -> Result<()> {
    if gitignore {
        return Err(async_graphql::Error::new(format!(
            "Address.{field}: tanto does not apply .gitignore rules yet; leave gitignore out and list the patterns in exclude"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_addresses_read_as_daggers_do() {
        let uri = |value| secret_uri(value);
        assert_eq!(uri("TOKEN"), ("env://TOKEN".into(), None));
        assert_eq!(uri("env:TOKEN"), ("env://TOKEN".into(), None));
        assert_eq!(uri("file:///run/s"), ("file:///run/s".into(), None));
        assert_eq!(
            uri("env://TOKEN?cacheKey=k"),
            ("env://TOKEN".into(), Some("k".into()))
        );
        assert_eq!(
            uri("cmd://x?a=1&cacheKey=k"),
            ("cmd://x?a=1".into(), Some("k".into()))
        );
    }

    #[test]
    fn git_addresses_are_told_from_paths() {
        assert!(is_git("https://github.com/dagger/dagger"));
        assert!(is_git("git@github.com:dagger/dagger.git"));
        assert!(!is_git("./src"));
        assert!(!is_git("/abs/dir"));
        assert!(!is_git("dir/with:colon"));
    }
}
