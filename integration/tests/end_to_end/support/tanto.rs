//! Running the tanto binary as a person would — and, when the tests run as
//! root, as an unprivileged user with subordinate ids, because rootless is the
//! product and a test that passes only as root proves nothing about it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The unprivileged user the tests create when run as root.
pub const TEST_USER: &str = "tanto-test";
const SUBORDINATE_START: u32 = 200_000;
const SUBORDINATE_COUNT: u32 = 65_536;

/// Who tanto runs as, and the ids it maps inside its namespace.
#[derive(Clone, Debug)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    pub subuid_start: u32,
    pub subgid_start: u32,
    /// Wrap commands in setpriv (we are root and drop to `TEST_USER`).
    drop_privileges: bool,
}

impl RunAs {
    /// The host uid that uid `inside` of the namespace maps to.
    pub fn host_uid(&self, inside: u32) -> u32 {
        if inside == 0 {
            self.uid
        } else {
            self.subuid_start + inside - 1
        }
    }

    pub fn host_gid(&self, inside: u32) -> u32 {
        if inside == 0 {
            self.gid
        } else {
            self.subgid_start + inside - 1
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run_checked(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Creates `user` if missing. Returns the lock that serialises user and
/// /etc/sub[ug]id changes across test binaries; hold it while editing them.
fn ensure_user(user: &str) -> std::fs::File {
    let lock = std::fs::File::create("/tmp/tanto-test-user.lock").unwrap();
    // SAFETY: valid fd; blocks until other test binaries are done.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if !Command::new("id")
        .arg(user)
        .output()
        .unwrap()
        .status
        .success()
    {
        run_checked(Command::new("useradd").args(["--create-home", "--shell", "/bin/sh", user]));
    }
    lock
}

/// Creates `TEST_USER` with a subordinate id range when running as root;
/// otherwise tanto runs as ourselves, who must then have subordinate ids.
pub fn run_as() -> &'static RunAs {
    static RUN_AS: OnceLock<RunAs> = OnceLock::new();
    RUN_AS.get_or_init(|| {
        if !is_root() {
            let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
            let user = std::env::var("USER").unwrap_or_default();
            let find = |file: &str| {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                text.lines()
                    .find_map(|l| {
                        let f: Vec<_> = l.split(':').collect();
                        (f.len() == 3 && (f[0] == user || f[0] == uid.to_string()))
                            .then(|| f[1].parse().ok())?
                    })
                    .unwrap_or_else(|| {
                        panic!("{user} needs a subordinate id range in {file} to run these tests")
                    })
            };
            return RunAs {
                uid,
                gid,
                subuid_start: find("/etc/subuid"),
                subgid_start: find("/etc/subgid"),
                drop_privileges: false,
            };
        }
        let _lock = ensure_user(TEST_USER);
        let has_range = |file: &str| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with(&format!("{TEST_USER}:")))
        };
        if !has_range("/etc/subuid") || !has_range("/etc/subgid") {
            let range = format!(
                "{SUBORDINATE_START}-{}",
                SUBORDINATE_START + SUBORDINATE_COUNT - 1
            );
            run_checked(Command::new("usermod").args([
                "--add-subuids",
                &range,
                "--add-subgids",
                &range,
                TEST_USER,
            ]));
        }
        let start = |file: &str| -> u32 {
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .find_map(|l| {
                    l.strip_prefix(&format!("{TEST_USER}:"))
                        .map(|r| r.split(':').next().unwrap().parse().unwrap())
                })
                .unwrap()
        };
        RunAs {
            uid: id_of(TEST_USER, "-u"),
            gid: id_of(TEST_USER, "-g"),
            subuid_start: start("/etc/subuid"),
            subgid_start: start("/etc/subgid"),
            drop_privileges: true,
        }
    })
}

/// `id -u` or `id -g` of `user`.
fn id_of(user: &str, flag: &str) -> u32 {
    String::from_utf8(run_checked(Command::new("id").args([flag, user])).stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A second unprivileged user, deliberately without subordinate ids, to check
/// tanto's single-id fallback. Needs root; `None` otherwise.
pub fn user_without_subordinate_ids() -> Option<RunAs> {
    const USER: &str = "tanto-nosubid";
    if !is_root() {
        return None;
    }
    let _lock = ensure_user(USER);
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
            let kept: String = text
                .lines()
                .filter(|l| !l.starts_with(&format!("{USER}:")))
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(file, kept).unwrap();
        }
    }
    Some(RunAs {
        uid: id_of(USER, "-u"),
        gid: id_of(USER, "-g"),
        subuid_start: 0,
        subgid_start: 0,
        drop_privileges: true,
    })
}

/// The tanto binary, freshly built, copied where the test user can run it.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| build_and_copy(&["-p", "cli", "--bin", "tanto"], "debug/tanto"))
}

