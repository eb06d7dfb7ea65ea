//! The exec step: one process in a container, its changes committed as a
//! layer under the step's cache key.
//!
//! The key covers what can change the output: the rootfs key, the command,
//! env, workdir, user, stdin, redirects, the expected exit codes, every
//! mounted input's key, cache volume *names* (not contents), secrets'
//! keyed hashes (never values), volatile variables' names (their
//! values, by Dagger's design, not: `withVolatileVariable`), and the
//! container's platform where it is not the host's.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use executor::Cancel;
use futures::future::{BoxFuture, FutureExt};
use registry::Platform;

use crate::cache_key::CacheKey;
use crate::capture::Capture;
use crate::config::Settings;
use crate::context::Context;
use crate::error::Error;
use crate::foreign_platform;
use crate::memo::{remove_tree, ExecRecord, Kind};
use crate::node::{ExecOp, Expect, Node, Op};
use crate::paths::in_container;
use crate::scheduler::{Job, Outcome};
use crate::secret::Secret;
use crate::solved::{blocking, mount_dir, ExecResult, Solved};

use super::exec_mounts::{ready_mount, ReadyMount};
use super::exec_request::request;
use super::keys::exec_key;
use super::registry_hit::{fetch_outputs, owed_fetch};
use super::service::{bind_all, on_services, service_key, ExitWatch, ServiceUse};
use super::{memo_outcome, resolve_config, solve_lazy};
use crate::pending::Pending;
use crate::services::Binding;
use crate::spare_copies::Spare;

/// Bytes of each stream a failed step's error keeps (its end), as Dagger's
/// `MaxExecErrorOutputBytes`: enough for any log a person reads, bounded
/// so a runaway step cannot flood memory.
const KEPT_BYTES: u64 = 100 * 1024;

pub(super) async fn solve_exec(ctx: &Arc<Context>, node: &Arc<Node>) -> Result<Solved, Error> {
    let (prepared, key) = prepare(ctx, node).await?;
    let prepared = Arc::new(prepared);
    let step_ctx = Arc::clone(ctx);
    ctx.scheduler
        .solve(key, prepared.name.clone(), move |job| async move {
            let ctx = step_ctx;
            if let Some(dir) = ctx.memo.lookup(Kind::Exec, &key)? {
                return Ok(Outcome::Cached(committed(&ctx, &prepared, &key, &dir)?));
            }
            if let Some(solved) = left_in_registry(&ctx, &prepared, key).await? {
                return Ok(Outcome::Fetched(solved));
            }
            run(ctx, prepared, key, job).await
        })
        .await
        .map_err(Error::Shared)
}

/// The step's result, once its inputs are on disk: fetched whole from a
/// registry cache that has it, else run here.
fn run(
    ctx: Arc<Context>,
    prepared: Arc<Prepared>,
    key: CacheKey,
    job: Job,
) -> BoxFuture<'static, Result<Outcome<Solved>, Error>> {
    async move {
        prepared.owed().settle().await?;
        prepared.runnable()?;
        // Held until the step is done; started before its permit, which
        // is for the step's own work.
        let bound = bind_all(&ctx, &prepared.services).await?;
        // The permit only for real work: a cached step takes none.
        let _permit = job.acquire().await;
        blocking(move || {
            let parents = prepared.inputs()?;
            let mut spare = None;
            let entry =
                ctx.memo
                    .get_or_build(Kind::Exec, &key, &prepared.name, &parents, |temp| {
                        spare = run_in(&ctx, &prepared, &key, temp, &job, &bound)?;
                        Ok(())
                    })?;
            let solved = committed(&ctx, &prepared, &key, &entry.dir)?;
            if let Some(spare) = spare {
                // Committed by this process, so it reads as this chain.
                ctx.spare_copies.offer(spare, solved.layers.to_vec());
            }
            if entry.built {
                crate::collect::collect_if_disk_low(&ctx);
            }
            Ok(memo_outcome(&entry, solved))
        })
        .await
    }
    .boxed()
}

