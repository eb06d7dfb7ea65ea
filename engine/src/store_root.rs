//! Where the store lives when the caller does not say.

use std::path::PathBuf;

/// Where the store lives: `$TANTO_ROOT`, else `$XDG_DATA_HOME/tanto`, else
/// `~/.local/share/tanto`.
pub fn default_store_root() -> Option<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(root) = non_empty("TANTO_ROOT") {
        return Some(PathBuf::from(root));
    }
    if let Some(data) = non_empty("XDG_DATA_HOME") {
        return Some(PathBuf::from(data).join("tanto"));
    }
    non_empty("HOME").map(|home| PathBuf::from(home).join(".local/share/tanto"))
}
