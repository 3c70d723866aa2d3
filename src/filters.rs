//! Turning `search`/`export` flags into an archive query.

use archive::Query;

use crate::cli::{FilterArgs, UsageError};
use crate::timespec;

impl FilterArgs {
    /// The query these flags describe, with relative times taken from `now_ns`.
    pub(crate) fn query(&self, now_ns: i64) -> Result<Query, UsageError> {
        let since_ns = self
            .since
            .as_deref()
            .map(|s| timespec::parse(s, now_ns))
            .transpose()?;
        let until_ns = self
            .until
            .as_deref()
            .map(|s| timespec::parse(s, now_ns))
            .transpose()?;
        if let (Some(s), Some(u)) = (since_ns, until_ns)
            && u <= s
        {
            {
                return Err(UsageError(format!(
                    "--until ({}) is not after --since ({})",
                    timespec::format(u),
                    timespec::format(s)
                )));
            }
        }
        Ok(Query {
            user: self.user.clone(),
            peer: self.peer.clone(),
            room: self.room.clone(),
            conversation: self.conversation.clone(),
            since_ns,
            until_ns,
            text: self.text.clone(),
            kinds: self.kinds.clone(),
            protocol: self.protocol,
            limit: self.limit,
        })
    }
}
