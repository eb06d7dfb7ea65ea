//! What execve(2) cannot take, found before a step runs: a NUL byte ends a C
//! string early (an argument would silently shorten, an environment string
//! would break libcontainer's channel), an environment entry needs a
//! non-empty name without `=`, and Linux refuses (E2BIG) any one string over
//! MAX_ARG_STRLEN and all of them together over a quarter of the stack limit.
//! The engine checks before it schedules a step; the helper checks again,
//! on the final environment, because the request may come from elsewhere.

use serde::{Deserialize, Serialize};

/// MAX_ARG_STRLEN: 32 pages, the terminating NUL included.
pub const MAX_STRING: usize = 32 * 4096;
/// The kernel's floor and ceiling for the total of arguments and
/// environment (ARG_MAX, and 3/4 of _STK_LIM).
const MIN_TOTAL: u64 = 32 * 4096;
const MAX_TOTAL: u64 = 6 << 20;
/// How much of a bad string an error shows.
const SHOWN_CHARS: usize = 40;

/// Why a step's process cannot be started as given.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadProcess {
    #[error("argument {index} of the command ({shown}) contains a NUL byte, which a process cannot receive; remove it, or pass binary data in a file (withNewFile)")]
    NulInArgument { index: usize, shown: String },

    #[error("environment variable {name} has a NUL byte in its value, which a process cannot receive; remove it, or pass binary data in a file (withNewFile)")]
    NulInEnvValue { name: String },

    #[error("environment variable name {shown} (variable {index}) is not valid: {reason}; use a non-empty name without `=` or NUL")]
    BadEnvName {
        index: usize,
        shown: String,
        reason: String,
    },

    #[error("the working directory {shown} contains a NUL byte; use a path without one")]
    NulInWorkdir { shown: String },

    #[error("the user {shown} contains a NUL byte; use a user name or uid[:gid] without one")]
    NulInUser { shown: String },

    #[error("argument {index} of the command ({shown}) is {size} bytes, over Linux's limit of {MAX_STRING} bytes for one argument (E2BIG); pass large data in a file (withNewFile) or a mounted secret (withMountedSecret)")]
    ArgumentTooLong {
        index: usize,
        shown: String,
        size: usize,
    },

    #[error("environment variable {name} is {size} bytes, over Linux's limit of {MAX_STRING} bytes for one variable (E2BIG); pass large data in a file (withNewFile) or a mounted secret (withMountedSecret) and read it from there")]
    EnvTooLong { name: String, size: usize },

    #[error("the command's arguments and environment take {size} bytes, over the {limit} bytes Linux allows a new process (E2BIG: a quarter of the stack size limit, `ulimit -s`); pass large data in files (withNewFile) instead")]
    TooLarge { size: u64, limit: u64 },
}

/// Checks a process before it runs: `env` as (name, value) pairs.
pub fn check<'a>(
    args: &[String],
    env: impl IntoIterator<Item = (&'a str, &'a str)>,
    workdir: &str,
    user: &str,
) -> Result<(), BadProcess> {
    // Pointers of argv and envp, their NULL ends, and the executable's path,
    // which execve copies too.
    let mut total = 16 + args.first().map_or(0, |a| a.len() as u64 + 1);
    for (index, arg) in args.iter().enumerate() {
        if arg.contains('\0') {
            return Err(BadProcess::NulInArgument {
                index,
                shown: shown(arg),
            });
        }
        if arg.len() >= MAX_STRING {
            return Err(BadProcess::ArgumentTooLong {
                index,
                shown: shown(arg),
                size: arg.len(),
            });
        }
        total += arg.len() as u64 + 1 + 8;
    }
    for (index, (name, value)) in env.into_iter().enumerate() {
        let bad_name = |reason: &str| BadProcess::BadEnvName {
            index,
            shown: shown(name),
            reason: reason.to_owned(),
        };
        if name.is_empty() {
            return Err(bad_name("it is empty"));
        }
        if name.contains('=') {
            return Err(bad_name("it contains `=`"));
        }
        if name.contains('\0') {
            return Err(bad_name("it contains a NUL byte"));
        }
        // Only the name: the value may be a secret.
        if value.contains('\0') {
            return Err(BadProcess::NulInEnvValue { name: shown(name) });
        }
        let size = name.len() + 1 + value.len();
        if size >= MAX_STRING {
            return Err(BadProcess::EnvTooLong {
                name: shown(name),
                size,
            });
        }
        total += size as u64 + 1 + 8;
    }
    if workdir.contains('\0') {
        return Err(BadProcess::NulInWorkdir {
            shown: shown(workdir),
        });
    }
    if user.contains('\0') {
        return Err(BadProcess::NulInUser { shown: shown(user) });
    }
    let limit = total_limit();
    if total > limit {
        return Err(BadProcess::TooLarge { size: total, limit });
    }
    Ok(())
}

