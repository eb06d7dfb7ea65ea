//! Single-id mode end to end: a user without subordinate ids, whose tanto
//! maps that user alone, pulls images whose files belong to other ids and
//! runs steps that ask for another user once TANTO_SINGLE_ID=squash says
//! so — and without it is told that this is the way. Driven with
//! `tanto query`, `tanto pull` and `tanto doctor` as a person types them.

#![allow(clippy::print_stderr)] // tests report skips on stderr

use crate::support;

use support::fixtures;
use support::tanto::{Run, Tanto};

/// What tanto says once when it squashes.
const SQUASH_WARNING: &str = "is squash and tanto's user namespace maps your user alone";

/// The user without subordinate ids, with a store of their own; `None`
/// (and a skip said) when the tests cannot create that user.
fn single_id_user() -> Option<Tanto> {
    let Some(user) = support::tanto::user_without_subordinate_ids() else {
        eprintln!("SKIP: creating a user without subordinate ids needs root (CI runs as root)");
        return None;
    };
    Some(Tanto::as_user(user))
}

/// `tanto query` of `document`: the run (for stderr) and the JSON answer.
fn query(tanto: &Tanto, document: &str) -> (Run, serde_json::Value) {
    let path = tanto.write_home_file("query.graphql", document);
    let run = tanto.run(&["query", path.to_str().unwrap()]);
    let answer = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr));
    (run, answer)
}

/// The names under the store's `snapshots/`.
fn snapshot_names(tanto: &Tanto) -> Vec<String> {
    std::fs::read_dir(tanto.store().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The line of `tanto doctor`'s check `name` (`ok   NAME   found`).
fn doctor_check<'r>(doctor: &'r Run, name: &str) -> &'r str {
    doctor
        .stdout
        .lines()
        .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no {name} check:\n{}", doctor.stdout))
}

