//! The store kept within bounds, as the unprivileged test user: `tanto du`
//! reports what the store holds as `du -sb` counts it, `tanto prune` takes
//! the least recently used first and never what a pipeline running in
//! another process uses, and after `prune --all` the owner can `rm -rf`
//! the store without root.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::fixtures;
use support::image::{tar_directory, Codec, Image, Layer};
use support::registry::Registry;
use support::session::Session;
use support::tanto::Tanto;

/// A pipeline: busybox, then `script` in a step, its stdout asked for.
fn step(script: &str) -> String {
    format!(
        r#"{{ container {{ from(address: "{}") {{ withExec(args: ["sh", "-c", {}]) {{ stdout }} }} }} }}"#,
        fixtures::served_busybox().1,
        serde_json::to_string(script).unwrap()
    )
}

fn du_json(tanto: &Tanto, verbose: bool) -> serde_json::Value {
    let args: &[&str] = if verbose {
        &["du", "--json", "--verbose"]
    } else {
        &["du", "--json"]
    };
    serde_json::from_str(&tanto.ok(args).stdout).unwrap()
}

/// The entry of the step whose command contains `marker`.
fn step_entry(du: &serde_json::Value, marker: &str) -> Option<serde_json::Value> {
    du["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "step-result" && e["description"].as_str().unwrap().contains(marker))
        .cloned()
}

/// `du -sb` of a path, as root.
fn du_sb(path: &Path) -> u64 {
    let out = std::process::Command::new("du")
        .arg("-sb")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn du_reports_what_the_store_holds_as_du_counts_it() {
    let tanto = Tanto::new();
    let (ok, answer) = tanto.query(&step("head -c 3000000 /dev/zero > /big; echo made"));
    assert!(ok, "{answer:#}");
    let du = du_json(&tanto, true);
    let kinds = du["kinds"].as_array().unwrap();
    let count = |kind: &str| {
        kinds.iter().find(|k| k["kind"] == kind).unwrap()["entries"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count("step-result"), 1, "{du:#}");
    assert_eq!(count("image-layer"), 1, "{du:#}");
    assert!(count("blob") >= 3, "layer, config and manifest: {du:#}");
    let entry = step_entry(&du, "head -c 3000000").expect("the step is listed");
    assert!(entry["bytes"].as_u64().unwrap() >= 3_000_000, "{entry:#}");
    assert_eq!(entry["inUse"], false, "no tanto runs now: {entry:#}");

    // The totals agree with du -sb over the entries, within 1%.
    let store = tanto.store();
    let mut counted = 0;
    for dir in ["snapshots", "cache"] {
        for entry in std::fs::read_dir(store.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.file_name() != "tmp" {
                counted += du_sb(&entry.path());
            }
        }
    }
    for blob in std::fs::read_dir(store.join("content/blobs/sha256"))
        .unwrap()
        .flatten()
    {
        counted += blob.metadata().unwrap().len();
    }
    let reported = du["bytes"].as_u64().unwrap();
    let difference = reported.abs_diff(counted) as f64 / counted as f64;
    assert!(difference <= 0.01, "tanto du {reported}, du -sb {counted}");

    // The table a person reads.
    let table = tanto.ok(&["du", "--verbose"]).stdout;
    assert!(
        table.contains("step results") && table.contains("RECLAIMABLE"),
        "{table}"
    );
    assert!(
        table.contains("withExec sh -c \"head -c 3000000"),
        "{table}"
    );
}

#[test]
fn prune_takes_the_least_recently_used_and_spares_a_pipeline_running_meanwhile() {
    let tanto = Tanto::new();
    for script in ["echo first > /a", "echo second > /b"] {
        let (ok, answer) = tanto.query(&step(script));
        assert!(ok, "{answer:#}");
    }
    // The oldest step alone, when a little must go.
    let run = tanto.ok(&["prune", "--max-used-space", "1"]);
    assert!(run.stderr.contains("echo first"), "{}", run.stderr);
    let du = du_json(&tanto, true);
    assert!(step_entry(&du, "echo first").is_none(), "{du:#}");

    // A pipeline that runs on the second step's result while prune runs.
    let (ok, answer) = tanto.query(&step("echo second > /b"));
    assert!(ok, "{answer:#}");
    let running = format!(
        r#"{{ container {{ from(address: "{}") {{ withExec(args: ["sh", "-c", "echo second > /b"]) {{ withExec(args: ["sh", "-c", "sleep 4; cat /b"]) {{ stdout }} }} }} }} }}"#,
        fixtures::served_busybox().1
    );
    let document = tanto.write_home_file("running.graphql", &running);
    let pipeline = tanto
        .command(&["query", document.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once it uses the second step's result (its lease), prune everything.
    let started = Instant::now();
    loop {
        let du = du_json(&tanto, true);
        if step_entry(&du, "echo second").is_some_and(|e| e["inUse"] == true) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never in use: {du:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pruned = tanto.ok(&["prune"]);
    let du = du_json(&tanto, true);
    assert!(
        step_entry(&du, "echo second").is_some(),
        "{}\n{du:#}",
        pruned.stderr
    );
    let out = pipeline.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("second"));

    // Once it ended, nothing is in use and everything can go.
    tanto.ok(&["prune"]);
    let du = du_json(&tanto, false);
    assert_eq!(du["entries"], 0, "{du:#}");
    // And the pipelines run again from nothing.
    let (ok, answer) = tanto.query(&step("cat /etc/passwd > /dev/null; echo again"));
    assert!(ok, "{answer:#}");
}

#[test]
fn after_prune_all_the_owner_can_remove_the_store_without_root() {
    let tanto = Tanto::new();
    let with_cache = format!(
        r#"{{ container {{ from(address: "{}") {{ withMountedCache(path: "/cache", cache: "{}") {{ withExec(args: ["sh", "-c", "echo kept > /cache/f; chown 1000:1000 /cache/f; echo done"]) {{ stdout }} }} }} }} }}"#,
        fixtures::served_busybox().1,
        "CACHE_ID"
    );
    // One session: a cache volume's ID is good only in the session that made it.
    let session = Session::start(&tanto);
    let answer = session.ask(r#"{ cacheVolume(key: "build") { id } }"#);
    let id = answer["data"]["cacheVolume"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = session.ask(&with_cache.replace("CACHE_ID", &id));
    assert!(answer["errors"].is_null(), "{answer:#}");
    session.end();
    let dry = tanto.ok(&["prune", "--all", "--dry-run"]);
    assert!(dry.stdout.contains("would free"), "{}", dry.stdout);
    assert!(du_json(&tanto, false)["entries"].as_u64().unwrap() > 0);
    tanto.ok(&["prune", "--all"]);
    assert_eq!(du_json(&tanto, false)["entries"], 0);
    let remove = tanto
        .command_for(
            Path::new("/bin/rm"),
            &["-rf", tanto.store().to_str().unwrap()],
        )
        .output()
        .unwrap();
    assert!(
        remove.status.success(),
        "{}",
        String::from_utf8_lossy(&remove.stderr)
    );
    assert!(!tanto.store().exists());
}

#[test]
fn bad_sizes_and_durations_are_refused_with_the_accepted_forms() {
    let tanto = Tanto::new();
    for (flag, value, named) in [
        ("--max-used-space", "12XB", "12XB"),
        ("--max-used-space", "150%", "150%"),
        ("--reserved-space", "-1GB", "-1GB"),
        ("--keep-duration", "-5h", "-5h"),
        ("--keep-duration", "soon", "soon"),
    ] {
        let run = tanto.run(&["prune", &format!("{flag}={value}")]);
        assert!(
            !run.success && run.stderr.contains(named) && run.stderr.contains(flag),
            "{flag} {value}: {}",
            run.stderr
        );
    }
}

#[test]
fn automatic_gc_keeps_the_store_under_max_used_space_and_spares_a_running_pipeline() {
    let mut tanto = Tanto::new();
    // Only max-used-space decides here, whatever this disk's free space.
    tanto.env("TANTO_GC_RESERVED_SPACE", "0");
    tanto.env("TANTO_GC_MIN_FREE_SPACE", "0");
    tanto.env("TANTO_GC_MAX_USED_SPACE", "100%");
    let writes = |n: u32| {
        step(&format!(
            "head -c 2000000 /dev/zero > /out{n}; echo wrote {n}"
        ))
    };
    let (ok, answer) = tanto.query(&writes(1));
    assert!(ok, "{answer:#}");
    let one = du_json(&tanto, false)["bytes"].as_u64().unwrap();
    // Room for the image and about two of the three 2 MB results.
    let bound = one + 2_500_000;
    tanto.env("TANTO_GC_MAX_USED_SPACE", &bound.to_string());

    // A fourth pipeline, in another process, runs on the image meanwhile.
    let document = tanto.write_home_file(
        "running.graphql",
        &step("sleep 6; head -c 100 /dev/zero | wc -c"),
    );
    let running = tanto
        .command(&["query", document.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for n in [2, 3] {
        let run = tanto.run(&[
            "query",
            tanto
                .write_home_file("q.graphql", &writes(n))
                .to_str()
                .unwrap(),
        ]);
        assert!(run.success, "{}", run.stderr);
        if n == 3 {
            assert!(
                run.stderr.contains("gc: the store was over max-used-space"),
                "{}",
                run.stderr
            );
        }
    }
    let du = du_json(&tanto, true);
    assert!(
        du["bytes"].as_u64().unwrap() <= bound,
        "over {bound}: {du:#}"
    );
    // Oldest first: the first result went, the last one stayed.
    assert!(step_entry(&du, "wrote 1").is_none(), "{du:#}");
    assert!(step_entry(&du, "wrote 3").is_some(), "{du:#}");
    let out = running.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("100"));
}

#[test]
fn daggers_cache_api_lists_and_prunes_the_store() {
    let tanto = Tanto::new();
    let (ok, answer) = tanto.query(&step("echo listed > /f; echo listed"));
    assert!(ok, "{answer:#}");
    let (ok, answer) = tanto.query(
        "{ engine { name localCache { maxUsedSpace reservedSpace minFreeSpace targetSpace \
         entrySet { entryCount diskSpaceBytes entries { description diskSpaceBytes activelyUsed \
         recordType createdTimeUnixNano mostRecentUseTimeUnixNano } } } } }",
    );
    assert!(ok, "{answer:#}");
    let cache = &answer["data"]["engine"]["localCache"];
    let set = &cache["entrySet"];
    let entries = set["entries"].as_array().unwrap();
    assert_eq!(set["entryCount"].as_u64().unwrap() as usize, entries.len());
    assert!(entries.len() >= 4, "a layer, a step, blobs: {answer:#}");
    let step = entries
        .iter()
        .find(|e| e["description"].as_str().unwrap().contains("echo listed"))
        .expect("the step is an entry");
    assert_eq!(step["recordType"], "regular");
    assert_eq!(step["activelyUsed"], false);
    assert!(step["mostRecentUseTimeUnixNano"].as_i64() >= step["createdTimeUnixNano"].as_i64());
    let total: u64 = entries
        .iter()
        .map(|e| e["diskSpaceBytes"].as_u64().unwrap())
        .sum();
    assert_eq!(set["diskSpaceBytes"].as_u64().unwrap(), total);
    assert!(cache["maxUsedSpace"].as_u64().unwrap() > 0, "{answer:#}");

    // A bad size is refused with the forms accepted; nothing is pruned.
    let (ok, answer) = tanto.query(r#"{ engine { localCache { prune(maxUsedSpace: "lots") } } }"#);
    assert!(!ok && answer.to_string().contains("lots"), "{answer:#}");
    // Pruned whole, as `dagger core engine local-cache prune` does.
    let (ok, answer) = tanto.query("{ engine { localCache { prune } } }");
    assert!(ok, "{answer:#}");
    let (ok, answer) = tanto.query("{ engine { localCache { entrySet { entryCount } } } }");
    assert!(ok, "{answer:#}");
    assert_eq!(
        answer["data"]["engine"]["localCache"]["entrySet"]["entryCount"],
        0
    );
}

#[test]
fn an_sdk_program_lists_and_prunes_the_cache_and_keeps_what_its_session_holds() {
    let python = fixtures::python_sdk();
    let tanto = Tanto::new();
    let (ok, answer) = tanto.query(&step("echo old > /old; echo old"));
    assert!(ok, "{answer:#}");
    let script = tanto.copy_test_program("python/cache.py");
    let run = tanto.run(&[
        "run",
        "--",
        python.to_str().unwrap(),
        script.to_str().unwrap(),
        &fixtures::served_busybox().1,
    ]);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    for line in [
        "entries: True",
        "listed old: True",
        "listed held: True",
        "bounded: True",
        "refused: ",
        // What another session left goes; what this one holds an ID to stays.
        "kept old: False",
        "kept held: True",
        "held still runs: held",
    ] {
        assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
    }
    assert!(run.stdout.contains("lots"), "{}", run.stdout);
}

/// A tmpfs of `size` mounted for the test user, unmounted on drop.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(tanto: &Tanto, size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs (the tests run as root)");
        let owner = std::process::Command::new("chown")
            .arg(format!("{}:{}", tanto.run_as.uid, tanto.run_as.gid))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(owner.success());
        SmallDisk(dir)
    }

    fn store(&self) -> std::path::PathBuf {
        self.0.path().join("store")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_disk_is_said_so_leaves_nothing_half_made_and_passes_once_space_is_freed() {
    let mut tanto = Tanto::new();
    let disk = SmallDisk::mount(&tanto, "40m");
    tanto.env("TANTO_ROOT", disk.store().to_str().unwrap());
    // A step that writes more than the disk holds.
    let (ok, answer) = tanto.query(&step("head -c 60000000 /dev/zero > /big; echo written"));
    assert!(!ok, "{answer:#}");
    let said = answer.to_string();
    assert!(
        said.contains("is full")
            && said.contains("tanto prune")
            && said.contains(disk.store().to_str().unwrap()),
        "{answer:#}"
    );
    // Nothing of it was kept, and the store works: a step that fits runs.
    let tmp: Vec<_> = std::fs::read_dir(disk.store().join("snapshots/tmp"))
        .unwrap()
        .flatten()
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    let du = du_json(&tanto, true);
    assert!(step_entry(&du, "60000000").is_none(), "{du:#}");
    let (ok, answer) = tanto.query(&step("head -c 1000000 /dev/zero > /small; echo fits"));
    assert!(ok, "{answer:#}");
    assert!(answer.to_string().contains("fits"));
}

#[test]
fn when_the_disk_runs_low_during_a_run_gc_does_not_wait_for_its_end() {
    let mut tanto = Tanto::new();
    let disk = SmallDisk::mount(&tanto, "64m");
    tanto.env("TANTO_ROOT", disk.store().to_str().unwrap());
    tanto.env("TANTO_GC", "off");
    for n in 0..3 {
        let (ok, answer) = tanto.query(&step(&format!(
            "head -c 8000000 /dev/zero > /old{n}; echo old {n}"
        )));
        assert!(ok, "{answer:#}");
    }
    // Now GC is on, and wants more free than the disk has left.
    tanto.env("TANTO_GC", "on");
    tanto.env("TANTO_GC_RESERVED_SPACE", "0");
    tanto.env("TANTO_GC_MIN_FREE_SPACE", "50MB");
    let document = tanto.write_home_file(
        "run.graphql",
        &step("head -c 1000 /dev/zero > /new; echo new"),
    );
    let run = tanto.run(&["query", document.to_str().unwrap()]);
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stderr.contains("the disk ran low during the run"),
        "{}",
        run.stderr
    );
    let du = du_json(&tanto, true);
    assert!(step_entry(&du, "old 0").is_none(), "{du:#}");
    assert!(step_entry(&du, "echo new").is_some(), "{du:#}");
}

#[test]
fn prunes_while_four_pipelines_run_in_other_processes_break_none_of_them() {
    let tanto = Tanto::new();
    let pipelines: Vec<_> = (0..4)
        .map(|n| {
            let document = tanto.write_home_file(
                &format!("p{n}.graphql"),
                &format!(
                    r#"{{ container {{ from(address: "{}") {{
                    withExec(args: ["sh", "-c", "echo {n} > /n; head -c 500000 /dev/zero > /pad"]) {{
                    withExec(args: ["sh", "-c", "sleep 3; cat /n"]) {{
                    withExec(args: ["sh", "-c", "cat /n; wc -c < /pad"]) {{ stdout }} }} }} }} }} }}"#,
                    fixtures::served_busybox().1
                ),
            );
            tanto
                .command(&["query", document.to_str().unwrap()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Collect everything collectable, again and again, while they run.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        tanto.ok(&["prune", "--all"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    for (n, pipeline) in pipelines.into_iter().enumerate() {
        let out = pipeline.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&format!("{n}\\n500000")), "{stdout}");
    }
}

#[test]
fn a_pull_that_does_not_fit_is_said_so_and_leaves_nothing() {
    let registry = Registry::start();
    let noise = tempfile::tempdir().unwrap();
    let mut bytes = vec![0u8; 30 << 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .unwrap();
    std::fs::write(noise.path().join("noise"), bytes).unwrap();
    let layer = Layer::new(&tar_directory(noise.path()), Codec::Gzip);
    Image::new(vec![layer]).push(&registry, "big/noise", "v1");

    let mut tanto = Tanto::new();
    let disk = SmallDisk::mount(&tanto, "24m");
    tanto.env("TANTO_ROOT", disk.store().to_str().unwrap());
    let run = tanto.run(&["pull", &format!("{}/big/noise:v1", registry.host())]);
    assert!(!run.success);
    assert!(
        run.stderr.contains("is full") && run.stderr.contains("tanto prune"),
        "{}",
        run.stderr
    );
    // Nothing half-made is kept, and what fits still pulls.
    let pulled = tanto.ok(&["pull", &fixtures::served_busybox().1]);
    assert!(pulled.stdout.contains("@sha256:"), "{}", pulled.stdout);
    for tmp in ["snapshots/tmp", "content/tmp"] {
        let left: Vec<_> = std::fs::read_dir(disk.store().join(tmp))
            .unwrap()
            .flatten()
            .collect();
        assert!(left.is_empty(), "{tmp}: {left:?}");
    }
}