/// `K=V` entries as [`check`] takes them.
pub fn split_env(env: &[String]) -> impl Iterator<Item = (&str, &str)> {
    env.iter()
        .map(|entry| entry.split_once('=').unwrap_or((entry.as_str(), "")))
}

/// What the kernel allows for arguments and environment together, with the
/// stack limit this process (and so the step, which inherits it) has.
fn total_limit() -> u64 {
    let stack = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK)
        .map(|(soft, _)| soft)
        .unwrap_or(8 << 20);
    (stack / 4).clamp(MIN_TOTAL, MAX_TOTAL)
}

/// A string as an error shows it: quoted, escaped, cut to a few characters.
fn shown(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(SHOWN_CHARS).collect();
    if chars.next().is_none() {
        format!("{head:?}")
    } else {
        format!("{:?}… ({} bytes)", head, text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn ordinary_processes_pass() {
        let env = [("PATH", "/bin"), ("EMPTY", ""), ("A", "x=y")];
        assert_eq!(
            check(&args(&["sh", "-c", ""]), env, "/", "1000:1000"),
            Ok(())
        );
    }

    #[test]
    fn nul_bytes_are_refused_naming_where() {
        let error = check(&args(&["echo", "a\0b"]), [], "/", "").unwrap_err();
        assert_eq!(
            error,
            BadProcess::NulInArgument {
                index: 1,
                shown: "\"a\\0b\"".into()
            }
        );
        let error = check(&args(&["true"]), [("K", "s3cret\0")], "/", "").unwrap_err();
        assert_eq!(
            error,
            BadProcess::NulInEnvValue {
                name: "\"K\"".into()
            }
        );
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert!(matches!(
            check(&args(&["true"]), [], "/w\0", ""),
            Err(BadProcess::NulInWorkdir { .. })
        ));
        assert!(matches!(
            check(&args(&["true"]), [], "/", "root\0"),
            Err(BadProcess::NulInUser { .. })
        ));
    }

    #[test]
    fn bad_names_are_refused() {
        for (name, reason) in [("", "empty"), ("A=B", "`=`"), ("A\0", "NUL")] {
            let error = check(&args(&["true"]), [("OK", ""), (name, "v")], "/", "").unwrap_err();
            let BadProcess::BadEnvName {
                index, reason: r, ..
            } = &error
            else {
                panic!("{error:?}");
            };
            assert_eq!(*index, 1);
            assert!(r.contains(reason), "{error}");
        }
    }

    #[test]
    fn strings_over_linux_limits_are_refused_naming_them() {
        let big = "x".repeat(200 * 1024);
        let error = check(&args(&["true"]), [("BIG", big.as_str())], "/", "").unwrap_err();
        assert_eq!(
            error,
            BadProcess::EnvTooLong {
                name: "\"BIG\"".into(),
                size: big.len() + 4
            }
        );
        assert!(error.to_string().contains("withNewFile"), "{error}");
        let error = check(&args(&["echo", &big]), [], "/", "").unwrap_err();
        assert!(
            matches!(error, BadProcess::ArgumentTooLong { index: 1, .. }),
            "{error:?}"
        );
        assert!(error.to_string().len() < 400, "{error}");
        let many = vec!["x".repeat(100 * 1024); 200];
        assert!(matches!(
            check(&many, [], "/", ""),
            Err(BadProcess::TooLarge { .. })
        ));
    }

    #[test]
    fn k_v_entries_split_at_the_first_equals_sign() {
        let env = args(&["A=b=c", "=x", "NOVALUE"]);
        let pairs: Vec<_> = split_env(&env).collect();
        assert_eq!(pairs, [("A", "b=c"), ("", "x"), ("NOVALUE", "")]);
    }
}