/// The release binary as shipped, statically linked (`scripts/build-release`),
/// copied where every user may run it: what goes into containers.
pub fn static_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let out = run_checked(
            Command::new("bash")
                .arg("scripts/build-release")
                .current_dir(workspace),
        );
        // The path it prints is the workspace's, or absolute.
        let built = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        readable_copy(&workspace.join(built))
    })
}

/// An example program (`PACKAGE/examples/NAME.rs`), freshly built, copied
/// where the test user can run it.
pub fn example(package: &str, name: &str) -> PathBuf {
    build_and_copy(
        &["-p", package, "--example", name],
        &format!("debug/examples/{name}"),
    )
}

fn build_and_copy(cargo_args: &[&str], built: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_checked(
        Command::new(cargo)
            .current_dir(workspace)
            .args(["build", "--quiet"])
            .args(cargo_args),
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let built = target.join(built);
    readable_copy(&built)
}

/// A copy of `built` that every user may run, shared by all the test
/// binaries of a run: `/tmp/tanto-bin/<size>-<mtime>/NAME`, made once
/// (temp, then rename), so a run leaves one copy of each build instead of
/// one per test binary. Copies of older builds are removed after two hours.
fn readable_copy(built: &Path) -> PathBuf {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(built).unwrap();
    let shared = std::env::temp_dir().join("tanto-bin");
    let dir = shared.join(format!(
        "{}-{}.{}",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    ));
    let copy = dir.join(built.file_name().unwrap());
    if !copy.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        for d in [&shared, &dir] {
            std::fs::set_permissions(d, PermissionsExt::from_mode(0o755)).unwrap();
        }
        let temp = dir.join(format!(
            ".{}.{}",
            built.file_name().unwrap().to_string_lossy(),
            std::process::id()
        ));
        std::fs::copy(built, &temp).unwrap();
        std::fs::rename(&temp, &copy).unwrap();
    }
    let stale = std::time::Duration::from_secs(2 * 3600);
    for entry in std::fs::read_dir(&shared).unwrap().flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > stale);
        if old && entry.path() != dir {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    copy
}

