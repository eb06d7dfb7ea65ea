//! Steps of another architecture than the host's. The kernel hands such a
//! binary to the emulator a `binfmt_misc` registration names (Debian's
//! `qemu-user-static` registers one per architecture); tanto runs nothing
//! itself. Before such a step runs, this module finds a registration that
//! takes the architecture's ELF executables and is enabled with the `F`
//! (fix-binary) flag: without it the kernel opens the interpreter by its
//! path when the binary runs, inside the step's root, where there is none.
//! With `F` the kernel opened it at registration, which works in any root.
//!
//! A container's platform alone decides: a `linux/amd64` step that
//! cross-compiles with `GOARCH=arm64` runs natively.

mod binfmt;

use std::fmt;
use std::path::{Path, PathBuf};

use registry::Platform;

pub use binfmt::Registration;

/// Where the kernel shows (and takes) `binfmt_misc` registrations.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// The ELF identity of an architecture's executables.
#[derive(Clone, Copy, Debug)]
struct Elf {
    /// OCI (GOARCH) name.
    architecture: &'static str,
    class64: bool,
    big_endian: bool,
    /// `e_machine`.
    machine: u16,
}

/// The architectures tanto knows how to hand to an emulator.
const ELVES: &[Elf] = &[
    Elf::new("amd64", true, false, 0x3e),
    Elf::new("arm64", true, false, 0xb7),
    Elf::new("arm", false, false, 0x28),
    Elf::new("riscv64", true, false, 0xf3),
    Elf::new("s390x", true, true, 0x16),
    Elf::new("ppc64le", true, false, 0x15),
    Elf::new("386", false, false, 0x03),
];

impl Elf {
    const fn new(architecture: &'static str, class64: bool, big_endian: bool, machine: u16) -> Elf {
        Elf {
            architecture,
            class64,
            big_endian,
            machine,
        }
    }

    fn of(architecture: &str) -> Option<Elf> {
        ELVES
            .iter()
            .copied()
            .find(|e| e.architecture == architecture)
    }

    /// The first 20 bytes of an executable (`e_type` 2) or a
    /// position-independent one (3) of this architecture: what a
    /// registration's magic is matched against.
    fn headers(&self) -> [[u8; 20]; 2] {
        [2u16, 3].map(|e_type| {
            let mut header = [0u8; 20];
            header[..4].copy_from_slice(b"\x7fELF");
            header[4] = if self.class64 { 2 } else { 1 };
            header[5] = if self.big_endian { 2 } else { 1 };
            header[6] = 1;
            let (e_type, machine) = if self.big_endian {
                (e_type.to_be_bytes(), self.machine.to_be_bytes())
            } else {
                (e_type.to_le_bytes(), self.machine.to_le_bytes())
            };
            header[16..18].copy_from_slice(&e_type);
            header[18..20].copy_from_slice(&machine);
            header
        })
    }
}

/// Why steps of a platform cannot run here; each says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    NotLinux { os: String },
    UnknownArchitecture { architecture: String },
    NotMounted { dir: PathBuf },
    NoHandler { architecture: String },
    Disabled { name: String },
    NoFixBinary { name: String },
}

const INSTALL: &str = "install qemu-user-static as root (apt-get install qemu-user-static binfmt-support; scripts/install-deps registers it where systemd does not); `tanto doctor` lists the platforms steps can run";

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::NotLinux { os } => write!(f, "tanto runs linux steps only, not {os}"),
            Missing::UnknownArchitecture { architecture } => {
                let known: Vec<&str> = ELVES.iter().map(|e| e.architecture).collect();
                write!(
                    f,
                    "tanto knows no emulator for {architecture} binaries (it knows {})",
                    known.join(", ")
                )
            }
            Missing::NotMounted { dir } => write!(
                f,
                "binfmt_misc is not mounted at {}, so no emulator can run its binaries; mount it (mount -t binfmt_misc binfmt_misc {}), then {INSTALL}",
                dir.display(),
                dir.display()
            ),
            Missing::NoHandler { architecture } => write!(
                f,
                "no binfmt_misc handler for {architecture} binaries is registered; {INSTALL}"
            ),
            Missing::Disabled { name } => write!(
                f,
                "the binfmt_misc handler {name} for its binaries is disabled; enable it as root (echo 1 > {BINFMT_DIR}/{name})"
            ),
            Missing::NoFixBinary { name } => write!(
                f,
                "the binfmt_misc handler {name} for its binaries is registered without the F (fix-binary) flag, so the kernel would look for the emulator inside the step's root, where there is none; register it again with F as root (echo -1 > {BINFMT_DIR}/{name}, then write its line with flags F to {BINFMT_DIR}/register, as Debian's qemu-user-static does)"
            ),
        }
    }
}

/// Whether steps of `platform` run on `host` without an emulator.
pub fn is_native(platform: &Platform, host: &Platform) -> bool {
    platform.os == host.os
        && (platform.architecture == host.architecture
            // x86-64 kernels run 32-bit x86 binaries themselves.
            || (host.architecture == "amd64" && platform.architecture == "386"))
}

/// Whether steps of `platform` can run here: natively, or through an
/// enabled, fix-binary `binfmt_misc` registration.
pub fn check(platform: &Platform) -> Result<(), Missing> {
    check_in(Path::new(BINFMT_DIR), platform, &Platform::host())
}

/// [`check`] against the registrations in `dir` on a `host` machine.
pub fn check_in(dir: &Path, platform: &Platform, host: &Platform) -> Result<(), Missing> {
    if platform.os != "linux" {
        return Err(Missing::NotLinux {
            os: platform.os.clone(),
        });
    }
    if is_native(platform, host) {
        return Ok(());
    }
    let Some(elf) = Elf::of(&platform.architecture) else {
        return Err(Missing::UnknownArchitecture {
            architecture: platform.architecture.clone(),
        });
    };
    if !dir.join("register").exists() {
        return Err(Missing::NotMounted {
            dir: dir.to_owned(),
        });
    }
    let handlers: Vec<Registration> = binfmt::registrations(dir)
        .into_iter()
        .filter(|r| elf.headers().iter().any(|h| r.handles(h)))
        .collect();
    if handlers.iter().any(|r| r.enabled && r.fixes_binary()) {
        return Ok(());
    }
    let named = |r: Option<&Registration>| r.map(|r| r.name.clone());
    if let Some(name) = named(handlers.iter().find(|r| r.enabled)) {
        return Err(Missing::NoFixBinary { name });
    }
    if let Some(name) = named(handlers.first()) {
        return Err(Missing::Disabled { name });
    }
    Err(Missing::NoHandler {
        architecture: platform.architecture.clone(),
    })
}

/// What `tanto doctor` says of foreign platforms: those steps can run
/// (the host's first), and the registrations that would take another
/// architecture but lack the `F` flag.
pub fn runnable_platforms() -> (Vec<Platform>, Vec<String>) {
    runnable_in(Path::new(BINFMT_DIR), &Platform::host())
}

fn runnable_in(dir: &Path, host: &Platform) -> (Vec<Platform>, Vec<String>) {
    let mut runnable = vec![host.clone()];
    let mut without_f = Vec::new();
    for elf in ELVES {
        let platform = Platform::normalized("linux", elf.architecture, None);
        if platform.architecture == host.architecture {
            continue;
        }
        match check_in(dir, &platform, host) {
            Ok(()) => runnable.push(platform),
            Err(Missing::NoFixBinary { name }) => without_f.push(name),
            Err(_) => {}
        }
    }
    (runnable, without_f)
}

#[cfg(test)]
mod tests;
