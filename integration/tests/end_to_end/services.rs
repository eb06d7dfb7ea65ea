//! Services (issue 18) through the Python SDK, as the unprivileged test
//! user: a busybox httpd on the session network, reached by the steps
//! that bind it.

use std::time::{Duration, Instant};

use crate::support;

use support::fixtures;
use support::sdk::python_program;
use support::tanto::Tanto;

#[test]
fn a_bound_service_is_reached_by_alias_and_hostname_and_started_once() {
    let (_registry, image) = fixtures::served_busybox();
    let mut tanto = Tanto::new();
    // On a subnet of the user's choice.
    tanto.env("TANTO_NETWORK_CIDR", "172.30.0.0/24");
    let program = |run_id: &str| python_program(&tanto, "python/services.py", &[image, run_id]);

    let first = program("1");
    let context = format!("{}\n{}", first.stdout, first.stderr);
    assert_eq!(
        said(&first.stdout, "client 1"),
        "hello from the service|client 1|",
        "{context}"
    );
    assert_eq!(
        said(&first.stdout, "client 2"),
        "hello from the service|client 2|",
        "{context}"
    );
    assert_eq!(said(&first.stdout, "endpoint"), "True", "{context}");
    assert_eq!(
        said(&first.stdout, "by hostname"),
        "hello from the service",
        "{context}"
    );
    // Two concurrent clients and a later one: one start.
    assert_eq!(said(&first.stdout, "starts"), "1", "{context}");
    // A binding step has a namespace of its own on the session network
    // (its `/sys` shows its own interfaces), the alias in its hosts file.
    let inside = said(&first.stdout, "inside");
    assert!(
        inside.starts_with("eth0|lo|172.30.0.") && inside.ends_with("www|"),
        "{context}"
    );
    // Its start shows in progress as a step of its own, done once healthy.
    let started =
        "asService sh -c \"echo started >> /state/starts; exec busybox httpd -f -p 80 -h /www\"";
    assert!(
        first.stderr.contains(&format!("{started} DONE")),
        "{context}"
    );
    // A service slow to listen is waited for.
    assert_eq!(said(&first.stdout, "slow"), "slow but there", "{context}");
    // A service that ends before its port answers fails its client, with
    // its exit code and output.
    let broken = said(&first.stdout, "broken");
    assert!(
        broken.contains("exited with 3") && broken.contains("the service gives up"),
        "{context}"
    );
    // `stop` asks first: the service's own SIGTERM trap ran, and it was
    // not the kill 10 s later.
    assert_eq!(
        said(&first.stdout, "stops"),
        "stopped by SIGTERM|",
        "{context}"
    );
    assert_eq!(
        said(&first.stdout, "stopped within 5 s"),
        "True",
        "{context}"
    );
    // A service that ends while its client runs stops the client.
    let dying = said(&first.stdout, "dying");
    assert!(
        dying.contains("service `dying` exited with 4 while") && dying.contains("leaving early"),
        "{context}"
    );
    // What a service prints once up shows in progress, as a step's output.
    assert!(
        first
            .stderr
            .lines()
            .any(|line| line.starts_with('#') && line.ends_with("| leaving early")),
        "{context}"
    );

    // Again: every client is cached, so the service never starts.
    let second = program("2");
    let context = format!("{}\n{}", second.stdout, second.stderr);
    assert!(!second.stderr.contains(started), "{context}");
    assert_eq!(said(&second.stdout, "starts"), "1", "{context}");
    assert_eq!(
        said(&second.stdout, "client 1"),
        "hello from the service|client 1|",
        "{context}"
    );
}

/// What a program printed after `name: `, on its first such line.
fn said<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_default()
}