/// One user's tanto: its own home and store, fresh for each test.
pub struct Tanto {
    home: tempfile::TempDir,
    pub run_as: RunAs,
    env: Vec<(String, String)>,
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Tanto {
    pub fn new() -> Tanto {
        Tanto::as_user(run_as().clone())
    }

    pub fn as_user(run_as: RunAs) -> Tanto {
        let home = tempfile::Builder::new()
            .prefix("tanto-home-")
            .tempdir()
            .unwrap();
        std::os::unix::fs::chown(home.path(), Some(run_as.uid), Some(run_as.gid)).unwrap();
        Tanto {
            home,
            run_as,
            env: Vec::new(),
        }
    }

    /// Makes `path` (recursively) the test user's, as files it made.
    pub fn give(&self, path: &Path) {
        let owner = format!("{}:{}", self.run_as.uid, self.run_as.gid);
        let status = Command::new("chown")
            .args(["-R", &owner])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "chown -R {owner} {}", path.display());
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The default store location under the test user's home.
    pub fn store(&self) -> PathBuf {
        self.home.path().join(".local/share/tanto")
    }

    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Writes a file into the test user's home, owned by them.
    pub fn write_home_file(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.home.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        let mut dir = path.as_path();
        while dir != self.home.path() {
            std::os::unix::fs::chown(dir, Some(self.run_as.uid), Some(self.run_as.gid)).unwrap();
            dir = dir.parent().unwrap();
        }
        path
    }

    /// Copies a program of the test suite (`integration/tests/SOURCE`,
    /// e.g. `python/chain.py`) into the test user's home; its path there.
    pub fn copy_test_program(&self, source: &str) -> PathBuf {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(source);
        let text =
            std::fs::read_to_string(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        self.write_home_file(
            Path::new(source).file_name().unwrap().to_str().unwrap(),
            &text,
        )
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_for(binary(), args)
    }

    /// `program` run as the test user, in their home, with only our env.
    pub fn command_for(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = if self.run_as.drop_privileges {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={}", self.run_as.uid))
                .arg(format!("--regid={}", self.run_as.gid))
                .arg("--init-groups")
                .arg("--")
                .arg(program);
            c
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .current_dir(self.home.path());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_program(binary(), args)
    }

    /// `tanto ARGS` as one `sh -c` line, run as the test user in their home
    /// with only our env (and `extra_env`): for terminals such as tmux,
    /// which take a command line rather than a [`Command`].
    pub fn shell_line(&self, args: &[&str], extra_env: &[(&str, &str)]) -> String {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut words = vec!["env".to_owned(), "-i".to_owned()];
        let home = self.home.path().to_string_lossy().into_owned();
        let path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".to_owned();
        let env = [("HOME", home.as_str()), ("PATH", path.as_str())]
            .into_iter()
            .chain(self.env.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .chain(extra_env.iter().copied());
        for (name, value) in env {
            words.push(quote(&format!("{name}={value}")));
        }
        if self.run_as.drop_privileges {
            words.push("setpriv".into());
            words.push(format!("--reuid={}", self.run_as.uid));
            words.push(format!("--regid={}", self.run_as.gid));
            words.extend(["--init-groups".into(), "--".into()]);
        }
        words.push(quote(&binary().to_string_lossy()));
        words.extend(args.iter().map(|a| quote(a)));
        format!("cd {} && {}", quote(&home), words.join(" "))
    }

    /// Runs `program` (an example built with [`example`]) as the test user.
    pub fn run_program(&self, program: &Path, args: &[&str]) -> Run {
        let out = self.command_for(program, args).output().unwrap();
        Run {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and insists on success, showing everything tanto said otherwise.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert!(
            run.success,
            "tanto {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run
    }

    /// Runs and insists on failure.
    pub fn fails(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert!(
            !run.success,
            "tanto {args:?} should have failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        run
    }

    /// Nothing half-done is left in the store's temp directories.
    /// The command lines of this tanto's processes still running: those
    /// whose environment holds its HOME (its namespaced copies too, which
    /// name the home nowhere in their arguments).
    pub fn processes(&self) -> Vec<String> {
        let home = format!("HOME={}", self.home().display());
        let mut found = Vec::new();
        for proc_dir in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(environ) = std::fs::read(proc_dir.path().join("environ")) else {
                continue;
            };
            if environ.split(|b| *b == 0).any(|v| v == home.as_bytes()) {
                let cmdline = std::fs::read(proc_dir.path().join("cmdline")).unwrap_or_default();
                found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
            }
        }
        found
    }

    /// Waits until a killed tanto's processes are all gone (a namespaced
    /// copy dies by PR_SET_PDEATHSIG, a moment after its parent); fails the
    /// test if they outlive `within`.
    pub fn wait_until_gone(&self, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = self.processes();
            if left.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "left running: {left:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn assert_no_temp_leftovers(&self) {
        for tmp in ["content/tmp", "snapshots/tmp"] {
            let dir = self.store().join(tmp);
            let left: Vec<_> = std::fs::read_dir(&dir)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "{} still holds {left:?}", dir.display());
        }
    }

    /// Runs a GraphQL document with `tanto query`; whether it succeeded, and
    /// the JSON answer.
    pub fn query(&self, document: &str) -> (bool, serde_json::Value) {
        let path = self.write_home_file("query.graphql", document);
        let run = self.run(&["query", path.to_str().unwrap()]);
        let answer = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr));
        (run.success, answer)
    }
}
