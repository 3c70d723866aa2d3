//! Who may use the admin socket: the decision on a connected peer's credentials, without
//! I/O. The archive's owner and root always may; members of the configured admin group may
//! too, by the peer's primary gid or its supplementary groups (read from
//! `/proc/<pid>/status`, which [`parse_proc_groups`] parses). Everyone else is refused.

use archive::ArchiveError;

/// Who the admin socket lets in, besides root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminPolicy {
    /// The uid that owns the archive (the gateway's user).
    pub owner_uid: u32,
    /// Members of this group may use the socket too (`archive.admin_group`).
    pub admin_gid: Option<u32>,
}

impl AdminPolicy {
    /// The owner alone (and root): this process's effective uid, no admin group.
    pub fn owner_only() -> Self {
        Self {
            owner_uid: rustix::process::geteuid().as_raw(),
            admin_gid: None,
        }
    }

    /// Whether the peer with `uid` and primary `gid` is let in without looking further.
    /// `None`: only its supplementary groups can still decide ([`AdminPolicy::admits_groups`]).
    pub fn admits(&self, uid: u32, gid: u32) -> Option<Admitted> {
        if uid == 0 {
            Some(Admitted::Root)
        } else if uid == self.owner_uid {
            Some(Admitted::Owner)
        } else if self.admin_gid == Some(gid) {
            Some(Admitted::AdminGroup)
        } else {
            None
        }
    }

    /// Whether the supplementary `groups` of a peer [`AdminPolicy::admits`] did not let in
    /// include the admin group.
    pub fn admits_groups(&self, groups: &[u32]) -> Option<Admitted> {
        let gid = self.admin_gid?;
        groups.contains(&gid).then_some(Admitted::AdminGroup)
    }

    /// Whether there is an admin group to look for at all (else there is no need to read the
    /// peer's supplementary groups).
    pub fn has_group(&self) -> bool {
        self.admin_gid.is_some()
    }
}

/// Why a peer was let in (logged at debug).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// uid 0.
    Root,
    /// The archive's owner.
    Owner,
    /// A member of the admin group.
    AdminGroup,
}

/// Most groups a process can have (Linux `NGROUPS_MAX`); more on the line is not a status
/// file the kernel wrote.
const MAX_GROUPS: usize = 65_536;

/// The supplementary group ids from the text of `/proc/<pid>/status`: the `Groups:` line,
/// whitespace-separated decimal gids (possibly none). Anything else on that line, a missing
/// line or more than `NGROUPS_MAX` ids is an error (the caller refuses the peer).
pub fn parse_proc_groups(status: &[u8]) -> Result<Vec<u32>, ArchiveError> {
    let bad = |detail: &str| ArchiveError::Invalid {
        what: "/proc status Groups line",
        detail: detail.to_owned(),
    };
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Groups:"))
        .ok_or_else(|| bad("no Groups: line"))?;
    let mut groups = Vec::new();
    for field in line
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
    {
        if groups.len() == MAX_GROUPS {
            return Err(bad("more groups than a process can have"));
        }
        let gid = std::str::from_utf8(field)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| bad("a group id that is not a decimal u32"))?;
        groups.push(gid);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: AdminPolicy = AdminPolicy {
        owner_uid: 1000,
        admin_gid: Some(4242),
    };

    #[test]
    fn owner_root_and_primary_group_are_admitted() {
        assert_eq!(OWNER.admits(0, 0), Some(Admitted::Root));
        assert_eq!(OWNER.admits(1000, 1000), Some(Admitted::Owner));
        assert_eq!(OWNER.admits(65534, 4242), Some(Admitted::AdminGroup));
        assert_eq!(OWNER.admits(65534, 65534), None);
        let no_group = AdminPolicy {
            admin_gid: None,
            ..OWNER
        };
        assert_eq!(no_group.admits(65534, 4242), None);
        assert!(!no_group.has_group());
        assert_eq!(no_group.admits_groups(&[4242]), None);
    }

    #[test]
    fn supplementary_groups_admit_only_the_admin_group() {
        assert_eq!(OWNER.admits_groups(&[27, 4242]), Some(Admitted::AdminGroup));
        assert_eq!(OWNER.admits_groups(&[27, 42420]), None);
        assert_eq!(OWNER.admits_groups(&[]), None);
    }

    #[test]
    fn the_groups_line_of_a_real_status_file() {
        let status = b"Name:\tcat\nUmask:\t0022\nState:\tR (running)\nUid:\t1000\t1000\t1000\t1000\n\
                       Gid:\t1000\t1000\t1000\t1000\nFDSize:\t256\nGroups:\t4 24 27 4242 \nNStgid:\t1\n";
        assert_eq!(parse_proc_groups(status).unwrap(), vec![4, 24, 27, 4242]);
        assert_eq!(
            parse_proc_groups(b"Gid:\t0\nGroups:\t\n").unwrap(),
            Vec::<u32>::new()
        );
        assert_eq!(
            parse_proc_groups(&std::fs::read("/proc/self/status").unwrap())
                .unwrap()
                .len(),
            rustix::process::getgroups().unwrap().len()
        );
    }

    #[test]
    fn hostile_groups_lines_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"Gid:\t0\n",
            b"Groups:\t-1\n",
            b"Groups:\t4294967296\n",
            b"Groups:\t+5\n",
            b"Groups:\t1,2\n",
            b"Groups:\t\xff\n",
            b"Groups:\t0x10\n",
        ] {
            assert!(parse_proc_groups(bad).is_err(), "{bad:?}");
        }
        let many = format!("Groups:{}\n", " 1".repeat(MAX_GROUPS + 1));
        assert!(parse_proc_groups(many.as_bytes()).is_err());
        let max = format!("Groups:{}\n", " 1".repeat(MAX_GROUPS));
        assert_eq!(parse_proc_groups(max.as_bytes()).unwrap().len(), MAX_GROUPS);
        // Every prefix of a real file: an answer or an error, never a panic.
        let status = std::fs::read("/proc/self/status").unwrap();
        for n in 0..status.len() {
            let _ = parse_proc_groups(&status[..n]);
        }
    }
}