#[test]
fn squash_lets_a_user_without_subordinate_ids_pull_and_run_and_a_store_keeps_both_apart() {
    let Some(mut tanto) = single_id_user() else {
        return;
    };
    let debian = fixtures::served_debian();
    let busybox = &fixtures::served_busybox().1;
    tanto.env("TANTO_SINGLE_ID", "squash");

    // Debian owns /var/mail by group mail, setgid programs by shadow.
    let (run, answer) = query(
        &tanto,
        &format!(
            r#"{{ container {{ from(address: "{debian}") {{
                 withExec(args: ["stat", "-c", "%u:%g %a %n",
                   "/var/mail", "/usr/bin/chage", "/usr/bin/passwd", "/etc/shadow"]) {{ stdout }}
               }} }} }}"#
        ),
    );
    assert!(run.success, "{answer:#}\n{}", run.stderr);
    assert_eq!(
        answer["data"]["container"]["from"]["withExec"]["stdout"],
        // A directory keeps setgid; a program setgid to shadow loses it;
        // root's own setuid program keeps it.
        "0:0 2775 /var/mail\n0:0 755 /usr/bin/chage\n0:0 4755 /usr/bin/passwd\n0:0 640 /etc/shadow\n",
        "{answer:#}"
    );
    assert_eq!(
        run.stderr.matches(SQUASH_WARNING).count(),
        1,
        "{}",
        run.stderr
    );
    for what in ["owned by root", "setuid", "run as root"] {
        assert!(run.stderr.contains(what), "{what}: {}", run.stderr);
    }

    // busybox's app is uid 1000: steps asking for it run as root, said once.
    let (run, answer) = query(
        &tanto,
        &format!(
            r#"{{ container {{ from(address: "{busybox}") {{ withUser(name: "1000") {{
                 who: withExec(args: ["sh", "-c", "id -u; id -g; echo $HOME"]) {{ stdout }}
                 files: withExec(args: ["ls", "-lnd", "/", "/etc/passwd", "/bin/busybox"]) {{ stdout }}
               }} }} }} }}"#
        ),
    );
    assert!(run.success, "{answer:#}\n{}", run.stderr);
    let steps = &answer["data"]["container"]["from"]["withUser"];
    assert_eq!(steps["who"]["stdout"], "0\n0\n/home/app\n", "{answer:#}");
    for line in steps["files"]["stdout"].as_str().unwrap().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[2..4], ["0", "0"], "{line}");
    }
    assert_eq!(
        run.stderr.matches("asked to run as user \"1000\"").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("uid 1000") && run.stderr.contains("runs as root"),
        "{}",
        run.stderr
    );

    let doctor = tanto.ok(&["doctor"]);
    let line = doctor_check(&doctor, "single-id mode");
    assert!(
        line.starts_with("ok") && line.contains("squash ($TANTO_SINGLE_ID)"),
        "{}",
        doctor.stdout
    );

    // The same store without squash: nothing squashed is taken for the
    // image as it is, so Debian fails, saying how to pull it.
    tanto.env("TANTO_SINGLE_ID", "off");
    let run = tanto.fails(&["pull", debian]);
    assert!(
        run.stderr.contains("does not map") && run.stderr.contains("TANTO_SINGLE_ID=squash"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(SQUASH_WARNING), "{}", run.stderr);
    // busybox's files are root's: it pulls, as another snapshot, and a step
    // asking for uid 1000 is refused as before, with the same hint.
    tanto.ok(&["pull", busybox]);
    let names = snapshot_names(&tanto);
    assert!(
        names.iter().any(|name| name
            .strip_suffix("-squashed")
            .is_some_and(|recorded| names.iter().any(|n| n == recorded))),
        "no layer both squashed and recorded: {names:?}"
    );
    let (run, answer) = query(
        &tanto,
        &format!(
            r#"{{ container {{ from(address: "{busybox}") {{ withUser(name: "1000") {{
                 withExec(args: ["id", "-u"]) {{ stdout }} }} }} }} }}"#
        ),
    );
    assert!(!run.success, "{answer:#}");
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("uid 1000 is not mapped") && message.contains("TANTO_SINGLE_ID=squash"),
        "{answer:#}"
    );
    let doctor = tanto.ok(&["doctor"]);
    let line = doctor_check(&doctor, "single-id mode");
    assert!(
        line.starts_with("WARN") && doctor.stdout.contains("set TANTO_SINGLE_ID=squash"),
        "{}",
        doctor.stdout
    );
    tanto.assert_no_temp_leftovers();
}

#[test]
fn any_other_value_is_refused_naming_the_variable_and_the_choices() {
    let mut tanto = Tanto::new();
    tanto.env("TANTO_SINGLE_ID", "yes");
    let run = tanto.fails(&["pull", "127.0.0.1:1/nothing:here"]);
    for needle in ["$TANTO_SINGLE_ID", "\"yes\"", "squash", "off"] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
}

#[test]
fn with_subordinate_ids_squash_is_ignored() {
    let mut tanto = Tanto::new();
    tanto.env("TANTO_SINGLE_ID", "squash");
    let debian = fixtures::served_debian();
    let (run, answer) = query(
        &tanto,
        &format!(
            r#"{{ container {{ from(address: "{debian}") {{
                 withExec(args: ["stat", "-c", "%g %a", "/var/mail", "/usr/bin/chage"]) {{ stdout }}
               }} }} }}"#
        ),
    );
    assert!(run.success, "{answer:#}\n{}", run.stderr);
    assert_eq!(
        answer["data"]["container"]["from"]["withExec"]["stdout"], "8 2775\n42 2755\n",
        "{answer:#}"
    );
    assert!(!run.stderr.contains(SQUASH_WARNING), "{}", run.stderr);
    assert!(
        !snapshot_names(&tanto)
            .iter()
            .any(|name| name.ends_with("-squashed")),
        "{:?}",
        snapshot_names(&tanto)
    );
}
