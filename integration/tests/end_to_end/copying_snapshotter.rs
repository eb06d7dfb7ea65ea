//! The copying snapshotter end to end, as the unprivileged `tanto-test` on
//! this host (`TANTO_SNAPSHOTTER=copy`; in a container whose root file
//! system holds the store it is chosen by itself, `containers.rs`): steps
//! on copies of their layers, each reading what the one before removed,
//! changed and added (the copy the step before left, taken over); results
//! cached, and the same as overlay's.

use crate::support;

use support::fixtures;
use support::tanto::{Run, Tanto};

/// `tanto query` of `document`: the run and the JSON answer.
fn query(tanto: &Tanto, document: &str) -> (Run, serde_json::Value) {
    let path = tanto.write_home_file("query.graphql", document);
    let run = tanto.run(&["--progress", "plain", "query", path.to_str().unwrap()]);
    let answer = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr));
    (run, answer)
}

/// Steps that remove a file and a directory, append to a file and add a
/// tree, then read it all back and change it again, and a last one that
/// reads that; the root file system's listing of /etc and the new tree as
/// answers.
fn chain_document() -> String {
    let debian = fixtures::served_debian();
    format!(
        r#"{{ container {{ from(address: "{debian}") {{
  withExec(args: ["sh", "-c", "rm /etc/debian_version && rm -r /var/mail && echo changed >> /etc/issue && mkdir -p /new/dir && echo new > /new/dir/file && chmod 700 /new"]) {{
    withExec(args: ["sh", "-c", "test ! -e /etc/debian_version && test ! -e /var/mail && tail -n1 /etc/issue && cat /new/dir/file && stat -c %a /new && rm /new/dir/file && echo second > /new/dir/second && echo again >> /etc/issue"]) {{
      withExec(args: ["sh", "-c", "cat /new/dir/second && tail -n2 /etc/issue && test ! -e /new/dir/file"]) {{
        stdout
        rootfs {{ entries(path: "/etc") }}
        directory(path: "/new") {{ entries(path: "dir") }}
      }}
      stdout
    }} }} }} }} }}"#
    )
}

fn answer_of(answer: &serde_json::Value) -> &serde_json::Value {
    &answer["data"]["container"]["from"]["withExec"]["withExec"]
}

#[test]
fn steps_on_copies_see_what_the_steps_before_changed_and_match_overlay() {
    let document = chain_document();
    let mut copying = Tanto::new();
    copying.env("TANTO_SNAPSHOTTER", "copy");
    let (run, answer) = query(&copying, &document);
    assert!(run.success, "{answer:#}\n{}", run.stderr);
    let copied = answer_of(&answer);
    assert_eq!(copied["stdout"], "changed\nnew\n700\n", "{answer:#}");
    let last = &copied["withExec"];
    assert_eq!(last["stdout"], "second\nchanged\nagain\n", "{answer:#}");
    let etc = last["rootfs"]["entries"].as_array().unwrap();
    assert!(
        etc.iter()
            .all(|e| !e.as_str().unwrap().starts_with(".wh.") && e != "debian_version"),
        "no marker shows, the removed file is gone: {etc:?}"
    );
    assert_eq!(last["directory"]["entries"], serde_json::json!(["second"]));
    assert!(
        copying.store().join("whiteout-files").exists(),
        "the store says it holds whiteout files"
    );
    let left: Vec<_> = std::fs::read_dir(copying.store().join("snapshots/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "no copy outlives the run: {left:?}");

    // Again: nothing runs.
    let (again, _) = query(&copying, &document);
    assert!(
        again.success && again.stderr.contains("0 ran"),
        "{}",
        again.stderr
    );

    // The same pipeline on overlay answers the same.
    let overlay = Tanto::new();
    let (run, answer) = query(&overlay, &document);
    assert!(run.success, "{answer:#}\n{}", run.stderr);
    assert_eq!(answer_of(&answer), copied, "overlay and copies agree");
}

#[test]
fn a_store_made_by_copying_refuses_overlay_and_says_what_to_do() {
    let mut tanto = Tanto::new();
    tanto.env("TANTO_SNAPSHOTTER", "copy");
    let busybox = &fixtures::served_busybox().1;
    let pulled = tanto.run(&["pull", busybox]);
    assert!(pulled.success, "{}", pulled.stderr);
    tanto.env("TANTO_SNAPSHOTTER", "overlay");
    let refused = tanto.run(&["pull", busybox]);
    assert!(!refused.success);
    assert!(
        refused
            .stderr
            .contains("holds layers the copying snapshotter made")
            && refused.stderr.contains("use another TANTO_ROOT"),
        "{}",
        refused.stderr
    );
    tanto.env("TANTO_SNAPSHOTTER", "auto");
    let kept = tanto.run(&["pull", busybox]);
    assert!(kept.success, "auto keeps copying: {}", kept.stderr);
}
