//! `binfmt_misc` registrations as the kernel shows them, one file each:
//!
//! ```text
//! enabled
//! interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
//! flags: POF
//! offset 0
//! magic 7f454c460201010000000000000000000200b700
//! mask ffffffffffffff00fffffffffffffffffeffffff
//! ```

use std::path::Path;

/// One magic-matched registration. Extension-matched ones (`extension
/// .jar`) never take an ELF binary, so they are not read.
#[derive(Clone, Debug)]
pub struct Registration {
    pub name: String,
    pub enabled: bool,
    /// The letters after `flags:`, e.g. `POCF`.
    pub flags: String,
    offset: usize,
    magic: Vec<u8>,
    /// As long as `magic`; all ones where the registration gave none.
    mask: Vec<u8>,
}

impl Registration {
    /// The registration in a kernel's file `text`; `None` for one matched
    /// by extension or one this kernel wrote in a form not known here.
    pub fn parse(name: &str, text: &str) -> Option<Registration> {
        let mut lines = text.lines();
        let enabled = lines.next()? == "enabled";
        let (mut flags, mut offset, mut magic, mut mask) = (String::new(), 0, None, None);
        for line in lines {
            let (field, value) = line.split_once(' ').unwrap_or((line, ""));
            match field {
                "flags:" => flags = value.trim().to_owned(),
                "offset" => offset = value.trim().parse().ok()?,
                "magic" => magic = Some(hex(value.trim())?),
                "mask" => mask = Some(hex(value.trim())?),
                _ => {}
            }
        }
        let magic = magic?;
        let mask = mask.unwrap_or_else(|| vec![0xff; magic.len()]);
        if mask.len() != magic.len() {
            return None;
        }
        Some(Registration {
            name: name.to_owned(),
            enabled,
            flags,
            offset,
            magic,
            mask,
        })
    }

    /// Whether the kernel would hand a file starting with `header` to it,
    /// as `binfmt_misc` compares: each byte masked, then against the magic.
    pub fn handles(&self, header: &[u8]) -> bool {
        let Some(bytes) = header.get(self.offset..self.offset + self.magic.len()) else {
            return false;
        };
        bytes
            .iter()
            .zip(&self.mask)
            .zip(&self.magic)
            .all(|((byte, mask), magic)| byte & mask == *magic)
    }

    /// `F`: the interpreter was opened at registration, so a step in
    /// another root still reaches it.
    pub fn fixes_binary(&self) -> bool {
        self.flags.contains('F')
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// Every registration in `dir`; none when `binfmt_misc` is switched off
/// as a whole (its `status` says `disabled`).
pub fn registrations(dir: &Path) -> Vec<Registration> {
    let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
    let all_disabled = status.trim() == "disabled";
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<Registration> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "register" || name == "status" {
                return None;
            }
            let text = std::fs::read_to_string(entry.path()).ok()?;
            let mut registration = Registration::parse(&name, &text)?;
            registration.enabled &= !all_disabled;
            Some(registration)
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}
