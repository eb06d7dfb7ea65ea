//! Thin wrappers over the system calls the store needs, and nothing more:
//! what the overlay format means lives in `overlay.rs`. Writes into a layer
//! are relative to an open directory, and every multi-component path goes
//! through `openat2(RESOLVE_BENEATH)`, so the kernel — not string checks —
//! guarantees that no path resolves outside the snapshot, whatever symlinks
//! earlier entries planted. The few wrappers that take a whole path are for
//! paths the store or its caller chose.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(crate) fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

pub(crate) fn cpath(path: &Path) -> io::Result<CString> {
    cstring(path.as_os_str().as_bytes())
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Opens a directory by absolute or cwd-relative path.
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let path = cpath(path)?;
    // SAFETY: `path` is a valid C string; the returned fd is owned by us.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly opened descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `path` (relative, possibly several components) beneath
/// `root`. Symlinks are followed only while they stay beneath `root`; one that
/// leads out fails with `EXDEV`. With `no_symlinks`, any symlink fails (`ELOOP`).
pub(crate) fn open_dir_beneath(
    root: BorrowedFd,
    path: &Path,
    no_symlinks: bool,
) -> io::Result<OwnedFd> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let cpath = cpath(path)?;
    let mut resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    if no_symlinks {
        resolve |= libc::RESOLVE_NO_SYMLINKS;
    }
    // SAFETY: open_how is plain data; zeroed is a valid initial value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: arguments are valid for the openat2 ABI; the result is checked.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            cpath.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly opened descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Opens the directory `name` in `dir` without following a symlink.
pub(crate) fn open_subdir(dir: BorrowedFd, name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: valid fd and C string; result checked.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `lstat` of `name` in `dir`; `None` if it does not exist.
pub(crate) fn lstat_at(dir: BorrowedFd, name: &CStr) -> io::Result<Option<libc::stat>> {
    // SAFETY: stat is plain data; fstatat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, C string and out pointer.
    let ret = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match check(ret) {
        Ok(()) => Ok(Some(st)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

pub(crate) fn mkdir_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: valid fd and C string.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })
}

/// Removes `name` from `dir`, recursively if it is a directory. A symlink is
/// removed itself, never followed.
pub(crate) fn remove_at(dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    match lstat_at(dir, name)? {
        None => Ok(()),
        Some(st) if is_dir(&st) => {
            let sub = open_subdir(dir, name)?;
            for child in list_dir(sub.as_fd())? {
                remove_at(sub.as_fd(), &child)?;
            }
            // SAFETY: valid fd and C string.
            check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) })
        }
        // SAFETY: valid fd and C string.
        Some(_) => check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }),
    }
}

/// The names in a directory, without `.` and `..`.
pub(crate) fn list_dir(dir: BorrowedFd) -> io::Result<Vec<CString>> {
    // fdopendir takes ownership, so hand it a duplicate.
    let dup = dir.try_clone_to_owned()?;
    // SAFETY: `dup` is a valid directory fd whose ownership passes to the DIR.
    let stream = unsafe { libc::fdopendir(std::os::fd::IntoRawFd::into_raw_fd(dup)) };
    if stream.is_null() {
        return Err(io::Error::last_os_error());
    }
    let mut names = Vec::new();
    loop {
        // SAFETY: `stream` is a valid DIR*; readdir returns null at the end.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated array inside a valid dirent.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    // SAFETY: `stream` is valid and closed once.
    unsafe { libc::closedir(stream) };
    Ok(names)
}

/// Creates a new regular file; fails if anything is already there.
pub(crate) fn create_file_at(dir: BorrowedFd, name: &CStr) -> io::Result<File> {
    create_file_at_mode(dir, name, 0o600)
}

/// Creates `name` in `dir` with `mode` (less the umask), failing if it exists.
pub(crate) fn create_file_at_mode(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<File> {
    // SAFETY: valid fd and C string; result checked.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { File::from_raw_fd(fd) })
}

pub(crate) fn symlink_at(target: &OsStr, dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    let target = cstring(target.as_bytes())?;
    // SAFETY: valid C strings and fd.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })
}

pub(crate) fn link_at(
    old_dir: BorrowedFd,
    old_name: &CStr,
    new_dir: BorrowedFd,
    new_name: &CStr,
) -> io::Result<()> {
    // SAFETY: valid fds and C strings; flags 0 never follows a symlink.
    check(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            old_name.as_ptr(),
            new_dir.as_raw_fd(),
            new_name.as_ptr(),
            0,
        )
    })
}

pub(crate) fn mknod_at(
    dir: BorrowedFd,
    name: &CStr,
    mode: u32,
    major: u32,
    minor: u32,
) -> io::Result<()> {
    let dev = libc::makedev(major, minor);
    // SAFETY: valid fd and C string.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, dev) })
}

/// `mknod` by absolute or cwd-relative path.
pub(crate) fn mknod(path: &Path, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let path = cpath(path)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: valid C string.
    check(unsafe { libc::mknod(path.as_ptr(), mode as libc::mode_t, dev) })
}

/// `lchown` relative to `dir`.
pub(crate) fn chown_at(dir: BorrowedFd, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid fd and C string.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

pub(crate) fn chown_fd(fd: BorrowedFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid fd.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })
}

/// `chmod` of a device node or fifo we just created. Linux cannot chmod
/// without following symlinks, so this is never used on one.
pub(crate) fn chmod_node_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: valid fd and C string.
    check(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, 0) })
}

pub(crate) fn chmod_fd(fd: BorrowedFd, mode: u32) -> io::Result<()> {
    // SAFETY: valid fd.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) })
}

