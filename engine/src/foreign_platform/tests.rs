//! The detection against fake `binfmt_misc` directories: the machine's own
//! may have any registration, or none.

use super::*;

const AARCH64_MAGIC: &str = "7f454c460201010000000000000000000200b700";
const AARCH64_MASK: &str = "ffffffffffffff00fffffffffffffffffeffffff";
const ARM_MAGIC: &str = "7f454c4601010100000000000000000002002800";
const ARM_MASK: &str = "ffffffffffffff00fffffffffffffffffeffffff";

fn amd64() -> Platform {
    "linux/amd64".parse().unwrap()
}

fn arm64() -> Platform {
    "linux/arm64".parse().unwrap()
}

/// A `binfmt_misc` directory with `registrations` (name, enabled, flags,
/// magic, mask).
fn binfmt(registrations: &[(&str, bool, &str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("register"), "").unwrap();
    std::fs::write(dir.path().join("status"), "enabled\n").unwrap();
    for (name, enabled, flags, magic, mask) in registrations {
        let state = if *enabled { "enabled" } else { "disabled" };
        std::fs::write(
            dir.path().join(name),
            format!("{state}\ninterpreter /usr/bin/{name}-static\nflags: {flags}\noffset 0\nmagic {magic}\nmask {mask}\n"),
        )
        .unwrap();
    }
    dir
}

#[test]
fn an_enabled_fix_binary_handler_runs_the_platform() {
    let dir = binfmt(&[("qemu-aarch64", true, "POCF", AARCH64_MAGIC, AARCH64_MASK)]);
    assert_eq!(check_in(dir.path(), &arm64(), &amd64()), Ok(()));
    // The handler is arm64's alone.
    let arm = "linux/arm/v7".parse().unwrap();
    assert!(matches!(
        check_in(dir.path(), &arm, &amd64()),
        Err(Missing::NoHandler { .. })
    ));
}

#[test]
fn no_handler_names_what_to_install() {
    let dir = binfmt(&[("qemu-arm", true, "F", ARM_MAGIC, ARM_MASK)]);
    let missing = check_in(dir.path(), &arm64(), &amd64()).unwrap_err();
    assert_eq!(
        missing,
        Missing::NoHandler {
            architecture: "arm64".into()
        }
    );
    let said = missing.to_string();
    assert!(said.contains("apt-get install qemu-user-static"), "{said}");
    assert!(said.contains("tanto doctor"), "{said}");
}

#[test]
fn a_handler_without_f_is_named() {
    let dir = binfmt(&[("qemu-aarch64", true, "OC", AARCH64_MAGIC, AARCH64_MASK)]);
    let missing = check_in(dir.path(), &arm64(), &amd64()).unwrap_err();
    assert_eq!(
        missing,
        Missing::NoFixBinary {
            name: "qemu-aarch64".into()
        }
    );
    assert!(missing
        .to_string()
        .contains("without the F (fix-binary) flag"));
}

#[test]
fn disabled_handlers_do_not_count() {
    let dir = binfmt(&[("qemu-aarch64", false, "F", AARCH64_MAGIC, AARCH64_MASK)]);
    assert_eq!(
        check_in(dir.path(), &arm64(), &amd64()),
        Err(Missing::Disabled {
            name: "qemu-aarch64".into()
        })
    );
    let off = binfmt(&[("qemu-aarch64", true, "F", AARCH64_MAGIC, AARCH64_MASK)]);
    std::fs::write(off.path().join("status"), "disabled\n").unwrap();
    assert!(check_in(off.path(), &arm64(), &amd64()).is_err());
}

#[test]
fn binfmt_not_mounted_says_so() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        check_in(dir.path(), &arm64(), &amd64()),
        Err(Missing::NotMounted { .. })
    ));
}

#[test]
fn the_host_and_its_own_kin_need_no_emulator() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(check_in(empty.path(), &amd64(), &amd64()), Ok(()));
    let i386 = "linux/386".parse().unwrap();
    assert_eq!(check_in(empty.path(), &i386, &amd64()), Ok(()));
    assert_eq!(check_in(empty.path(), &arm64(), &arm64()), Ok(()));
    let windows = "windows/amd64".parse().unwrap();
    assert!(matches!(
        check_in(empty.path(), &windows, &amd64()),
        Err(Missing::NotLinux { .. })
    ));
    let mips = "linux/mips64le".parse().unwrap();
    assert!(matches!(
        check_in(empty.path(), &mips, &amd64()),
        Err(Missing::UnknownArchitecture { .. })
    ));
}

#[test]
fn other_registrations_are_not_taken_for_elf_handlers() {
    let dir = binfmt(&[]);
    // An extension-matched registration, as binfmt-support writes for jars.
    std::fs::write(
        dir.path().join("jar"),
        "enabled\ninterpreter /usr/bin/jexec\nflags: F\nextension .jar\n",
    )
    .unwrap();
    // Python's, matched by magic, takes no ELF file.
    std::fs::write(
        dir.path().join("python3.11"),
        "enabled\ninterpreter /usr/bin/python3.11\nflags: F\noffset 0\nmagic a70d0d0a\n",
    )
    .unwrap();
    assert!(matches!(
        check_in(dir.path(), &arm64(), &amd64()),
        Err(Missing::NoHandler { .. })
    ));
}

#[test]
fn doctor_lists_the_host_and_the_fix_binary_platforms() {
    let dir = binfmt(&[
        ("qemu-aarch64", true, "POCF", AARCH64_MAGIC, AARCH64_MASK),
        ("qemu-arm", true, "P", ARM_MAGIC, ARM_MASK),
    ]);
    let (runnable, without_f) = runnable_in(dir.path(), &amd64());
    let names: Vec<String> = runnable.iter().map(Platform::to_string).collect();
    assert_eq!(names, ["linux/amd64", "linux/arm64", "linux/386"]);
    assert_eq!(without_f, ["qemu-arm"]);
}
