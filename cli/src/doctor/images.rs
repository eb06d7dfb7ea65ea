//! Images: the platforms steps can run, the registries configured.

use engine::foreign_platform;

use super::{bad, ok, Check, Verdict};

/// The platforms steps can run: this machine's, and those an emulator
/// registered with binfmt_misc's F flag takes (`container(platform:)`).
pub(super) fn platforms() -> Check {
    let name = "platforms";
    let (runnable, without_f) = foreign_platform::runnable_platforms();
    let listed: Vec<String> = runnable.iter().map(ToString::to_string).collect();
    let found = listed.join(", ");
    if !without_f.is_empty() {
        return bad(
            name,
            Verdict::Warn,
            format!(
                "{found}; {} registered without the F flag, unusable in steps",
                without_f.join(", ")
            ),
            "register them again with F (apt-get install qemu-user-static does, as root)".into(),
        );
    }
    if runnable.len() == 1 {
        return bad(
            name,
            Verdict::Warn,
            format!("{found} only: steps of other architectures fail"),
            "apt-get install qemu-user-static binfmt-support (as root) to run them through qemu"
                .into(),
        );
    }
    ok(name, found)
}

/// Where pulls go: the registries.conf files read and the mirrors and
/// rewrites they set, as podman would apply them.
pub(super) fn registries() -> Check {
    let name = "registries";
    match engine::RegistriesConf::from_environment() {
        Err(e) => bad(
            name,
            Verdict::Fail,
            format!("{e:#}"),
            "fix the file, or point CONTAINERS_REGISTRIES_CONF at another".into(),
        ),
        Ok(conf) if conf.files().is_empty() => ok(
            name,
            "no registries.conf: images are pulled from where they name, short names from docker.io"
                .into(),
        ),
        Ok(conf) => {
            let files: Vec<String> = conf.files().iter().map(|f| f.display().to_string()).collect();
            let mut found = format!(
                "from {}; short names from {}",
                files.join(", "),
                conf.search_registries().join(", then ")
            );
            let rules = conf.describe();
            if rules.is_empty() {
                found.push_str("; no mirrors or rewrites");
            } else {
                found.push_str("; ");
                found.push_str(&rules.join("; "));
            }
            ok(name, found)
        }
    }
}
