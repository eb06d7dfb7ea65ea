//! The engine's error: what failed (the step, the image, the path) and,
//! where it helps, what to do; causes chained as `source`.

/// The schemes `Query.secret` reads (`secret_uri.rs`), as its errors list
/// them: here, so that the errors need nothing of that module.
pub const SECRET_URI_SCHEMES: &str = "env://NAME, file://PATH, cmd://COMMAND";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the store")]
    Store {
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("platformVariants: two of the images are for {platform}; give each platform once")]
    DuplicatePlatform { platform: String },

    /// Every container given (the receiver and its `platformVariants`)
    /// is empty, as Dagger's image export refuses it.
    #[error("platformVariants: every container is empty (none has a root file system); there is no image to ship")]
    NoPlatformVariants,

    /// Two changesets that cannot be merged as asked.
    #[error("{detail}")]
    ChangesetConflict { detail: String },

    // Dagger's words, which its SDK tests match.
    #[error("expand cannot be used with {kind} env variable \"{name}\"")]
    Unexpandable { kind: &'static str, name: String },

    #[error("cannot pull {image}")]
    Registry {
        image: String,
        #[source]
        source: Box<registry::Error>,
    },

    #[error("cannot pull {address}: it is a short name and none of the search registries (unqualified-search-registries in registries.conf) has it: {tried}")]
    NotInSearchRegistries { address: String, tried: String },

    #[error("{file} line {line} ({instruction}): {reason}")]
    Dockerfile {
        file: String,
        line: usize,
        instruction: String,
        reason: String,
    },

    #[error("cannot unpack the build context (a tar, gzip or zstd tarball)")]
    BuildContext {
        #[source]
        source: std::io::Error,
    },

    #[error("invalid cache option {spec:?}: {reason}")]
    CacheSpec { spec: String, reason: String },

    #[error("cache entry {entry} is unusable: {reason}")]
    CacheEntry { entry: String, reason: String },

    #[error("cache entry {entry}: blob {digest} does not match its digest (tampered with or damaged); refused")]
    CacheTampered { entry: String, digest: String },

    #[error("cache entry {entry}: fetching {what}")]
    CacheFetch {
        entry: String,
        what: String,
        #[source]
        source: Box<registry::Error>,
    },

    #[error("cache entry {entry}: unpacking {what}")]
    CacheUnpack {
        entry: String,
        what: String,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("cannot export the cache to {place}")]
    CachePush {
        place: String,
        #[source]
        source: Box<registry::Error>,
    },

    #[error("cannot read the registries configuration")]
    RegistriesConf {
        #[source]
        source: Box<registry::Error>,
    },

    #[error("cannot pull {image}: storing {what}")]
    Save {
        image: String,
        what: String,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("cannot pull {image}: layer {layer}")]
    Layer {
        image: String,
        layer: String,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("cannot pull {image}: layer {layer} has media type {media_type:?}, which tanto cannot unpack (it knows tar, tar+gzip and tar+zstd layers)")]
    UnsupportedLayer {
        image: String,
        layer: String,
        media_type: String,
    },

    #[error("cannot pull {image}: its manifest lists {layers} layers but its config {diff_ids} diff ids; the image is malformed")]
    LayerCount {
        image: String,
        layers: usize,
        diff_ids: usize,
    },

    #[error("cannot pull {image}: {detail}")]
    Malformed { image: String, detail: String },

    #[error("a step crashed; this is a bug in tanto, please report it")]
    StepPanicked {
        #[source]
        source: tokio::task::JoinError,
    },

    /// Every caller of a step went away before it ended, so it was
    /// cancelled; only a caller that was already gone can see this.
    #[error("the step was cancelled: nothing waits for it any more")]
    Abandoned,

    /// An error shared by every request that waited on the same step.
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),

    #[error("{address:?} is not a valid image reference")]
    Reference {
        address: String,
        #[source]
        source: Box<registry::Error>,
    },

    #[error("cannot read the host path {}", path.display())]
    Host {
        path: std::path::PathBuf,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("cannot use the store at {}", path.display())]
    Memo {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot prepare cache volume {name:?}")]
    CacheVolume {
        name: String,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("{variable}={value:?} is not valid: expected {expected}")]
    Config {
        variable: &'static str,
        value: String,
        expected: &'static str,
    },

    #[error("cannot tell the current directory, which relative host paths start from")]
    Workdir {
        #[source]
        source: std::io::Error,
    },

    #[error("{path}")]
    FileOp {
        path: String,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("{path}: no such file or directory")]
    NotFound { path: String },

    #[error("withReplaced {path}: search string not found: {search:?}; check the text, or pass all: true to accept no match")]
    SearchNotFound { path: String, search: String },

    #[error("withReplaced {path}: search string found multiple times: {locations}; pass all: true, or firstFrom: a line number")]
    SearchFoundMany { path: String, locations: String },

    #[error("search: invalid pattern {pattern:?}: {reason}; patterns are Rust regexes (escape . [ ] {{ }} | with \\), or pass literal: true")]
    InvalidSearch { pattern: String, reason: String },

    #[error("withPatch: {detail}; make the patch against this directory (git diff, or diff -u with a/ and b/ paths)")]
    BadPatch { detail: String },

    #[error("{operation}: {argument} is empty; give one")]
    EmptyArgument {
        operation: &'static str,
        argument: &'static str,
    },

    #[error("owner {owner:?}: no {name:?} in the directory's {database}; give a numeric id or a name listed there")]
    UnknownOwner {
        owner: String,
        name: String,
        database: &'static str,
    },

    #[error("{operation}: the path {path:?} leaves the directory (a `..` too many); use a path inside it")]
    PathEscapes { operation: String, path: String },

    #[error("cannot export to {}", path.display())]
    Export {
        path: std::path::PathBuf,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("step `{step}` could not run")]
    Exec {
        step: String,
        #[source]
        source: Box<executor::Error>,
    },

    #[error("step `{step}` failed: process {:?} did not complete successfully: exit code: {exit_code}{}", command.join(" "), output_tail(stdout, stderr))]
    ExecFailed {
        step: String,
        command: Vec<String>,
        exit_code: i32,
        /// The end of each stream, as Dagger keeps it (100 KiB, trimmed).
        stdout: String,
        stderr: String,
    },

    #[error("withExec has no command: give args, or set default args (withDefaultArgs) first")]
    NoCommand,

    #[error("step `{step}` cannot run: its container is {platform} and this machine is {host}: {missing}")]
    ForeignPlatform {
        step: String,
        platform: String,
        host: String,
        missing: crate::foreign_platform::Missing,
    },

    #[error("cannot read registry credentials")]
    Credentials {
        #[source]
        source: Box<registry::Error>,
    },

    #[error("overlay check: {what}")]
    OverlayProbe {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot mount overlay with userxattr here")]
    OverlayMount {
        #[source]
        source: Box<executor::Error>,
    },

    #[error("overlay mounted here ignores {what}, which tanto's store relies on")]
    OverlayIgnored { what: &'static str },

    #[error("cannot build the session network services run on")]
    ServiceNetwork {
        #[source]
        source: std::io::Error,
    },

    #[error("service `{service}` exited with {exit_code} before its exposed ports answered; the end of its output:\n{output}")]
    ServiceExited {
        service: String,
        exit_code: i32,
        output: String,
    },

    #[error("cannot start service `{service}`")]
    ServiceStart {
        service: String,
        #[source]
        source: std::io::Error,
    },

    #[error("service `{alias}` exited with {exit_code} while `{step}` ran; the end of its output:\n{output}")]
    BoundServiceExited {
        step: String,
        alias: String,
        exit_code: i32,
        output: String,
    },

    #[error("cannot listen on {address} for the service: {advice}")]
    ServiceUp {
        address: String,
        advice: String,
        #[source]
        source: std::io::Error,
    },

    #[error("service `{service}` exposes no ports: give endpoint a port, or call withExposedPort before asService")]
    NoPortsExposed { service: String },

    #[error("service `{service}` exposes port {port}, which {holder} holds on the host's network, where services run here (no session network): expose another port, or stop the other")]
    PortClash {
        port: u16,
        service: String,
        holder: String,
    },

    #[error("TANTO_NET_UPLINK={value:?} is not a choice: use `relay` (the default: tanto's own TCP and DNS relay) or `slirp4netns` (UDP and ICMP too; needs the slirp4netns package and a usable /dev/net/tun)")]
    UplinkChoice { value: String },

    #[error("TANTO_SERVICE_NETWORK={value:?} is not a choice: use `session` (the default: a network of tanto's own) or `host` (the host's network)")]
    ServiceNetworkChoice { value: String },

    #[error("TANTO_UP_ADDRESS={value:?} is not an IPv4 address: use 127.0.0.1 (the default), 0.0.0.0 for every interface, or one of this machine's")]
    UpAddress { value: String },

    #[error("a tunnel is on this machine already: call up on the service it reaches, or start the tunnel and ask its endpoint")]
    TunnelUp,

    #[error("not a step request (a JSON ExecRequest)")]
    StepRequest {
        #[source]
        source: serde_json::Error,
    },

    #[error("the disk of the store at {} is full ({} free): make room with `tanto prune` (`tanto du` shows what the store holds)", store.display(), human_bytes(*free))]
    DiskFull {
        store: std::path::PathBuf,
        free: u64,
        #[source]
        source: Box<Error>,
    },

    #[error("the garbage collector's policy is not valid")]
    GcPolicy {
        #[source]
        source: Box<crate::gc_policy::GcPolicyError>,
    },

    #[error("cannot choose how steps get their root file system")]
    Snapshotter {
        #[source]
        source: Box<crate::snapshotter_choice::SnapshotterError>,
    },

    #[error("the single-id setting is not valid")]
    SingleId {
        #[source]
        source: Box<crate::single_id::SingleIdError>,
    },

    #[error("cannot load the extra CA certificates that steps trust")]
    CaCertificates {
        #[source]
        source: Box<crate::ca_certs::CaCertificatesError>,
    },

    #[error("cannot read random bytes from the kernel")]
    Randomness {
        #[source]
        source: std::io::Error,
    },

    #[error("cannot enter a user namespace to run rootless")]
    Isolation {
        #[source]
        source: Box<executor::Error>,
    },

    #[error("no command has been run in this container yet: call withExec first")]
    NoExec,

    #[error("terminal needs the user's terminal, and this engine was given none: open one with `tanto call … terminal` (or `tanto core … terminal`) from a terminal")]
    NoTerminal,

    #[error("cannot open a terminal running {command:?}")]
    Terminal {
        command: String,
        #[source]
        source: Box<executor::Error>,
    },

    #[error("cannot pack layer {} into an image", layer.display())]
    Pack {
        layer: std::path::PathBuf,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("cannot build the image: {detail}")]
    ImageOptions { detail: &'static str },

    #[error("SOURCE_DATE_EPOCH={value:?} is not a number of seconds since 1970; set it to e.g. $(git log -1 --format=%ct) or unset it")]
    SourceDateEpoch { value: String },

    #[error("cannot publish {address}")]
    Publish {
        address: String,
        #[source]
        source: Box<registry::Error>,
    },

    #[error("cannot publish {address}: base layer {layer} is neither in the store nor mountable on that registry; pull the base image again (tanto pull) and retry")]
    BaseLayerMissing { address: String, layer: String },

    #[error("cannot read the image archive {archive}")]
    Archive {
        archive: String,
        #[source]
        source: std::io::Error,
    },

    #[error("secret: not a secret URI; give one of: {SECRET_URI_SCHEMES}")]
    SecretUri,

    #[error("secret: tanto does not read {scheme}:// secrets; the schemes it reads are {SECRET_URI_SCHEMES}; or read the value yourself and pass it to setSecret")]
    SecretScheme { scheme: String },

    #[error("secret env://{name}: the environment variable {name} is not set; set it where tanto runs (`tanto run` passes its environment on)")]
    SecretEnvUnset { name: String },

    #[error("secret file://{}: cannot read the file", path.display())]
    SecretFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("secret cmd://{command}: {detail}")]
    SecretCommand { command: String, detail: String },

    #[error("withUnixSocket: {} is no Unix socket on the host ({detail}); start the server that listens there, or give its socket's path", path.display())]
    NotASocket {
        path: std::path::PathBuf,
        detail: String,
    },

    #[error("host container image {name}: neither podman nor docker is on PATH; Host.containerImage reads images from the host's own container engine (import an archive with Container.import, or pull from a registry)")]
    HostImageNoEngine { name: String },

    #[error("host container image {name}: cannot run {engine}")]
    HostImageRun {
        name: String,
        engine: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("host container image {name}: {engine} could not save it: {detail}")]
    HostImageSave {
        name: String,
        engine: &'static str,
        detail: String,
    },

    #[error("http: cannot download {url}: the server answered HTTP {status} {reason}")]
    HttpStatus {
        url: String,
        status: u16,
        reason: String,
    },

    #[error("http: cannot download {url}: {detail}")]
    HttpTransport { url: String, detail: String },

    #[error("http: cannot store what {url} sent")]
    HttpWrite {
        url: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "http: {url} sent content with digest {actual}, not the checksum {expected} asked for"
    )]
    HttpChecksum {
        url: String,
        expected: String,
        actual: String,
    },

    #[error(
        "http: {name:?} is no file name; give a name without `/`, or none (the URL's last part)"
    )]
    HttpName { name: String },

    #[error("cannot write the image tarball {}; nothing was left there", path.display())]
    WriteArchive {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The last lines of a failed step's output, for its error message.
fn output_tail(stdout: &str, stderr: &str) -> String {
    let mut text = String::new();
    for (name, stream) in [("stdout", stdout), ("stderr", stderr)] {
        let tail = last_lines(stream, 20);
        if !tail.trim().is_empty() {
            text.push_str(&format!(
                "\n--- {name} (last lines) ---\n{}",
                tail.trim_end()
            ));
        }
    }
    text
}

/// The last `count` lines of `text`.
fn last_lines(text: &str, count: usize) -> &str {
    let trimmed = text.trim_end_matches('\n');
    match trimmed.rmatch_indices('\n').nth(count.saturating_sub(1)) {
        Some((at, _)) => &trimmed[at + 1..],
        None => trimmed,
    }
}

/// `51.2 MB`, in SI units, as registries and podman show sizes (error
/// messages here, and everything `tanto` prints).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_steps_message_ends_with_its_last_lines() {
        let stdout: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let error = Error::ExecFailed {
            step: "withExec make".into(),
            command: vec!["make".into()],
            exit_code: 2,
            stdout,
            stderr: "boom\n".into(),
        };
        let message = error.to_string();
        assert!(message.contains("exit code: 2"), "{message}");
        assert!(
            message.contains("line 11\nline 12") && message.ends_with("boom"),
            "{message}"
        );
        assert!(!message.contains("line 10\n"), "{message}");
    }
}
