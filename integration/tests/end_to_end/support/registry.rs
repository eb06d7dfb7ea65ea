//! Debian's `docker-registry` (the reference registry server, distribution
//! 2.8) on 127.0.0.1 at a random port with a temporary root, one per test.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    /// `user:password` when started with htpasswd auth.
    pub basic_auth: Option<(String, String)>,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// With htpasswd basic auth for `user`/`password`.
    pub fn start_with_basic_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user.to_owned(), password.to_owned())))
    }

    fn start_with(basic_auth: Option<(String, String)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            root = dir.path().join("data").display()
        );
        if let Some((user, password)) = &basic_auth {
            let htpasswd = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) must be installed");
            assert!(out.status.success());
            std::fs::write(&htpasswd, out.stdout).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: tanto-tests\n    path: {}\n",
                htpasswd.display()
            );
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let registry = Registry {
            port,
            child,
            dir,
            basic_auth,
        };
        registry.wait_until_up();
        registry
    }

    fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "docker-registry did not listen on {} within 20s:\n{}",
            self.port,
            self.log()
        );
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Everything the server logged, one line per request among other things.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// How many blob GETs the registry has served so far.
    pub fn blob_gets(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:"))
            .count()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The `data` file of every blob the registry stores, as found on disk
    /// (what a test alters to play a tampering registry).
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut pending = vec![self.data_dir().join("docker/registry/v2/blobs")];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.file_name().is_some_and(|n| n == "data") {
                    found.push(path);
                }
            }
        }
        found
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
