//! Turning `search`/`export` flags into an archive query.

use archive::Query;

use crate::cli::FilterArgs;
use crate::exit::UsageError;
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
            employee: self
                .employee
                .as_deref()
                .map(|id| self.employee_query(id))
                .transpose()?,
        })
    }

    /// `--employee ID`: their screen names from the directory `--config` names. An id the
    /// directory does not list (someone who has left) is still searched by the stamp on
    /// their records, with a warning, since that is what a custodian search is for.
    fn employee_query(&self, id: &str) -> Result<archive::EmployeeQuery, UsageError> {
        let config = crate::config_file::load(self.config.as_deref(), &[])?;
        let Some(path) = crate::policy_setup::directory_path(&config) else {
            return Err(UsageError(format!(
                "--employee {id}: no directory to look in; give --config FILE whose \
                 policy.directory names it"
            )));
        };
        let directory = crate::policy_setup::read_directory(path)?;
        let names = match directory.by_id(id) {
            Some(employee) => employee.screen_names.clone(),
            None => {
                eprintln!(
                    "warning: {id} is not in the directory {}; searching only records \
                     stamped with that id",
                    path.display()
                );
                Vec::new()
            }
        };
        Ok(archive::EmployeeQuery {
            id: id.to_owned(),
            names,
        })
    }
}
