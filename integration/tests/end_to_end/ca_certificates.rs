//! The extra CA certificates steps trust (TANTO_CA_CERTIFICATES, by default
//! the host's /usr/local/share/ca-certificates), end to end: a real TLS
//! server on 127.0.0.1 whose certificate a CA made here signed, apt's own
//! https client in the Debian fixture, run rootless as the test user. The
//! step trusts the CA while it runs; its result, and the exported root file
//! system, hold none of it, even when the step rewrote the trust store.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::fixtures;
use support::tanto::Tanto;
use support::tree;

/// What the TLS server answers, and what the step prints of it.
const GREETING: &str = "hello through a trusted proxy\n";

/// A test CA, a server certificate it signed for 127.0.0.1, another CA
/// standing for the image's own trust store, and `openssl s_server`
/// serving one file with them.
struct Pki {
    _dir: tempfile::TempDir,
    ca: String,
    image_ca: String,
    url: String,
    server: Child,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn new_ca(dir: &Path, name: &str) -> String {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
    std::fs::read_to_string(dir.join(format!("{name}.crt"))).unwrap()
}

impl Pki {
    fn start() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = new_ca(d, "tanto-test-proxy-ca");
        let image_ca = new_ca(d, "tanto-test-image-ca");
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "tanto-test-proxy-ca.crt",
                "-CAkey",
                "tanto-test-proxy-ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        // -HTTP serves a file holding the whole response: one that says
        // its length and closes, so the client does not wait for more.
        let www = d.join("www");
        std::fs::create_dir(&www).unwrap();
        std::fs::write(
            www.join("hello"),
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{GREETING}",
                GREETING.len()
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Command::new("openssl")
            .args(["s_server", "-quiet", "-HTTP", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-cert", "../server.crt", "-key", "../server.key"])
            .current_dir(&www)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "openssl s_server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Pki {
            _dir: dir,
            ca,
            image_ca,
            url: format!("https://127.0.0.1:{port}/hello"),
            server,
        }
    }

    /// A line of the CA's base64 that no other text holds.
    fn marker(&self) -> &str {
        self.ca.lines().nth(2).unwrap()
    }
}

fn lit(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// The Debian fixture with a trust store as the ca-certificates package
/// leaves it: the image's CA in /usr/share/ca-certificates, bundled into
/// /etc/ssl/certs/ca-certificates.crt, and an empty
/// /usr/local/share/ca-certificates; then SELECTION.
fn with_trust_store(pki: &Pki, selection: &str) -> String {
    let image = fixtures::served_debian();
    format!(
        r#"{{ container {{ from(address: "{image}") {{
             withNewFile(path: "/usr/share/ca-certificates/image/image-ca.crt", contents: {ca}) {{
             withNewFile(path: "/etc/ssl/certs/ca-certificates.crt", contents: {ca}) {{
             withExec(args: ["mkdir", "-p", "/usr/local/share/ca-certificates"]) {{
               {selection}
             }} }} }} }} }} }}"#,
        ca = lit(&pki.image_ca)
    )
}

/// apt's https client, as a step's download: no retries, so a refused
/// certificate fails at once.
fn fetch(pki: &Pki) -> String {
    format!(
        "/usr/lib/apt/apt-helper -o Acquire::Retries=0 download-file {} /tmp/hello",
        pki.url
    )
}

