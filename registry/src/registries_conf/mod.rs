//! `registries.conf`, as podman, buildah and skopeo read it: where a pull of
//! a reference really goes (`[[registry]]` `prefix`/`location` rewrites and
//! `[[registry.mirror]]`s tried before the origin), which registries may be
//! spoken to over plain HTTP (`insecure`) or not at all (`blocked`), and
//! where short names are looked up (`unqualified-search-registries`).
//!
//! The files are found as containers/image finds them: `$CONTAINERS_REGISTRIES_CONF`
//! alone if set, else `$XDG_CONFIG_HOME/containers/registries.conf` if it
//! exists, else `/etc/containers/registries.conf`; then the drop-ins of
//! `registries.conf.d/` (system, then the user's; or
//! `$CONTAINERS_REGISTRIES_CONF_DIR`) in name order, a drop-in's
//! `[[registry]]` replacing one of the same prefix. The v1 format
//! (`[registries.search]`, `.insecure`, `.block`) is read too.
//!
//! Short-name `[aliases]` are not followed: a short name means what it means
//! to Docker and Dagger (Docker Hub, or the search registries).

mod file;
mod matching;

use std::path::{Path, PathBuf};

use crate::{Error, Reference};

pub use matching::PullSource;

/// The registries configuration in effect: every file merged.
#[derive(Clone, Debug, Default)]
pub struct RegistriesConf {
    registries: Vec<RegistryEntry>,
    /// `unqualified-search-registries`, when some file sets it.
    search: Option<Vec<String>>,
    /// The files read, in order: for messages and `tanto doctor`.
    files: Vec<PathBuf>,
}

/// One `[[registry]]` table, its `prefix` always set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegistryEntry {
    pub(crate) prefix: String,
    pub(crate) location: String,
    pub(crate) insecure: bool,
    pub(crate) blocked: bool,
    pub(crate) mirror_by_digest_only: bool,
    pub(crate) mirrors: Vec<Mirror>,
    /// The file this entry came from, named when it blocks a pull.
    pub(crate) file: PathBuf,
}

/// One `[[registry.mirror]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mirror {
    pub(crate) location: String,
    pub(crate) insecure: bool,
    pub(crate) pull_from_mirror: PullFromMirror,
}

/// Which pulls a mirror serves (`pull-from-mirror`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PullFromMirror {
    All,
    DigestOnly,
    TagOnly,
}

const SYSTEM_FILE: &str = "/etc/containers/registries.conf";
const SYSTEM_DROP_INS: &str = "/etc/containers/registries.conf.d";

impl RegistriesConf {
    /// No configuration: every reference is pulled from where it names.
    pub fn none() -> RegistriesConf {
        RegistriesConf::default()
    }

    /// The configuration the environment points at, as podman would read it.
    pub fn from_environment() -> Result<RegistriesConf, Error> {
        let user_dir = user_config_dir();
        let main = match std::env::var_os("CONTAINERS_REGISTRIES_CONF") {
            Some(path) => Some(PathBuf::from(path)),
            None => {
                let user = user_dir
                    .as_ref()
                    .map(|dir| dir.join("containers/registries.conf"));
                match user {
                    Some(user) if user.exists() => Some(user),
                    _ => Some(PathBuf::from(SYSTEM_FILE)),
                }
            }
        };
        let drop_in_dirs = match std::env::var_os("CONTAINERS_REGISTRIES_CONF_DIR") {
            Some(dir) => vec![PathBuf::from(dir)],
            None => {
                let mut dirs = vec![PathBuf::from(SYSTEM_DROP_INS)];
                if let Some(user) = &user_dir {
                    dirs.push(user.join("containers/registries.conf.d"));
                }
                dirs
            }
        };
        let mut files: Vec<PathBuf> = main.into_iter().filter(|path| path.exists()).collect();
        for dir in drop_in_dirs {
            files.extend(drop_ins(&dir)?);
        }
        RegistriesConf::from_files(&files)
    }

