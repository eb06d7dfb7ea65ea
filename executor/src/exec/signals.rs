//! The signal state a step starts with. Ignored signals and the blocked
//! mask survive fork and execve, and the Rust runtime ignores SIGPIPE in
//! every tanto process, the helper included: without a reset, `yes | head`
//! in a step never ends. runc and Docker start processes with every signal
//! at its default and none blocked; so does tanto, in the container's init
//! process right before it execs the step's command ([`ResetThenExec`]).

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

/// libcontainer's default executor, with [`reset`] as the last thing the
/// container's init process does before its execvp: nothing libcontainer
/// (or a library it calls) does to the signal state on the way can leak
/// into the step.
#[derive(Clone)]
pub struct ResetThenExec;

impl Executor for ResetThenExec {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        reset();
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// The kernel's `struct sigaction` (x86_64, aarch64): the C library's
/// `signal()` refuses the real-time signals it keeps for itself (32, 33),
/// and those are inherited like any other.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Sets every signal to its default disposition and unblocks all of them,
/// in the calling (single-threaded) process, for what it starts next.
pub fn reset() {
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: a valid kernel sigaction of the size passed, no old action
    // asked for; numbers the kernel refuses (KILL, STOP) just fail. The
    // mask is a u64 of the kernel's 64 signals, all clear.
    unsafe {
        for signal in 1..=64 {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                std::mem::size_of::<u64>(),
            );
        }
        let empty = 0u64;
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            std::mem::size_of::<u64>(),
        );
    }
}