/// What `update-ca-certificates` does to the trust store, in sh (the
/// fixture lacks it, and openssl for its hash links): each local
/// certificate linked into /etc/ssl/certs, with a hash-named link to that,
/// and the bundle made anew and renamed over the old one.
const UPDATE_CA_CERTIFICATES: &str = r#"set -e
cd /etc/ssl/certs
for f in /usr/local/share/ca-certificates/*.crt; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .crt)
  ln -sf "$f" "$name.pem"
  ln -sf "$name.pem" "hash-of-$name.0"
done
cat /usr/share/ca-certificates/image/*.crt /usr/local/share/ca-certificates/*.crt > bundle.new 2>/dev/null || true
mv -f bundle.new ca-certificates.crt"#;

/// A tanto whose steps trust `pki`'s CA, from a file in the user's home.
fn trusting(pki: &Pki) -> Tanto {
    let mut tanto = Tanto::new();
    let ca = tanto.write_home_file("corp-certs/proxy.crt", &pki.ca);
    let dir = ca.parent().unwrap().to_str().unwrap().to_owned();
    tanto.env("TANTO_CA_CERTIFICATES", &dir);
    tanto
}

fn dig<'a>(answer: &'a serde_json::Value, path: &[&str]) -> &'a serde_json::Value {
    let mut value = &answer["data"]["container"]["from"]["withNewFile"]["withNewFile"]["withExec"];
    for key in path {
        value = &value[*key];
    }
    value
}

#[test]
fn a_step_trusts_the_extra_ca_and_its_result_holds_none_of_it() {
    let pki = Pki::start();
    let tanto = trusting(&pki);
    let selection = format!(
        r#"fetched: withExec(args: ["sh", "-c", {fetch}]) {{
             withExec(args: ["cat", "/tmp/hello"]) {{ stdout }}
             rootfs {{ export(path: "fetched") }}
           }}
           inside: withExec(args: ["cat", "/etc/ssl/certs/ca-certificates.crt"]) {{ stdout }}
           updated: withExec(args: ["sh", "-c", {update}]) {{
             rootfs {{ export(path: "updated") }}
           }}"#,
        fetch = lit(&fetch(&pki)),
        update = lit(&format!("{UPDATE_CA_CERTIFICATES}\n{}", fetch(&pki))),
    );
    let (ok, answer) = tanto.query(&with_trust_store(&pki, &selection));
    assert!(ok, "{answer:#}");
    assert_eq!(
        dig(&answer, &["fetched", "withExec", "stdout"]),
        GREETING,
        "{answer:#}"
    );
    // Inside the step: the image's CA, then the extra one.
    assert_eq!(
        dig(&answer, &["inside", "stdout"]).as_str().unwrap(),
        format!("{}{}", pki.image_ca, pki.ca)
    );
    // Afterwards, in the exported root file systems: the image's trust
    // store as it was, even after the step made it anew (and still
    // trusted the CA, or its download would have failed).
    for exported in ["fetched", "updated"] {
        let root = tanto.home().join(exported);
        assert_eq!(
            std::fs::read_to_string(root.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
            pki.image_ca,
            "{exported}"
        );
        let local: Vec<_> = std::fs::read_dir(root.join("usr/local/share/ca-certificates"))
            .unwrap()
            .collect();
        assert!(local.is_empty(), "{exported}: {local:?}");
        assert_eq!(
            tree::grep(&root, pki.marker().as_bytes()),
            Vec::<PathBuf>::new()
        );
    }
    assert!(tanto
        .home()
        .join("updated/etc/ssl/certs/ca-certificates.crt")
        .is_file());
    let links: Vec<String> = std::fs::read_dir(tanto.home().join("updated/etc/ssl/certs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(links, ["ca-certificates.crt"]);
    // Nor does anything tanto stored, but for the output of the step that
    // printed the bundle: a copy the step made is its own.
    let stored: Vec<PathBuf> = tree::grep(&tanto.store(), pki.marker().as_bytes())
        .into_iter()
        .filter(|p| !p.ends_with("stdout"))
        .collect();
    assert_eq!(stored, Vec::<PathBuf>::new());
    tanto.assert_no_temp_leftovers();
}

#[test]
fn without_the_extra_ca_the_same_step_fails_on_the_certificate() {
    let pki = Pki::start();
    let mut tanto = Tanto::new();
    tanto.env("TANTO_CA_CERTIFICATES", "none");
    let selection = format!(
        r#"withExec(args: ["sh", "-c", {}]) {{ stdout }}"#,
        lit(&fetch(&pki))
    );
    let (ok, answer) = tanto.query(&with_trust_store(&pki, &selection));
    assert!(!ok, "{answer:#}");
    let said = answer.to_string();
    assert!(
        said.contains("Certificate verification failed"),
        "{answer:#}"
    );
}

/// The steps' results (their upper dirs in the store, under the same cache
/// keys) with and without the extra CA: the same files, modes, owners and
/// bytes. Only the times of what the steps themselves wrote differ.
#[test]
fn results_are_the_same_with_and_without_the_extra_ca() {
    let pki = Pki::start();
    let selection = format!(
        r#"untouched: withExec(args: ["sh", "-c", "echo hi > /hi"]) {{ exitCode }}
           appended: withExec(args: ["sh", "-c", "echo '# mine' >> /etc/ssl/certs/ca-certificates.crt"]) {{ exitCode }}
           rewritten: withExec(args: ["sh", "-c", {update}]) {{ exitCode }}
           chmodded: withExec(args: ["chmod", "600", "/etc/ssl/certs/ca-certificates.crt"]) {{ exitCode }}"#,
        update = lit(UPDATE_CA_CERTIFICATES),
    );
    let document = with_trust_store(&pki, &selection);
    let with_ca = trusting(&pki);
    let mut without = Tanto::new();
    without.env("TANTO_CA_CERTIFICATES", "none");
    for tanto in [&with_ca, &without] {
        let (ok, answer) = tanto.query(&document);
        assert!(ok, "{answer:#}");
    }
    let results = |tanto: &Tanto| -> Vec<(String, tree::Tree)> {
        let mut dirs: Vec<(String, tree::Tree)> =
            std::fs::read_dir(tanto.store().join("snapshots"))
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.file_name().to_string_lossy().starts_with("exec-"))
                .map(|e| {
                    let fs = tree::describe(&e.path().join("fs"));
                    (e.file_name().to_string_lossy().into_owned(), fs)
                })
                .collect();
        dirs.sort_by(|a, b| a.0.cmp(&b.0));
        dirs
    };
    let (theirs, ours) = (results(&without), results(&with_ca));
    // The base's mkdir and the four steps, under the same keys.
    assert_eq!(ours.len(), 5);
    let timeless = |fs: &tree::Tree| -> tree::Tree {
        let mut fs = fs.clone();
        for node in fs.values_mut() {
            node.mtime = 0;
        }
        fs
    };
    for ((name, want), (same_name, have)) in theirs.iter().zip(&ours) {
        assert_eq!(name, same_name);
        let differences = tree::differences(&timeless(want), &timeless(have));
        assert!(differences.is_empty(), "{name}: {differences:#?}");
    }
    // A bundle whose mode alone the step changed keeps the image's mtime
    // (each store made the image's bundle at its own time).
    let bundle = Path::new("etc/ssl/certs/ca-certificates.crt");
    for (tanto, results) in [(&without, &theirs), (&with_ca, &ours)] {
        let chmodded = results
            .iter()
            .filter_map(|(_, fs)| fs.get(bundle))
            .find(|node| node.mode == 0o600)
            .unwrap();
        // The image's bundle is the `withNewFile` layer's; steps' results
        // (`exec-…`) may hold bundles of their own, made later.
        let image_layer = std::fs::read_dir(tanto.store().join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().starts_with("layer-"))
            .map(|e| e.path().join("fs").join(bundle))
            .find(|path| path.is_file())
            .unwrap();
        let image_mtime = std::os::unix::fs::MetadataExt::mtime(&image_layer.metadata().unwrap());
        assert_eq!(chmodded.mtime, image_mtime);
    }
    // A step that left the trust store alone has none of it in its result.
    let untouched = ours
        .iter()
        .find(|(_, fs)| fs.contains_key(Path::new("hi")))
        .unwrap();
    let paths: Vec<_> = untouched.1.keys().cloned().collect();
    assert_eq!(paths, [PathBuf::new(), PathBuf::from("hi")]);
    assert_eq!(
        tree::grep(&with_ca.store(), pki.marker().as_bytes()),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn an_image_without_a_trust_store_gets_none() {
    let pki = Pki::start();
    let mut tanto = trusting(&pki);
    tanto.env("RUST_LOG", "executor=debug");
    let image = fixtures::served_debian();
    let document = format!(
        r#"{{ container {{ from(address: "{image}") {{
             withExec(args: ["sh", "-c", "ls /etc/ssl /usr/local/share/ca-certificates 2>&1; true"]) {{ stdout }}
           }} }} }}"#
    );
    let path = tanto.write_home_file("query.graphql", &document);
    let run = tanto.ok(&["query", path.to_str().unwrap()]);
    assert!(
        run.stdout.contains("No such file or directory"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("the image has no trust store"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_value_is_refused_naming_it_and_what_is_accepted() {
    let mut tanto = Tanto::new();
    let not_pem = tanto.write_home_file("key.pem", "-----BEGIN PRIVATE KEY-----\n");
    let not_pem = not_pem.to_str().unwrap().to_owned();
    let document = tanto.write_home_file("query.graphql", "{ defaultPlatform }");
    for (value, says) in [
        ("/no/such/certs", "which does not exist"),
        (not_pem.as_str(), "holds no PEM certificate"),
    ] {
        tanto.env("TANTO_CA_CERTIFICATES", value);
        let run = tanto.fails(&["query", document.to_str().unwrap()]);
        assert!(
            run.stderr
                .contains(&format!("$TANTO_CA_CERTIFICATES is {value:?}")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert!(
            run.stderr
                .contains("it takes a directory of PEM certificates"),
            "{}",
            run.stderr
        );
    }
}
