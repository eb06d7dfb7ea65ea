use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create a user namespace; unprivileged user namespaces may be disabled (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone) or blocked by a seccomp profile; run `tanto doctor`")]
    Unshare {
        #[source]
        source: io::Error,
    },

    #[error("cannot start tanto again inside a user namespace")]
    Spawn {
        #[source]
        source: io::Error,
    },

    #[error("lost contact with the namespaced tanto process while setting it up")]
    Handshake {
        #[source]
        source: io::Error,
    },

    #[error("cannot run {tool}; install the uidmap package (it provides newuidmap and newgidmap)")]
    IdMapTool {
        tool: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("{tool} refused to map the subordinate ids: {detail}; check /etc/subuid and /etc/subgid (`tanto doctor`)")]
    IdMapFailed { tool: &'static str, detail: String },

    #[error("cannot write the user namespace's {file}")]
    WriteIdMap {
        file: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("cannot become root inside the user namespace")]
    BecomeRoot {
        #[source]
        source: io::Error,
    },
}
