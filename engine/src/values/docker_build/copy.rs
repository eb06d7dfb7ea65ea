//! `COPY` and `ADD`: sources from the context (less `.dockerignore`), an
//! earlier stage or an image (`--from`), as Docker copies them: a
//! directory's contents into the destination, a file to the destination
//! or into it when it ends with `/` (or there are several sources), globs
//! matched in the source; `--chown`, `--chmod`, `--exclude`, `--parents`
//! (each source's path kept below the context's root or its `/./`); `--link` is
//! how tanto copies anyway. Here-documents become new files. `ADD` also
//! downloads URLs and unpacks local tar archives (plain, gzip, zstd).

use super::stage::State;
use crate::dockerfile::{CopySpec, Located};
use crate::error::Error;
use crate::values::Directory;

/// Applies a `COPY` (or, with `add`, an `ADD`); returns what the image's
/// history says of it.
pub(super) async fn copy(
    state: &mut State<'_>,
    at: &Located,
    spec: &CopySpec,
    add: bool,
) -> Result<String, Error> {
    let builder = state.builder;
    let unsupported = |what: &str| builder.error(at, format!("{what} is not supported yet"));
    if spec.parents && add {
        return Err(builder.error(at, "--parents is for COPY".into()));
    }
    if spec.keep_git_dir || spec.unpack.is_some() {
        return Err(unsupported(
            "ADD of a git repository or an archive URL (--keep-git-dir, --unpack)",
        ));
    }
    let root: Directory = match &spec.from {
        None => builder.context.clone(),
        Some(from) => {
            let from = state.expand(at, from)?;
            match builder.stage_named(&from) {
                Some(index) => builder.stage(index).await?.rootfs(),
                None => builder.empty.from(&from).rootfs(),
            }
        }
    };
    let written = state.expand(at, &spec.dest)?;
    let dest = state.absolute(&written);
    let dest = match dest.strip_suffix("/.") {
        Some("") => "/".to_owned(),
        Some(dir) => dir.to_owned(),
        None => dest,
    };
    // `.` (the workdir), `dir/.` and `dir/` name a directory to copy into.
    let into = written.ends_with('/')
        || written == "."
        || written.ends_with("/.")
        || spec.sources.len() + spec.heredocs.len() > 1;
    let owner = spec
        .chown
        .as_deref()
        .map(|o| state.expand(at, o))
        .transpose()?;
    let chmod = spec
        .chmod
        .as_deref()
        .map(|m| state.expand(at, m))
        .transpose()?;
    let mode = match &chmod {
        Some(mode) => Some(u32::from_str_radix(mode, 8).map_err(|_| {
            builder.error(
                at,
                format!("--chmod={mode} is not an octal mode such as 755"),
            )
        })?),
        None => None,
    };
    let exclude: Vec<String> = spec
        .exclude
        .iter()
        .map(|e| state.expand(at, e))
        .collect::<Result<_, _>>()?;
    let exclude: Vec<&str> = exclude.iter().map(String::as_str).collect();
    let target = |name: &str| match into {
        true => format!("{}/{name}", dest.trim_end_matches('/')),
        false => dest.clone(),
    };

    let mut container = state.container.clone();
    for heredoc in &spec.heredocs {
        // An unquoted delimiter: variables expanded, quotes kept.
        let content = match heredoc.expand {
            true => state.expand_variables(at, &heredoc.content)?,
            false => heredoc.content.clone(),
        };
        let path = target(&heredoc.name);
        container = container.with_new_file(&path, content.as_bytes(), mode.unwrap_or(0o644));
    }
    // What BuildKit's history says: the flags that change the files, the
    // sources and the destination as written, variables expanded.
    let mut said = vec![if add { "ADD" } else { "COPY" }.to_owned()];
    if spec.parents {
        said.push("--parents".to_owned());
    }
    said.extend(owner.iter().map(|o| format!("--chown={o}")));
    said.extend(chmod.iter().map(|m| format!("--chmod={m}")));
    for source in &spec.sources {
        let source = state.expand(at, source)?;
        said.push(source.clone());
        if add && (source.starts_with("http://") || source.starts_with("https://")) {
            // Docker's ADD of a URL: mode 0600, named after the URL's path
            // inside a directory destination.
            let checksum = spec
                .checksum
                .as_deref()
                .map(|c| state.expand(at, c))
                .transpose()?;
            let file = crate::values::File::http(
                std::sync::Arc::clone(&builder.context.ctx),
                &source,
                None,
                Some(mode.unwrap_or(0o600)),
                checksum.as_deref(),
                None,
            );
            let file = match &owner {
                Some(owner) => file.chown(owner),
                None => file,
            };
            let dest = target(&crate::download::default_name(&source));
            container = container.with_file(&dest, &file, mode);
            continue;
        }
        if add && (source.contains("://") || source.starts_with("git@")) {
            return Err(unsupported(&format!("ADD of the URL {source}")));
        }
        if spec.checksum.is_some() {
            return Err(builder.error(at, "--checksum is for ADD of a URL".into()));
        }
        // --parents keeps each source's path below its pivot, `/./`
        // (the context's root without one).
        let (pivot, unpivoted) = match source.split_once("/./") {
            Some((before, after)) => (normalized(before), normalized(&format!("{before}/{after}"))),
            None => (String::new(), normalized(&source)),
        };
        let relative = if unpivoted.is_empty() {
            "."
        } else {
            &unpivoted
        };
        let matches = if relative.contains(['*', '?', '[']) {
            let found = root.glob(relative).await?;
            if found.is_empty() {
                return Err(builder.error(at, format!("no source files match {source}")));
            }
            found
        } else {
            vec![relative.to_owned()]
        };
        let many = matches.len() > 1 || relative.contains(['*', '?', '[']);
        for path in matches {
            let Some(stat) = root.lookup(&path, false).await? else {
                return Err(builder.error(
                    at,
                    format!(
                        "{source}: no such file or directory in the {}",
                        match &spec.from {
                            Some(from) => format!("stage or image {from}"),
                            None => "build context".to_owned(),
                        }
                    ),
                ));
            };
            let kept = match spec.parents {
                true => Some(below_pivot(&normalized(&path), &pivot)),
                false => None,
            };
            if stat.kind == snapshotter::FileKind::Dir {
                let mut directory = root.directory(&path);
                if let Some(owner) = &owner {
                    directory = directory.chown(".", owner);
                }
                let dest = match (&kept, many && path != ".") {
                    (Some(kept), _) => in_dir(&dest, kept),
                    (None, true) => target(path.rsplit('/').next().unwrap_or(&path)),
                    (None, false) => dest.clone(),
                };
                container = container.copy_directory(&dest, &directory, &[], &exclude, mode);
            } else {
                let name = path.rsplit('/').next().unwrap_or(&path);
                let mut file = root.file(&path);
                if let Some(owner) = &owner {
                    file = file.chown(owner);
                }
                if add && spec.from.is_none() {
                    // A tar archive is unpacked at the destination (told by
                    // its content when the step runs), anything else copied.
                    container = container.with_added_file(&dest, &file, into || many, mode);
                    continue;
                }
                let dest = match (&kept, into || many) {
                    (Some(kept), _) => in_dir(&dest, kept),
                    (None, true) => format!("{}/{name}", dest.trim_end_matches('/')),
                    (None, false) => dest.clone(),
                };
                container = container.with_file(&dest, &file, mode);
            }
        }
    }
    said.extend(spec.heredocs.iter().map(|h| format!("<<{}", h.name)));
    said.push(written);
    state.container = container;
    Ok(format!("{} # buildkit", said.join(" ")))
}

/// A relative path without `.` parts and leading or trailing slashes.
fn normalized(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// `path` below `pivot` (both normalized); all of it without a pivot.
fn below_pivot(path: &str, pivot: &str) -> String {
    match pivot.is_empty() {
        true => path.to_owned(),
        false => path
            .strip_prefix(pivot)
            .map(|rest| rest.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| path.to_owned()),
    }
}

/// `relative` inside the directory `dir`.
fn in_dir(dir: &str, relative: &str) -> String {
    match relative.is_empty() {
        true => dir.to_owned(),
        false => format!("{}/{relative}", dir.trim_end_matches('/')),
    }
}