/// An owed fetch: the result fetched whole without waiting for its
/// inputs (a layer is a diff, it needs nothing below it on disk), so the
/// fetches of a chain run side by side; if the cache's copy is refused,
/// the step runs once its inputs are on disk.
fn fetch_or_run(
    ctx: Arc<Context>,
    prepared: Arc<Prepared>,
    key: CacheKey,
    job: Job,
) -> BoxFuture<'static, Result<Outcome<Solved>, Error>> {
    async move {
        let fetched = blocking({
            let (ctx, prepared) = (Arc::clone(&ctx), Arc::clone(&prepared));
            move || {
                let parents = prepared.planned_inputs();
                let Some(dir) = ctx.memo.fetch(Kind::Exec, &key, &prepared.name, &parents)? else {
                    return Ok(None);
                };
                committed(&ctx, &prepared, &key, &dir).map(Some)
            }
        })
        .await?;
        match fetched {
            Some(solved) => Ok(Outcome::Fetched(solved)),
            None => run(ctx, prepared, key, job).await,
        }
    }
    .boxed()
}

/// A step a registry cache has, left there (lazy import): its output and
/// record fetched, its layer owed until a chain on it is needed on disk.
/// `None` when it must run here.
async fn left_in_registry(
    ctx: &Arc<Context>,
    prepared: &Arc<Prepared>,
    key: CacheKey,
) -> Result<Option<Solved>, Error> {
    let Some((outputs, feeds)) = fetch_outputs(ctx, Kind::Exec, key).await? else {
        return Ok(None);
    };
    let record = ctx.memo.read_record(&outputs)?;
    let dir = ctx.store.result_dir(Kind::Exec, &key.to_hex());
    ctx.name_layer(dir.join("fs"), &prepared.name);
    let mut layers = vec![dir.join("fs")];
    layers.extend(prepared.rootfs.layers.iter().cloned());
    let mut solved = Solved::chain(key, layers);
    solved.exec = Some(Arc::new(ExecResult {
        dir,
        exit_code: record.exit_code,
        stdout: outputs.join("stdout"),
        stderr: outputs.join("stderr"),
    }));
    let make = {
        let prepared = Arc::clone(prepared);
        Arc::new(move |ctx, job| fetch_or_run(ctx, Arc::clone(&prepared), key, job))
    };
    let owed = owed_fetch(ctx, key, &prepared.name, make).feeding(feeds);
    solved.pending = owed.and(&prepared.rootfs.pending);
    Ok(Some(solved))
}

/// `node`'s exec on the user's terminal (`Container::terminal`), never
/// memoized: its changes are thrown away. Its exit code.
pub(crate) async fn open_terminal(ctx: &Arc<Context>, node: &Arc<Node>) -> Result<i32, Error> {
    let (prepared, key) = prepare(ctx, node).await?;
    prepared.owed().settle().await?;
    prepared.runnable()?;
    let ctx = Arc::clone(ctx);
    blocking(move || {
        let scratch = ctx
            .store
            .throwaway("terminal")
            .map_err(|source| Error::Store {
                source: Box::new(source),
            })?;
        let (request, _volumes_in_use, _copies) =
            request(&ctx, &prepared, &key, scratch.dir(), None)?;
        let why = format!("terminal: {}", prepared.args.join(" "));
        ctx.terminal.open(request, &why)
    })
    .await
}

/// Everything an exec needs solved and resolved, and its cache key.
pub(super) async fn prepare(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
) -> Result<(Prepared, CacheKey), Error> {
    let Op::Exec(exec) = &node.op else {
        unreachable!("prepare is called for exec nodes")
    };
    let mounts = futures::future::try_join_all(exec.mounts.iter().map(|m| ready_mount(ctx, m)));
    let services = futures::future::try_join_all(exec.services.iter().map(|binding| async {
        Ok::<_, Error>(ServiceUse {
            alias: binding.alias.clone(),
            spec: Arc::clone(&binding.service),
            key: service_key(ctx, &binding.service).await?,
        })
    }));
    let (rootfs, settings, mounts, services) = futures::future::join4(
        solve_lazy(ctx, &exec.rootfs),
        resolve_config(ctx, &exec.config),
        mounts,
        services,
    )
    .await;
    let (rootfs, settings, mounts, services) = (rootfs?, settings?, mounts?, services?);
    let args = command(exec, &settings)?;
    check_process(exec, &settings, &args).map_err(|bad| Error::Exec {
        step: node.name.clone(),
        source: Box::new(bad.into()),
    })?;
    let key = exec_key(
        exec,
        &rootfs.key,
        &settings,
        &args,
        &mounts,
        &services
            .iter()
            .map(|service| (service.alias.clone(), service.key))
            .collect::<Vec<_>>(),
        ctx.store.owners(),
    );
    let prepared = Prepared {
        args,
        settings,
        stdin: exec.stdin.clone(),
        redirect_stdout: exec.redirect_stdout.clone(),
        redirect_stderr: exec.redirect_stderr.clone(),
        expect: exec.expect,
        secret_env: exec.secret_env.clone(),
        mounts,
        rootfs,
        name: node.name.clone(),
        platform: exec.platform.clone(),
        no_network: exec.no_network,
        services,
    };
    Ok((prepared, key))
}

