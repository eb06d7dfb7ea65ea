//! `--cache-to` and `--cache-from` as users write them, after BuildKit:
//! `type=registry,ref=REGISTRY/REPO[:TAG][,mode=min|max][,compression=zstd|gzip]
//! [,secret-steps=skip|export][,ignore-error=true]`.

use registry::Reference;

use crate::error::Error;

/// Where a run's results are pushed, and which.
#[derive(Clone, Debug)]
pub struct CacheExport {
    pub place: CachePlace,
    pub mode: ExportMode,
    pub compression: snapshotter::Compression,
    /// Export results of steps that read a secret (their output may carry
    /// it): only when the user says so.
    pub secret_steps: bool,
    /// A failed export warns instead of failing the run.
    pub ignore_error: bool,
}

/// Which results an export pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportMode {
    /// What the run answered with, and the chains those stand on: what
    /// another runner needs to give the same answers, without the side
    /// work (build stages, mounted inputs) it would then redo.
    Min,
    /// Every result the run made or used (the default).
    Max,
}

/// Where results are looked up before steps run.
#[derive(Clone, Debug)]
pub struct CacheImport {
    pub place: CachePlace,
}

/// A repository holding a cache, and the prefix of its entries' tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachePlace {
    /// The repository, tagged with the prefix.
    pub reference: Reference,
    pub prefix: String,
}

/// The tag prefix when the ref names none.
const DEFAULT_PREFIX: &str = "tanto";
/// A tag is at most 128 characters; the key takes 65 of them.
const MAX_PREFIX: usize = 63;

impl CachePlace {
    /// The tag of the entry for the key `hex`.
    pub(crate) fn tag(&self, hex: &str) -> String {
        format!("{}-{hex}", self.prefix)
    }

    /// The entry for `hex` as a reference.
    pub(crate) fn entry(&self, hex: &str) -> Reference {
        format!(
            "{}/{}:{}",
            self.reference.registry(),
            self.reference.repository(),
            self.tag(hex)
        )
        .parse()
        .expect("a repository and a valid tag make a reference")
    }
}

/// As the user wrote it: the repository, and the tag when not the default.
impl std::fmt::Display for CachePlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            self.reference.registry(),
            self.reference.repository()
        )?;
        if self.prefix != DEFAULT_PREFIX {
            write!(f, ":{}", self.prefix)?;
        }
        Ok(())
    }
}

impl CacheExport {
    pub fn parse(spec: &str) -> Result<CacheExport, Error> {
        let fields = fields(spec, "--cache-to")?;
        let mut export = CacheExport {
            place: place(spec, &fields)?,
            mode: ExportMode::Max,
            compression: snapshotter::Compression::Zstd,
            secret_steps: false,
            ignore_error: false,
        };
        for (name, value) in &fields {
            match name.as_str() {
                "type" | "ref" => {}
                "mode" => {
                    export.mode = match value.as_str() {
                        "max" => ExportMode::Max,
                        "min" => ExportMode::Min,
                        _ => return Err(bad(spec, "mode is min or max")),
                    }
                }
                "compression" => {
                    export.compression = match value.as_str() {
                        "zstd" => snapshotter::Compression::Zstd,
                        "gzip" => snapshotter::Compression::Gzip,
                        _ => return Err(bad(spec, "compression is zstd or gzip")),
                    }
                }
                "secret-steps" => {
                    export.secret_steps = match value.as_str() {
                        "skip" => false,
                        "export" => true,
                        _ => return Err(bad(spec, "secret-steps is skip or export")),
                    }
                }
                "ignore-error" => export.ignore_error = boolean(spec, name, value)?,
                other => {
                    return Err(bad(
                        spec,
                        &format!(
                            "unknown option {other:?}; --cache-to takes type, ref, mode, \
                             compression, secret-steps and ignore-error"
                        ),
                    ))
                }
            }
        }
        Ok(export)
    }
}

