//! The signal state a step starts with. Ignored signals and the blocked
//! mask survive fork and execve, and the Rust runtime ignores SIGPIPE in
//! every tanto process, the helper included: without a reset, `yes | head`
//! in a step never ends. runc and Docker start processes with every signal
//! at its default and none blocked; so does tanto.

/// Sets every signal to its default disposition and unblocks all of them,
/// in the calling (single-threaded) process, for what it starts next.
pub fn reset() {
    // SAFETY: a zeroed sigset_t is valid storage for sigemptyset, and
    // signal(2)/sigprocmask(2) have no memory effects on this process's
    // data; numbers the C library reserves or the kernel lacks just fail.
    unsafe {
        for signal in 1..=libc::SIGRTMAX() {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}
