//! Where tanto's config file is: its sections are read by their own
//! modules (`[gc]` by `gc_policy`, `[ca-certificates]` by `ca_certs`).

use std::path::PathBuf;

/// `$XDG_CONFIG_HOME/tanto/config.toml`, else
/// `$HOME/.config/tanto/config.toml`; `None` when neither is set.
pub(crate) fn path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let non_empty = |name| env(name).filter(|v| !v.is_empty());
    let dir = match non_empty("XDG_CONFIG_HOME") {
        Some(config) => PathBuf::from(config),
        None => PathBuf::from(non_empty("HOME")?).join(".config"),
    };
    Some(dir.join("tanto/config.toml"))
}
