//! The /etc/hosts every step gets: loopback names, the step's hostname, and
//! the aliases of services it may reach.

pub fn generate(hostname: &str, extra_hosts: &[(String, String)]) -> String {
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if !hostname.is_empty() {
        text += &format!("127.0.1.1\t{hostname}\n");
    }
    for (name, ip) in extra_hosts {
        text += &format!("{ip}\t{name}\n");
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn has_localhost_the_hostname_and_extra_hosts() {
        let text = super::generate(
            "step",
            &[
                ("db".into(), "127.0.0.1".into()),
                ("cache".into(), "10.0.0.2".into()),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "127.0.0.1\tlocalhost");
        assert!(lines.contains(&"127.0.1.1\tstep"), "{text}");
        assert!(
            lines.ends_with(&["127.0.0.1\tdb", "10.0.0.2\tcache"]),
            "{text}"
        );
        assert!(!super::generate("", &[]).contains("127.0.1.1"));
    }
}
