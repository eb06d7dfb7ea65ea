//! Overlay mounts: the option string (`lowerdir=…,upperdir=…,workdir=…,
//! userxattr`), built in this one place, and mounting chains too long for
//! one page of options (relative to their common parent, or through short
//! links as Docker's overlay2 does).

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::failure::Failure;

/// The longest mount option string the kernel takes (one page, with its NUL).
const MAX_OPTIONS: usize = 4095;

/// Overlay option syntax reserves `,` `:` and `\` in paths.
fn escape(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The directory every path in `paths` is under.
fn common_parent(paths: &[PathBuf]) -> PathBuf {
    let mut common: PathBuf = paths[0].parent().unwrap_or(Path::new("/")).to_owned();
    for path in &paths[1..] {
        while !path.starts_with(&common) {
            if !common.pop() {
                break;
            }
        }
    }
    common
}

/// The options for an overlay of `lowers` (top first) and, if writable,
/// upper and work. When absolute paths do not fit in a page, the lowers are
/// given relative to their common parent, which the caller must chdir to:
/// returns that directory.
pub fn overlay_options(
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
) -> Result<(String, Option<PathBuf>), Failure> {
    if let Ok(absolute) = absolute_overlay_options(lowers, upper) {
        return Ok((absolute, None));
    }
    let parent = common_parent(lowers);
    let relative = options_string(
        lowers
            .iter()
            .map(|l| escape(l.strip_prefix(&parent).unwrap_or(l))),
        upper,
    );
    if relative.len() <= MAX_OPTIONS {
        return Ok((relative, Some(parent)));
    }
    Err(Failure::LowerDirsTooLong {
        count: lowers.len(),
        length: relative.len(),
    })
}

/// [`overlay_options`] with absolute paths only, for callers that cannot
/// chdir (any multi-threaded process): too long a chain is an error.
pub fn absolute_overlay_options(
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
) -> Result<String, Failure> {
    let options = options_string(lowers.iter().map(|l| escape(l)), upper);
    if options.len() > MAX_OPTIONS {
        return Err(Failure::LowerDirsTooLong {
            count: lowers.len(),
            length: options.len(),
        });
    }
    Ok(options)
}

/// The one place an overlay option string is spelled: every tanto overlay
/// is mounted with `userxattr`, so it reads whiteouts and opaque directories
/// from `user.overlay.*` as the store writes them.
fn options_string(lowers: impl Iterator<Item = String>, upper: Option<(&Path, &Path)>) -> String {
    let lowers: Vec<String> = lowers.collect();
    let tail = match upper {
        Some((upper, work)) => format!(
            ",upperdir={},workdir={},userxattr",
            escape(upper),
            escape(work)
        ),
        None => ",userxattr".to_owned(),
    };
    format!("lowerdir={}{tail}", lowers.join(":"))
}

/// Mounts an overlay at `target`; `what` names it in errors. `links` is a
/// private directory (the helper's tmpfs) for the last resort of long
/// chains: one short symlink per layer (`0`, `1`, …), as Docker's overlay2
/// does, so that hundreds of layers fit in the one-page option string.
/// Overlay resolves them once, at mount time.
pub fn mount_overlay(
    target: &Path,
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
    what: &str,
    links: &Path,
) -> Result<(), Failure> {
    let (options, chdir) = match overlay_options(lowers, upper) {
        Err(Failure::LowerDirsTooLong { .. }) => {
            let short = short_links(lowers, links, what)?;
            overlay_options(&short, upper)?
        }
        other => other?,
    };
    if let Some(dir) = &chdir {
        std::env::set_current_dir(dir).map_err(|e| Failure::Mount {
            what: what.to_owned(),
            detail: format!("cannot enter {}: {e}", dir.display()),
        })?;
    }
    let result = mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    );
    if chdir.is_some() {
        let _ = std::env::set_current_dir("/");
    }
    if let (Err(_), Some((upper, _))) = (&result, upper) {
        if on_overlay(upper) {
            return Err(Failure::StoreOnOverlay {
                what: what.to_owned(),
                upper: upper.to_owned(),
            });
        }
    }
    result.map_err(|e| Failure::Mount {
        what: what.to_owned(),
        detail: format!(
            "{e} (layers {})",
            lowers
                .iter()
                .map(|l| l.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Whether `path` is on an overlay file system: overlay refuses one as
/// its upper layer.
fn on_overlay(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC)
}

/// Makes `links/<n>/<i>` → `lowers[i]` in a fresh numbered directory.
fn short_links(lowers: &[PathBuf], links: &Path, what: &str) -> Result<Vec<PathBuf>, Failure> {
    static SETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let set = SETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = links.join(format!("l{set}"));
    let failure = |e: std::io::Error| Failure::Mount {
        what: what.to_owned(),
        detail: format!("cannot link its layers in {}: {e}", dir.display()),
    };
    std::fs::create_dir(&dir).map_err(failure)?;
    lowers
        .iter()
        .enumerate()
        .map(|(i, lower)| {
            let link = dir.join(i.to_string());
            std::os::unix::fs::symlink(lower, &link).map_err(failure)?;
            Ok(link)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_chains_use_absolute_paths() {
        let lowers = vec![PathBuf::from("/s/a/fs"), PathBuf::from("/s/b,c/fs")];
        let (options, chdir) =
            overlay_options(&lowers, Some((Path::new("/u"), Path::new("/w")))).unwrap();
        assert_eq!(
            options,
            "lowerdir=/s/a/fs:/s/b\\,c/fs,upperdir=/u,workdir=/w,userxattr"
        );
        assert_eq!(chdir, None);
    }

    #[test]
    fn long_chains_go_relative_to_their_common_parent() {
        let base = format!("/store/{}/snapshots", "x".repeat(100));
        let lowers = forty_layers_in(&base);
        let (options, chdir) = overlay_options(&lowers, None).unwrap();
        assert_eq!(chdir, Some(PathBuf::from(&base)));
        assert!(
            options.starts_with(&format!("lowerdir=sha256-{:064}/fs:", 0)),
            "{options}"
        );
        assert!(options.len() <= MAX_OPTIONS);
    }

    #[test]
    fn absolute_options_refuse_what_would_need_a_chdir() {
        let base = format!("/store/{}/snapshots", "x".repeat(100));
        let lowers = forty_layers_in(&base);
        assert!(matches!(
            absolute_overlay_options(&lowers, None),
            Err(Failure::LowerDirsTooLong { count: 40, .. })
        ));
        let (upper, work) = (Path::new("/u"), Path::new("/w"));
        assert_eq!(
            absolute_overlay_options(&lowers[..1], Some((upper, work))).unwrap(),
            overlay_options(&lowers[..1], Some((upper, work)))
                .unwrap()
                .0
        );
    }

    /// Too long for one page with absolute paths, short enough relative.
    fn forty_layers_in(base: &str) -> Vec<PathBuf> {
        (0..40)
            .map(|i| PathBuf::from(format!("{base}/sha256-{i:064}/fs")))
            .collect()
    }

    #[test]
    fn too_long_chains_are_a_clear_error() {
        let lowers: Vec<PathBuf> = (0..100)
            .map(|i| PathBuf::from(format!("/s/sha256-{i:064}/fs")))
            .collect();
        let error = overlay_options(&lowers, None).unwrap_err();
        assert!(matches!(
            error,
            Failure::LowerDirsTooLong { count: 100, .. }
        ));
        assert!(crate::Error::from(error).to_string().contains("100 layers"));
    }
}