/// Sets the modification (and access) time of `name` in `dir`, not following
/// a symlink.
pub(crate) fn set_mtime_at(dir: BorrowedFd, name: &CStr, seconds: i64) -> io::Result<()> {
    let time = libc::timespec {
        tv_sec: seconds as libc::time_t,
        tv_nsec: 0,
    };
    let times = [time, time];
    // SAFETY: valid fd, C string and a two-element timespec array.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

pub(crate) fn set_xattr_fd(fd: BorrowedFd, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: valid fd, C string and byte slice.
    check(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Sets the xattr `name` of `path` without following a symlink.
pub(crate) fn lset_xattr(path: &Path, name: &CStr, value: &[u8]) -> io::Result<()> {
    let path = cpath(path)?;
    // SAFETY: valid C strings and byte slice.
    check(unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Flushes the whole file system `fd` lives on: one call before a snapshot is
/// renamed into place makes the rename safe to trust after a crash.
pub(crate) fn sync_filesystem(fd: BorrowedFd) -> io::Result<()> {
    // SAFETY: valid fd.
    check(unsafe { libc::syncfs(fd.as_raw_fd()) })
}

/// Takes an exclusive `flock`, blocking until it is free. Released when the
/// file is closed, also when the process dies.
pub(crate) fn lock_exclusive(file: &File) -> io::Result<()> {
    loop {
        // SAFETY: valid fd.
        match check(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Takes an exclusive flock(2) if nobody holds one: whether it was taken.
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: valid fd.
    match check(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads the xattr `name` of `path` without following a symlink; `None` if
/// it is not set (or the file system has no xattrs).
pub(crate) fn lget_xattr(path: &Path, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let cpath = cpath(path)?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: valid C strings and a buffer of the given length.
        let n = unsafe {
            libc::lgetxattr(
                cpath.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < 1 << 16 => buf.resize(buf.len() * 4, 0),
            _ => return Err(e),
        }
    }
}

/// All xattrs of an open file, as (name, value) pairs.
pub(crate) fn xattrs_fd(fd: BorrowedFd) -> io::Result<Vec<(CString, Vec<u8>)>> {
    let mut names = vec![0u8; 1024];
    let len = loop {
        // SAFETY: valid fd and buffer.
        let n = unsafe { libc::flistxattr(fd.as_raw_fd(), names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            Some(libc::ERANGE) if names.len() < 1 << 20 => names.resize(names.len() * 4, 0),
            _ => return Err(e),
        }
    };
    let mut out = Vec::new();
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = cstring(name)?;
        let mut value = vec![0u8; 256];
        loop {
            // SAFETY: valid fd, C string and buffer.
            let n = unsafe {
                libc::fgetxattr(
                    fd.as_raw_fd(),
                    cname.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            if n >= 0 {
                value.truncate(n as usize);
                out.push((cname, value));
                break;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // Removed meanwhile, or not readable by us (trusted.*): skip it.
                Some(libc::ENODATA) | Some(libc::EPERM) | Some(libc::EACCES) => break,
                Some(libc::ERANGE) if value.len() < 1 << 20 => value.resize(value.len() * 4, 0),
                _ => return Err(e),
            }
        }
    }
    Ok(out)
}

/// Sets access and modification times of `name` in `dir` (nanoseconds), not
/// following a symlink.
pub(crate) fn set_times_at(dir: BorrowedFd, name: &CStr, mtime: (i64, i64)) -> io::Result<()> {
    let time = libc::timespec {
        tv_sec: mtime.0 as libc::time_t,
        tv_nsec: mtime.1 as _,
    };
    let times = [time, time];
    // SAFETY: valid fd, C string and a two-element timespec array.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

/// Sets access and modification times of an open file (nanoseconds).
pub(crate) fn set_times_fd(fd: BorrowedFd, mtime: (i64, i64)) -> io::Result<()> {
    let time = libc::timespec {
        tv_sec: mtime.0 as libc::time_t,
        tv_nsec: mtime.1 as _,
    };
    let times = [time, time];
    // SAFETY: valid fd and a two-element timespec array.
    check(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) })
}

/// Copies all of `src` to `dst` (both at offset 0): `copy_file_range` lets
/// the kernel share extents (reflink) or copy without a round trip through
/// user space; plain reads and writes where it cannot (other file systems).
pub(crate) fn copy_contents(src: &File, dst: &File) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        // SAFETY: valid fds; null offsets use and advance the file offsets.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                1 << 30,
                0,
            )
        };
        if n == 0 {
            return Ok(total);
        }
        if n > 0 {
            total += n as u64;
            continue;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) if total == 0 => {
                let mut reader = src;
                let mut writer = dst;
                return io::copy(&mut reader, &mut writer);
            }
            _ => return Err(e),
        }
    }
}

/// Opens a regular file for reading by absolute path, refusing a symlink in
/// the last component.
pub(crate) fn open_nofollow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
}

/// Atomically swaps two paths (`renameat2(RENAME_EXCHANGE)`).
pub(crate) fn rename_exchange(a: &Path, b: &Path) -> io::Result<()> {
    let (a, b) = (cpath(a)?, cpath(b)?);
    // SAFETY: valid C strings; AT_FDCWD for both directories.
    check(unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    })
}

/// The process's umask, read once from `/proc/self/status` (setting it to
/// read it would race with other threads creating files). When unreadable,
/// 0o777: assuming every bit masked means a `chmod` is never skipped.
pub(crate) fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
                u32::from_str_radix(line.trim(), 8).ok()
            })
            .unwrap_or(0o777)
    })
}