#[test]
fn killing_tanto_while_a_service_runs_leaves_no_process_behind() {
    let python = fixtures::python_sdk();
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let script = tanto.copy_test_program("python/service_left_running.py");
    let mut run = tanto
        .command(&[
            "run",
            "--",
            python.to_str().unwrap(),
            script.to_str().unwrap(),
            image,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let service_running = || !processes_running("httpd -f -p 80 -h /srv/left-running").is_empty();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !service_running() {
        assert!(Instant::now() < deadline, "the service never started");
        std::thread::sleep(Duration::from_millis(100));
    }

    // As a CI runner's timeout would.
    run.kill().unwrap();
    run.wait().unwrap();
    tanto.wait_until_gone(Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while service_running() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            processes_running("httpd")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Opening the store sweeps what the killed run left in its temp dirs.
    tanto.ok(&["du"]);
    tanto.assert_no_temp_leftovers();
}

/// The command lines of every process whose command line has `pattern`.
fn processes_running(pattern: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|dir| std::fs::read(dir.path().join("cmdline")).ok())
        .map(|line| String::from_utf8_lossy(&line).replace('\0', " "))
        .filter(|line| line.contains(pattern))
        .collect()
}

#[test]
fn redis_as_a_service_keeps_a_key_from_one_step_to_the_next() {
    let registry = support::registry::Registry::start();
    let image = fixtures::serve_redis(&registry);
    let tanto = Tanto::new();
    let run = python_program(&tanto, "python/services_redis.py", &[&image]);
    assert!(
        run.stdout.contains("ping: PONG"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("get: hello from a step"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn up_and_host_tunnel_forward_a_service_port_to_the_hosts_loopback() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let port = free_port();
    let second = std::iter::repeat_with(free_port)
        .find(|other| *other != port)
        .unwrap();
    let (port, second) = (port.to_string(), second.to_string());
    let run = python_program(&tanto, "python/services_up.py", &[image, &port, &second]);
    assert!(
        run.stdout.contains("up: hello through up"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{port} → port 80")),
        "{}",
        run.stderr
    );
    // Host.tunnel: the same on a free port while started, closed by stop.
    for line in [
        "container up: hello through Container.up",
        "tunnel endpoint on loopback: True",
        "tunnel: hello through up",
        "after stop: closed",
    ] {
        assert!(
            run.stdout.contains(line),
            "{line}:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn tanto_call_up_serves_a_modules_service_on_every_interface_when_asked() {
    let mut tanto = Tanto::new();
    // A dev server others on the network reach.
    tanto.env("TANTO_UP_ADDRESS", "0.0.0.0");
    let address = host_address();
    crate::modules::tiny_module(&tanto);
    let port = free_port();
    let log = tanto.home().join("up.log");
    let mut up = tanto
        .command(&[
            "call",
            "-m",
            "tiny",
            "serve",
            "up",
            "--ports",
            &format!("{port}:80"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The module's runtime is made first, on a fresh store.
    let deadline = Instant::now() + Duration::from_secs(300);
    let body = loop {
        if let Some(body) = http_get(address, port) {
            break body;
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(up.try_wait().unwrap().is_none(), "up ended:\n{log}");
        assert!(Instant::now() < deadline, "nothing on port {port}:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.ends_with("served by a module\n"), "{body}");

    // It lasts until it is stopped, as a dev server does.
    up.kill().unwrap();
    up.wait().unwrap();
    tanto.wait_until_gone(Duration::from_secs(10));
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The answer to `GET /` on `address:port`, if something answers.
fn http_get(address: std::net::Ipv4Addr, port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect((address, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.starts_with("HTTP/").then_some(answer)
}

#[test]
fn the_session_network_reaches_out_through_tanto_and_the_host_only_through_host_service() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let host_ip = host_address();
    let outside = HttpServer::start(host_ip, "hello from the host's address");
    let loopback = HttpServer::start(
        std::net::Ipv4Addr::LOCALHOST,
        "hello from the host's loopback",
    );
    // Whatever the host's resolver says of a name, steps hear the same.
    let name = "deb.debian.org";
    let on_host = std::net::ToSocketAddrs::to_socket_addrs(&(name, 80))
        .ok()
        .and_then(|mut found| found.find(|a| a.is_ipv4()))
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let program = |run_id: &str| {
        python_program(
            &tanto,
            "python/services_network.py",
            &[
                image,
                &host_ip.to_string(),
                &outside.port.to_string(),
                &loopback.port.to_string(),
                name,
                run_id,
            ],
        )
    };

    let first = program("1");
    let context = format!("{}\n{}", first.stdout, first.stderr);
    // Outbound TCP goes through tanto's relay.
    assert_eq!(
        said(&first.stdout, "outbound"),
        "hello from the host's address",
        "{context}"
    );
    // A step's 127.0.0.1 is its own, not the host's.
    assert_eq!(
        said(&first.stdout, "own loopback"),
        "unreachable",
        "{context}"
    );
    // Not in /etc/hosts (0 lines), found through the session's DNS.
    assert_eq!(
        said(&first.stdout, "by dns"),
        "0|found by its name alone",
        "{context}"
    );
    assert_eq!(said(&first.stdout, "resolved"), on_host, "{context}");
    assert!(
        said(&first.stdout, "resolv.conf").starts_with("nameserver 10.87.0.1"),
        "{context}"
    );
    // The host's loopback, reached through Host.service only.
    assert_eq!(
        said(&first.stdout, "host service"),
        "hello from the host's loopback",
        "{context}"
    );
    assert_eq!(loopback.requests(), 1, "{context}");

    // A step bound to the host's ports is never taken from the cache.
    let second = program("2");
    let context = format!("{}\n{}", second.stdout, second.stderr);
    assert_eq!(
        said(&second.stdout, "host service"),
        "hello from the host's loopback",
        "{context}"
    );
    assert_eq!(loopback.requests(), 2, "{context}");
}

/// This machine's own address on its default route (not loopback).
fn host_address() -> std::net::Ipv4Addr {
    // Connecting a UDP socket sends nothing: it only picks the route.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    probe.connect("203.0.113.1:9").unwrap();
    match probe.local_addr().unwrap().ip() {
        std::net::IpAddr::V4(address) if !address.is_loopback() => address,
        other => panic!("this machine has no non-loopback address ({other})"),
    }
}

/// An HTTP server on the host answering every request with one text,
/// counting them.
struct HttpServer {
    port: u16,
    served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HttpServer {
    fn start(address: std::net::Ipv4Addr, text: &'static str) -> HttpServer {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind((address, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&served);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut request = [0; 4096];
                let _ = stream.read(&mut request);
                let _ = write!(
                    stream,
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{text}\n",
                    text.len() + 1
                );
            }
        });
        HttpServer { port, served }
    }

    fn requests(&self) -> usize {
        self.served.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn on_the_hosts_network_services_share_its_ports_and_clashes_are_refused() {
    let (_registry, image) = fixtures::served_busybox();
    let mut tanto = Tanto::new();
    tanto.env("TANTO_SERVICE_NETWORK", "host");
    let port = free_port();
    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let run = python_program(
        &tanto,
        "python/services_host_network.py",
        &[image, &port.to_string(), &taken.to_string()],
    );
    let context = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        said(&run.stdout, "reached"),
        "on the host's network",
        "{context}"
    );
    let same = said(&run.stdout, "same port");
    assert!(
        same.contains(&format!(
            "service `asService busybox httpd -f -p {port} -h /second` exposes port {port}, which service `asService busybox httpd -f -p {port} -h /www` holds"
        )),
        "{context}"
    );
    let refused = said(&run.stdout, "taken port");
    assert!(
        refused.contains(&format!(
            "exposes port {taken}, which something on this machine holds"
        )),
        "{context}"
    );
    drop(holder);
}

#[test]
fn the_slirp4netns_uplink_carries_udp_and_says_what_to_do_without_a_tun_device() {
    let (_registry, image) = fixtures::served_busybox();
    let mut tanto = Tanto::new();
    tanto.env("TANTO_NET_UPLINK", "slirp4netns");
    let host = host_address();
    let tcp = HttpServer::start(host, "hello over tcp");
    let udp = std::net::UdpSocket::bind((host, 0)).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    // A TFTP server with one file: every read request gets it whole, in
    // one DATA packet (opcode 3, block 1); the client's ACK needs nothing.
    std::thread::spawn(move || {
        let mut buffer = [0; 512];
        while let Ok((n, from)) = udp.recv_from(&mut buffer) {
            if buffer[..n].starts_with(&[0, 1]) {
                let _ = udp.send_to(b"\x00\x03\x00\x01hello over udp\n", from);
            }
        }
    });
    let program = || {
        python_program(
            &tanto,
            "python/services_udp.py",
            &[
                image,
                &host.to_string(),
                &udp_port.to_string(),
                &tcp.port.to_string(),
            ],
        )
    };

    // As many machines ship it, this one included: unusable rootless.
    let tun = TunMode::set(0o600);
    let refused = program();
    let context = format!("{}\n{}", refused.stdout, refused.stderr);
    let error = said(&refused.stdout, "error");
    assert!(
        error.contains("slirp4netns cannot use /dev/net/tun") && error.contains("mode 0666"),
        "{context}"
    );

    tun.change(0o666);
    let run = program();
    let context = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(said(&run.stdout, "udp"), "hello over udp", "{context}");
    assert_eq!(said(&run.stdout, "tcp"), "hello over tcp", "{context}");
}

/// `/dev/net/tun`'s mode for a test, put back as found when dropped.
struct TunMode(u32);

impl TunMode {
    const PATH: &str = "/dev/net/tun";

    fn set(mode: u32) -> TunMode {
        use std::os::unix::fs::PermissionsExt;
        let found = std::fs::metadata(Self::PATH).unwrap().permissions().mode() & 0o7777;
        let guard = TunMode(found);
        guard.change(mode);
        guard
    }

    fn change(&self, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(Self::PATH, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

impl Drop for TunMode {
    fn drop(&mut self) {
        self.change(self.0);
    }
}