impl CacheImport {
    pub fn parse(spec: &str) -> Result<CacheImport, Error> {
        let fields = fields(spec, "--cache-from")?;
        for (name, _) in &fields {
            if name != "type" && name != "ref" {
                return Err(bad(
                    spec,
                    &format!("unknown option {name:?}; --cache-from takes type and ref"),
                ));
            }
        }
        Ok(CacheImport {
            place: place(spec, &fields)?,
        })
    }
}

fn bad(spec: &str, reason: &str) -> Error {
    Error::CacheSpec {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    }
}

/// `name=value` pairs; `type` must be `registry`.
fn fields(spec: &str, flag: &str) -> Result<Vec<(String, String)>, Error> {
    let mut fields = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(bad(
                spec,
                &format!(
                    "{part:?} is not name=value; write {flag} type=registry,ref=REGISTRY/REPO"
                ),
            ));
        };
        fields.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    match fields.iter().find(|(name, _)| name == "type") {
        Some((_, kind)) if kind == "registry" => Ok(fields),
        Some((_, kind)) => Err(bad(
            spec,
            &format!("type={kind} is not supported; tanto shares its cache through registries: type=registry"),
        )),
        None => Err(bad(spec, "type=registry is missing")),
    }
}

fn place(spec: &str, fields: &[(String, String)]) -> Result<CachePlace, Error> {
    let Some((_, written)) = fields.iter().find(|(name, _)| name == "ref") else {
        return Err(bad(spec, "ref=REGISTRY/REPO[:TAG] is missing"));
    };
    let reference: Reference = written
        .parse()
        .map_err(|e: registry::Error| bad(spec, &e.to_string()))?;
    if reference.digest().is_some() {
        return Err(bad(
            spec,
            "ref names a repository (and a tag), not a digest",
        ));
    }
    // `Reference` fills in `latest` when no tag is written.
    let tagged = written
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    let prefix = match reference.tag() {
        Some(tag) if tagged => tag.to_owned(),
        _ => DEFAULT_PREFIX.to_owned(),
    };
    if prefix.len() > MAX_PREFIX {
        return Err(bad(
            spec,
            &format!("the tag is the prefix of the entries' tags, at most {MAX_PREFIX} characters"),
        ));
    }
    Ok(CachePlace { reference, prefix })
}

fn boolean(spec: &str, name: &str, value: &str) -> Result<bool, Error> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(spec, &format!("{name} is true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_as_buildkit_users_write_them() {
        let export =
            CacheExport::parse("type=registry,ref=reg.lan:5000/team/cache:main,compression=gzip")
                .unwrap();
        assert_eq!(export.place.prefix, "main");
        assert_eq!(export.place.tag("ab"), "main-ab");
        assert_eq!(
            export.place.entry("ab").to_string(),
            "reg.lan:5000/team/cache:main-ab"
        );
        assert_eq!(export.compression, snapshotter::Compression::Gzip);
        assert_eq!(export.mode, ExportMode::Max);
        assert!(!export.secret_steps);
        let min = CacheExport::parse("type=registry,ref=reg.lan/c,mode=min").unwrap();
        assert_eq!(min.mode, ExportMode::Min);
        let import = CacheImport::parse("type=registry,ref=reg.lan/cache").unwrap();
        assert_eq!(import.place.prefix, "tanto");
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |spec: &str| CacheExport::parse(spec).unwrap_err().to_string();
        assert!(err("type=local,dest=x").contains("type=registry"));
        assert!(err("ref=reg.lan/c").contains("type=registry is missing"));
        assert!(err("type=registry").contains("ref="));
        assert!(err("type=registry,ref=reg.lan/c,mode=all").contains("mode is min or max"));
        assert!(err("type=registry,ref=reg.lan/c,colour=blue").contains("\"colour\""));
        assert!(err("type=registry,ref=Bad Ref").contains("Bad Ref"));
        assert!(CacheImport::parse("type=registry,ref=r.lan/c,mode=max")
            .unwrap_err()
            .to_string()
            .contains("--cache-from takes"));
    }
}