/// The command to run: args, with the entrypoint first when asked, or the
/// default args when none are given.
fn command(exec: &ExecOp, settings: &Settings) -> Result<Vec<String>, Error> {
    let mut args = if exec.args.is_empty() {
        settings.default_args.clone()
    } else {
        exec.args.clone()
    };
    if exec.use_entrypoint && !settings.entrypoint.is_empty() {
        let mut with_entrypoint = settings.entrypoint.clone();
        with_entrypoint.append(&mut args);
        args = with_entrypoint;
    }
    if args.is_empty() {
        return Err(Error::NoCommand);
    }
    Ok(args)
}

/// Refuses what execve cannot take (NUL bytes, bad names, E2BIG) before
/// the step is scheduled: the names are checked apart from the values here,
/// before they are joined as `K=V`.
fn check_process(
    exec: &ExecOp,
    settings: &Settings,
    args: &[String],
) -> Result<(), executor::BadProcess> {
    // Borrowed unless a secret is not UTF-8 (the step gets it lossily too).
    let secrets: Vec<(&str, std::borrow::Cow<str>)> = exec
        .secret_env
        .iter()
        .map(|(k, s)| (k.as_str(), String::from_utf8_lossy(s.plaintext())))
        .collect();
    let env = settings
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(secrets.iter().map(|(k, v)| (*k, v.as_ref())));
    executor::check_process(args, env, &settings.workdir_or_root(), &settings.user)
}

/// Everything the blocking part of the step needs.
pub(super) struct Prepared {
    pub(super) args: Vec<String>,
    pub(super) settings: Arc<Settings>,
    pub(super) stdin: String,
    redirect_stdout: String,
    redirect_stderr: String,
    expect: Expect,
    pub(super) secret_env: Vec<(String, Secret)>,
    pub(super) mounts: Vec<(String, ReadyMount)>,
    pub(super) rootfs: Solved,
    pub(super) name: String,
    platform: Platform,
    /// A network of its own with only loopback (`RUN --network=none`).
    pub(super) no_network: bool,
    /// The services it binds, started when it runs.
    pub(super) services: Vec<ServiceUse>,
}

impl Prepared {
    /// Refuses a step of a foreign platform no emulator here can run: at
    /// run time, so a result already made is still served.
    pub(super) fn runnable(&self) -> Result<(), Error> {
        foreign_platform::check(&self.platform).map_err(|missing| Error::ForeignPlatform {
            step: self.name.clone(),
            platform: self.platform.to_string(),
            host: Platform::host().to_string(),
            missing,
        })
    }

    /// What the step's result is made on: its root file system's layers and
    /// its mounts' inputs (kept while the result is).
    /// Whether the step is given a secret, as a variable or a file.
    fn reads_secrets(&self) -> bool {
        !self.secret_env.is_empty()
            || self
                .mounts
                .iter()
                .any(|(_, mount)| matches!(mount, ReadyMount::Secret { .. }))
    }

    fn inputs(&self) -> Result<Vec<PathBuf>, Error> {
        let mut inputs = self.rootfs.layers.to_vec();
        for (_, mount) in &self.mounts {
            match mount {
                ReadyMount::Directory { .. } => inputs.extend(mount.layers()),
                ReadyMount::File { input, path, .. } => inputs.push(input.host_file(path)?),
                _ => {}
            }
        }
        Ok(inputs)
    }