    /// Reads `files` in order, later ones overriding earlier ones as
    /// drop-ins do.
    pub fn from_files(files: &[PathBuf]) -> Result<RegistriesConf, Error> {
        let mut conf = RegistriesConf::default();
        for path in files {
            let text =
                std::fs::read_to_string(path).map_err(|source| Error::RegistriesConfRead {
                    path: path.display().to_string(),
                    source,
                })?;
            conf.merge(file::parse(path, &text)?);
        }
        Ok(conf)
    }

    fn merge(&mut self, other: file::Parsed) {
        for entry in other.registries {
            match self
                .registries
                .iter_mut()
                .find(|e| e.prefix == entry.prefix)
            {
                Some(existing) => *existing = entry,
                None => self.registries.push(entry),
            }
        }
        if other.search.is_some() {
            self.search = other.search;
        }
        self.files.push(other.path);
    }

    /// The files this configuration was read from.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The registries short names are looked up in, in order: Docker Hub
    /// unless the configuration says otherwise.
    pub fn search_registries(&self) -> Vec<String> {
        match &self.search {
            Some(search) if !search.is_empty() => search.clone(),
            _ => vec!["docker.io".to_owned()],
        }
    }

    /// The references `address` may mean: itself when it names its
    /// registry, else one per search registry, in order.
    pub fn candidates(&self, address: &str) -> Result<Vec<Reference>, Error> {
        if names_its_registry(address) {
            return Ok(vec![address.parse()?]);
        }
        let mut candidates = Vec::new();
        for registry in self.search_registries() {
            let qualified: Reference = format!("{registry}/{address}").parse()?;
            if !candidates.contains(&qualified) {
                candidates.push(qualified);
            }
        }
        Ok(candidates)
    }

    /// Whether `host` (`name` or `name:port`) may be spoken to over plain
    /// HTTP: some registry or mirror there says `insecure = true`.
    pub fn insecure(&self, host: &str) -> bool {
        self.registries.iter().any(|entry| {
            (entry.insecure && location_host(&entry.location) == host)
                || entry
                    .mirrors
                    .iter()
                    .any(|m| m.insecure && location_host(&m.location) == host)
        })
    }

    /// Refuses any request to a blocked registry. Pushes are never
    /// rewritten or mirrored, as with podman; they are only refused here.
    pub fn check_blocked(&self, reference: &Reference) -> Result<(), Error> {
        match self.entry_for(reference) {
            Some(entry) if entry.blocked => Err(blocked(reference, entry)),
            _ => Ok(()),
        }
    }

    /// One line per registry that has mirrors or a rewrite, for `tanto
    /// doctor`: `docker.io → mirror.lan/hub, then docker.io`.
    pub fn describe(&self) -> Vec<String> {
        self.registries
            .iter()
            .filter(|e| !e.mirrors.is_empty() || e.location != e.prefix || e.blocked)
            .map(|entry| {
                if entry.blocked {
                    return format!("{} blocked", entry.prefix);
                }
                let mut sources: Vec<&str> =
                    entry.mirrors.iter().map(|m| m.location.as_str()).collect();
                sources.push(&entry.location);
                format!("{} → {}", entry.prefix, sources.join(", then "))
            })
            .collect()
    }
}

fn blocked(reference: &Reference, entry: &RegistryEntry) -> Error {
    Error::Blocked {
        reference: reference.to_string(),
        prefix: entry.prefix.clone(),
        file: entry.file.display().to_string(),
    }
}

/// Whether an address's first component is a registry, as Docker decides it.
fn names_its_registry(address: &str) -> bool {
    match address.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

/// `host[:port]` of a location (`host[:port][/namespace…]`).
fn location_host(location: &str) -> &str {
    location.split('/').next().unwrap_or(location)
}

fn user_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".config"))
}

/// The `*.conf` files of a drop-in directory, in name order.
fn drop_ins(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::RegistriesConfRead {
                path: dir.display().to_string(),
                source,
            })
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "conf") && path.is_file())
        .collect();
    files.sort();
    Ok(files)
}