    /// [`Prepared::inputs`] before they are on disk: a mounted file's
    /// whole chain stands for the file.
    fn planned_inputs(&self) -> Vec<PathBuf> {
        let mut inputs = self.rootfs.layers.to_vec();
        for (_, mount) in &self.mounts {
            match mount {
                ReadyMount::Directory { .. } => inputs.extend(mount.layers()),
                ReadyMount::File { input, .. } => inputs.extend(input.layers.iter().cloned()),
                _ => {}
            }
        }
        inputs
    }

    /// What must be on disk before the step runs: its root's chain and its
    /// mounts' inputs.
    pub(super) fn owed(&self) -> Pending {
        let mut owed = self.rootfs.pending.clone();
        for (_, mount) in &self.mounts {
            if let ReadyMount::Directory { input, .. } | ReadyMount::File { input, .. } = mount {
                owed = owed.and(&input.pending);
            }
        }
        owed
    }
}

fn committed(ctx: &Context, step: &Prepared, key: &CacheKey, dir: &Path) -> Result<Solved, Error> {
    let record = ctx.memo.read_record(dir)?;
    ctx.name_layer(dir.join("fs"), &step.name);
    let mut layers = vec![dir.join("fs")];
    layers.extend(step.rootfs.layers.iter().cloned());
    let mut solved = Solved::chain(*key, layers).owing(&step.rootfs.pending);
    solved.exec = Some(Arc::new(ExecResult {
        dir: dir.to_owned(),
        exit_code: record.exit_code,
        stdout: dir.join("stdout"),
        stderr: dir.join("stderr"),
    }));
    Ok(solved)
}

/// Runs `step` into `temp`; on copies, the root's copy comes back as a
/// spare for the next step on its result.
fn run_in(
    ctx: &Arc<Context>,
    step: &Prepared,
    key: &CacheKey,
    temp: &Path,
    job: &Job,
    bound: &[(String, Binding)],
) -> Result<Option<Spare>, Error> {
    let (mut request, volumes_in_use, copies) = request(ctx, step, key, temp, None)?;
    let _network = on_services(ctx, &mut request, bound)?;
    let capture = Capture::start(temp, &ctx.masker(), job)?;
    request.stdout_path = capture.pipe(0);
    request.stderr_path = capture.pipe(1);
    let cancel = Cancel::default();
    let id = ctx.next_cancel.fetch_add(1, Ordering::Relaxed);
    ctx.cancels.lock().unwrap().insert(id, cancel.clone());
    // After registering, so a concurrent cancel_all cannot slip between.
    if ctx.cancelled.load(Ordering::SeqCst) {
        cancel.cancel();
    }
    // A step no caller waits for any more is killed, not left to run on.
    job.on_abandon({
        let cancel = cancel.clone();
        move || cancel.cancel()
    });
    let services_watch = ExitWatch::start(bound, &cancel);
    let outcome = executor::run(&request, &cancel);
    ctx.cancels.lock().unwrap().remove(&id);
    drop(volumes_in_use);
    capture.finish()?;
    // Before a failed step's shell, which looks at its changes.
    let used_root = copies.write_changes()?;
    if let Some((alias, exit)) = services_watch.and_then(ExitWatch::finish) {
        return Err(Error::BoundServiceExited {
            step: step.name.clone(),
            alias,
            exit_code: exit.code,
            output: exit.output,
        });
    }
    let outcome = outcome.map_err(|source| Error::Exec {
        step: step.name.clone(),
        source: Box::new(source),
    })?;
    if !step.expect.accepts(outcome.exit_code) {
        if ctx.terminal.debugs_failures() && !cancel.is_cancelled() {
            debug_shell(ctx, step, key, temp, outcome.exit_code);
        }
        return Err(Error::ExecFailed {
            step: step.name.clone(),
            command: step.args.clone(),
            exit_code: outcome.exit_code,
            stdout: error_output(&temp.join("stdout"), KEPT_BYTES),
            stderr: error_output(&temp.join("stderr"), KEPT_BYTES),
        });
    }
    redirect(step, temp)?;
    for dir in ["work", "scratch"] {
        remove_tree(&temp.join(dir));
    }
    for (index, _) in step.mounts.iter().enumerate() {
        for dir in ["work", "empty"] {
            remove_tree(&mount_dir(temp, index).join(dir));
        }
    }
    let record = ExecRecord {
        exit_code: outcome.exit_code,
        args: step.args.clone(),
        reads_secrets: step.reads_secrets(),
    };
    let path = temp.join("result.json");
    std::fs::write(
        &path,
        serde_json::to_vec(&record).expect("a record serializes"),
    )
    .map_err(memo_error(&path))?;
    Ok(used_root.and_then(|root| root.park(&ctx.store)))
}

pub(super) fn memo_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Memo { path, source }
}

/// A shell where `step` failed (`tanto call -i`): its root file system
/// with what the failed command changed on top, its mounts, env and
/// workdir. What the shell changes is thrown away with the failed step.
fn debug_shell(ctx: &Context, step: &Prepared, key: &CacheKey, temp: &Path, exit_code: i32) {
    let shell = || -> Result<i32, Error> {
        let dir = temp.join("shell");
        std::fs::create_dir(&dir).map_err(memo_error(&dir))?;
        let (mut request, _volumes_in_use, _copies) =
            request(ctx, step, key, &dir, Some(temp.join("fs")))?;
        request.args = vec!["sh".into()];
        let why = format!(
            "{} failed with exit code {exit_code}: a shell in its container (exit it to go on)",
            step.name
        );
        ctx.terminal.open(request, &why)
    };
    if let Err(e) = shell() {
        tracing::warn!("no shell where {} failed: {e:#}", step.name);
    }
}

/// `redirectStdout`/`redirectStderr`: the captured stream becomes a file in
/// the container, and the stream itself reads as empty.
fn redirect(step: &Prepared, temp: &Path) -> Result<(), Error> {
    for (target, stream) in [
        (&step.redirect_stdout, "stdout"),
        (&step.redirect_stderr, "stderr"),
    ] {
        if target.is_empty() {
            continue;
        }
        let path = in_container(&step.settings.workdir_or_root(), target);
        let captured = temp.join(stream);
        let contents = std::fs::read(&captured).map_err(|source| Error::Memo {
            path: captured.clone(),
            source,
        })?;
        let mut layers = vec![temp.join("fs")];
        layers.extend(step.rootfs.layers.iter().cloned());
        let target_view = snapshotter::ChainView::new(layers);
        snapshotter::write_new_file(
            &target_view,
            &temp.join("fs"),
            &path,
            &contents,
            0o644,
            (0, 0),
        )
        .map_err(|source| Error::FileOp {
            path: path.clone(),
            source: Box::new(source),
        })?;
        std::fs::write(&captured, b"").map_err(|source| Error::Memo {
            path: captured,
            source,
        })?;
    }
    Ok(())
}

/// A failed step's stream as Dagger's `EXEC_ERROR` carries it: its last
/// `limit` bytes, the first of them overwritten by `[omitting N bytes]...`
/// when that is all of them, and surrounding whitespace trimmed (Go's
/// `strings.TrimSpace`).
pub(crate) fn error_output(path: &Path, limit: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = size.saturating_sub(limit);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.take(limit).read_to_end(&mut bytes);
    // Dagger's test is `len(contents) >= limit`: a stream of exactly
    // `limit` bytes gets the note too ("omitting 0 bytes").
    if bytes.len() as u64 >= limit {
        let note = format!("[omitting {start} bytes]...");
        let n = note.len().min(bytes.len());
        bytes[..n].copy_from_slice(&note.as_bytes()[..n]);
    }
    String::from_utf8_lossy(&bytes).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output_of(bytes: &[u8], limit: u64) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stdout");
        std::fs::write(&path, bytes).unwrap();
        error_output(&path, limit)
    }

    #[test]
    fn a_failed_step_s_output_is_trimmed_as_dagger_trims_it() {
        assert_eq!(
            output_of(b"\n  THIS GOES TO STDOUT\n\n", 100),
            "THIS GOES TO STDOUT"
        );
        assert_eq!(output_of(b"", 100), "");
    }

    #[test]
    fn a_long_output_keeps_its_end_behind_dagger_s_note() {
        let text: String = (0..150)
            .map(|i| if i % 10 == 9 { '\n' } else { 'a' })
            .collect();
        let kept = output_of(text.as_bytes(), 100);
        let note = "[omitting 50 bytes]...";
        assert!(kept.starts_with(note), "{kept}");
        assert_eq!(kept.len(), 100 - 1, "the last newline trimmed");
        assert_eq!(&kept[note.len()..], text[50 + note.len()..].trim_end());
    }
}
